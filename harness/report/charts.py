"""The comparison charts, per model and device: latency by variant and engine, and size vs
latency with its Pareto front. Built from the latency cells (cells.py) the tables use, so a bar
is exactly a table's figure: the median, or a phone tool's own mean (labelled on the bar).

One chart per model x device x ABI x governor x threads (one statistic per chart: a device's
cells are all medians or all tool means). Charts are for a glance and capped at MAX_CHARTS each;
the tables hold every cell.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import svg_bars
from .governor import pareto_front
from .outputs import drifted
from .tables import with_reference

KEY = ["model", "device", "abi", "governor", "threads"]
MAX_CHARTS = 24
VARIANT_ORDER = ("fp32", "fp16", "int8", "int8-dynamic", "int8-weight")


def chart_section(cells: pd.DataFrame, frame: pd.DataFrame) -> dict[str, Any]:
    if cells.empty:
        return {"present": False, "figures": []}
    engines = sorted(cells["engine"].unique())
    classes = {e: i for i, e in enumerate(engines)}
    # choose the groups first, then build only those (a farm run has hundreds of groups and only
    # MAX_CHARTS are drawn): each model's biggest groups, taken round-robin over the models so
    # every model gets charts, shown model by model
    sizes = cells.groupby(KEY, sort=True, dropna=False).size().reset_index(name="k")
    sizes = sizes.assign(name=sizes["device"].astype(str)).sort_values(
        ["model", "k", "name"], ascending=[True, False, True], kind="stable")
    sizes["rank"] = sizes.groupby("model").cumcount()
    chosen = sizes.sort_values(["rank", "model"], kind="stable").head(MAX_CHARTS)
    chosen = chosen.sort_values(["model", "rank"], kind="stable")[KEY]
    view = with_reference(cells.merge(chosen, on=KEY, how="inner"), frame).reset_index(drop=True)
    view["failed"] = drifted(view).to_numpy(dtype=bool)
    by_key = dict(iter(view.groupby(KEY, sort=False, dropna=False)))
    groups = [(key, by_key[key]) for key in chosen.itertuples(index=False, name=None)
              if key in by_key]
    figures = []
    for key, part in groups:
        model, device, abi, governor, threads = key
        where = f"{model} on {device}" + (f" ({abi})" if abi else "") + \
            (f" @ {governor}" if governor not in ("", "default") else "")
        kind = " / ".join(sorted(part["central_kind"].unique()))
        figures.append({"key": where, "latency": _bars(part, where, kind, classes),
                        "pareto": _pareto(part, where, kind, classes)})
    return {"present": True, "figures": figures, "legend": engines,
            "total": len(sizes), "shown": len(figures)}


def _variants(part: pd.DataFrame) -> list[str]:
    present = set(part["variant"])
    return [v for v in VARIANT_ORDER if v in present] + sorted(present - set(VARIANT_ORDER))


def _bars(part: pd.DataFrame, where: str, kind: str, classes: dict[str, int]):
    bars = []
    # only the columns read: itertuples over the cells' ~100 columns cost 8 ms a chart
    for r in part[["variant", "engine", "central_ms", "central_kind", "tool_summary", "min_ms",
                   "max_ms", "ci95_low_ms", "ci95_high_ms", "failed", "outputs"]].itertuples():
        tool = bool(r.tool_summary)
        low, high = (r.min_ms, r.max_ms) if tool else (r.ci95_low_ms, r.ci95_high_ms)
        spread = ""
        if _finite(low) and _finite(high):
            spread = f", {'min–max' if tool else 'CI95'} {low:.3g}–{high:.3g} ms"
        else:
            low = high = None
        bars.append({"group": r.variant, "series": r.engine, "value": float(r.central_ms),
                     "low": low, "high": high, "tool": tool, "failed": bool(r.failed),
                     "label": f"{r.variant} {r.engine}: {r.central_ms:.3g} ms ({r.central_kind})"
                              f"{spread}; outputs: {r.outputs}"})
    engines = sorted(set(part["engine"]), key=lambda e: classes.get(e, 0))
    return svg_bars.grouped_bars(_variants(part), engines, bars,
                                 f"latency by variant and engine: {where}", classes,
                                 f"latency ms ({kind})")


def _pareto(part: pd.DataFrame, where: str, kind: str, classes: dict[str, int]):
    sized = part[part["size_mb"].notna() & (part["size_mb"] > 0)].reset_index(drop=True)
    if len(sized) < 2:
        return None  # one point is no trade-off
    ok = ~sized["failed"].to_numpy(dtype=bool)
    front = np.zeros(len(sized), dtype=bool)
    x, y = sized["size_mb"].to_numpy(dtype=float), sized["central_ms"].to_numpy(dtype=float)
    front[ok] = pareto_front(x[ok], y[ok])
    points = [{"x": float(r.size_mb), "y": float(r.central_ms), "series": r.engine,
               "front": bool(f), "failed": bool(r.failed),
               "label": f"{r.variant} {r.engine}: {r.size_mb:.3g} MB, {r.central_ms:.3g} ms "
                        f"({r.central_kind})" + (" (Pareto front)" if f else "")
                        + (f"; outputs failed their check: {r.outputs}" if r.failed else "")}
              for r, f in zip(sized[["size_mb", "central_ms", "engine", "variant", "central_kind",
                                     "failed", "outputs"]].itertuples(), front)]
    return svg_bars.size_latency(points, f"size vs latency: {where}", classes,
                                 y_label=f"latency ms ({kind})")


def _finite(value) -> bool:
    return value is not None and bool(np.isfinite(value))
