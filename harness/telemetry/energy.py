"""Average power and energy per inference with a 95% confidence interval (pure).

    energy per inference = (energy over the timed window - idle power x window) / inferences
                         = (P_timed - P_idle) x T / N

P_timed and P_idle are time-weighted means of a power series (battery V x I per sample, or
energy-counter differences per interval: ODPM rails, RAPL) over the timed window and over an
idle window measured just before it; T is the timed window's length, N the inferences it ran.

Confidence interval: batch means. Power samples 50 ms apart are autocorrelated (a frequency
step lasts many samples), so the per-sample variance would understate the uncertainty of a mean.
Each window's series is cut into up to 10 contiguous blocks of at least 3 samples; the standard
error of the window mean is sd(block means) / sqrt(blocks). The two windows are independent, so
SE(P_timed - P_idle) = sqrt(SE_timed^2 + SE_idle^2), and the interval is
+- t(0.975, min(blocks) - 1) x SE x T / N. With fewer than 2 blocks in a window there is no
interval (``ci95_mj`` None, and the reason in ``ci_note``).
"""
from __future__ import annotations

import math
from statistics import mean, stdev

MAX_BLOCKS = 10
MIN_PER_BLOCK = 3
METHOD = ("(P_timed - P_idle) x T / N; P = time-weighted mean power of each window; 95% CI by "
          "batch means (<= 10 contiguous blocks per window, SE = sd(block means)/sqrt(blocks), "
          "windows combined in quadrature, Student t with min(blocks)-1 df)")
# Student t, two-sided 95% (t_0.975) for 1..30 degrees of freedom; beyond that the normal's
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.960


def mean_power_mw(series: list[tuple[float, float]]) -> float | None:
    """Time-weighted mean of (t_s, mW) points (trapezoids); the plain mean of one point."""
    if not series:
        return None
    if len(series) == 1 or series[-1][0] <= series[0][0]:
        return mean(p for _, p in series)
    area = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(series, series[1:]))
    return area / (series[-1][0] - series[0][0])


def batch_se(series: list[tuple[float, float]]) -> tuple[float | None, int]:
    """(standard error of the mean by batch means, number of blocks)."""
    blocks = min(MAX_BLOCKS, len(series) // MIN_PER_BLOCK)
    if blocks < 2:
        return None, blocks
    size = len(series) / blocks
    means = [mean(p for _, p in series[int(i * size):int((i + 1) * size)]) for i in range(blocks)]
    return stdev(means) / math.sqrt(blocks), blocks


def window_power(series: list[tuple[float, float]]) -> dict:
    se, blocks = batch_se(series)
    average = mean_power_mw(series)
    return {"mean_mw": _r(average), "se_mw": _r(se), "blocks": blocks, "points": len(series),
            "min_mw": _r(min((p for _, p in series), default=None)),
            "max_mw": _r(max((p for _, p in series), default=None))}


def energy_per_inference(timed: list[tuple[float, float]], idle: list[tuple[float, float]] | None,
                         window_s: float, inferences: int | None) -> dict:
    """Average power of both windows, net energy and energy per inference with its 95% CI."""
    timed_power = window_power(timed)
    idle_power = window_power(idle) if idle else None
    out = {"power_mw": timed_power, "idle_power_mw": idle_power, "window_s": _r(window_s),
           "inferences": inferences, "method": METHOD, "idle_subtracted": bool(idle_power and
                                                                                idle_power["mean_mw"] is not None)}
    if timed_power["mean_mw"] is None:
        return {**out, "energy_per_inference_mj": None, "ci95_mj": None,
                "ci_note": "no power samples in the timed window"}
    idle_mw = idle_power["mean_mw"] if out["idle_subtracted"] else 0.0
    net_mw = timed_power["mean_mw"] - idle_mw
    out.update(energy_timed_mj=_r(timed_power["mean_mw"] * window_s), net_power_mw=_r(net_mw),
               energy_net_mj=_r(net_mw * window_s))
    if not inferences:
        return {**out, "energy_per_inference_mj": None, "ci95_mj": None,
                "ci_note": "no inference count for the timed window"}
    per = net_mw * window_s / inferences
    out["energy_per_inference_mj"] = _r(per, 6)
    return {**out, **_interval(per, timed_power, idle_power if out["idle_subtracted"] else None,
                               window_s, inferences)}


def _interval(per: float, timed: dict, idle: dict | None, window_s: float, inferences: int) -> dict:
    parts = [timed] + ([idle] if idle else [])
    if any(p["se_mw"] is None for p in parts):
        short = [f"{p['points']} points" for p in parts if p["se_mw"] is None]
        return {"ci95_mj": None, "ci_note": f"too few samples for batch means ({', '.join(short)}; "
                                            f"needs {2 * MIN_PER_BLOCK} per window)"}
    se = math.sqrt(sum(p["se_mw"] ** 2 for p in parts)) * window_s / inferences
    half = t975(min(p["blocks"] for p in parts) - 1) * se
    return {"ci95_mj": [_r(per - half, 6), _r(per + half, 6)], "ci_note": None}


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
