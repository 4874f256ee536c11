"""Server-side SVG charts: the Pareto scatter of the governor sweep and the thermal/frequency/
power trace panels. Generated here rather than by a JS charting library so the page stays one
small file that works offline from file:// (docs/report.md has the reasoning).

Every piece of text that came from a record (device names, labels) goes through ``escape``; the
output is ``Markup`` so the template does not escape it twice. Colours come from CSS classes so
the page's stylesheet (and its dark mode) decides them.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from markupsafe import Markup, escape

MAX_TRACE_POINTS = 400  # per series: min/max decimation keeps spikes, bounds the file size


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-number ticks covering [low, high] (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else [0.0]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.4g}"


class _Axis:
    def __init__(self, low: float, high: float, start: float, end: float):
        self.ticks = nice_ticks(low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        if self.high == self.low:
            self.high = self.low + 1.0
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def scatter(points: list[dict[str, Any]], x_label: str, y_label: str, title: str,
            classes: dict[str, int], width: int = 440, height: int = 300) -> Markup:
    """Points {x, y, label, series, front}; the Pareto front is drawn as a step line + rings."""
    left, right, top, bottom = 56, 12, 28, 44
    xs = [p["x"] for p in points]
    ys = [p["y"] for p in points]
    ax = _Axis(min(xs) * 0.95, max(xs) * 1.05, left, width - right)
    ay = _Axis(min(ys) * 0.95, max(ys) * 1.05, height - bottom, top)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<text class="chart-title" x="{left}" y="16">{escape(title)}</text>']
    out += _grid(ax, ay, left, width - right, top, height - bottom)
    out.append(f'<text class="axis-label" x="{(left + width - right) / 2}" y="{height - 6}" '
               f'text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text class="axis-label" x="12" y="{(top + height - bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 12 {(top + height - bottom) / 2})">{escape(y_label)}</text>')
    front = sorted((p for p in points if p["front"]), key=lambda p: p["x"])
    if len(front) > 1:
        path = [f"M{ax(front[0]['x']):.1f},{ay(front[0]['y']):.1f}"]
        for p in front[1:]:
            path.append(f"H{ax(p['x']):.1f}V{ay(p['y']):.1f}")
        out.append(f'<path class="pareto" d="{"".join(path)}"/>')
    for p in points:
        cls = f"pt s{classes.get(p['series'], 0) % 6}" + (" front" if p["front"] else "")
        out.append(f'<circle class="{cls}" cx="{ax(p["x"]):.1f}" cy="{ay(p["y"]):.1f}" r="4">'
                   f'<title>{escape(p["label"])}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))


def _grid(ax: _Axis, ay: _Axis, x0: float, x1: float, y0: float, y1: float) -> list[str]:
    out = []
    for t in ax.ticks:
        x = ax(t)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{y0}" y2="{y1}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{y1 + 14}" text-anchor="middle">{_fmt(t)}</text>')
    for t in ay.ticks:
        y = ay(t)
        out.append(f'<line class="grid" x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    return out


def decimate(t: np.ndarray, v: np.ndarray, limit: int = MAX_TRACE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` points: the min and max of each bucket, so short spikes survive."""
    if len(t) <= limit:
        return t, v
    keep = set()
    for bucket in np.array_split(np.arange(len(t)), limit // 2):
        keep.add(int(bucket[np.argmin(v[bucket])]))
        keep.add(int(bucket[np.argmax(v[bucket])]))
    idx = np.array(sorted(keep))
    return t[idx], v[idx]


TRACE_SERIES = (("temp_c", "temperature °C"), ("freq_mhz", "CPU frequency MHz"),
                ("power_mw", "power mW"), ("cpu_pct", "CPU busy % of all cores"))
MAX_LINES = 4  # per panel: the zones / clusters that reached the highest values


def trace_panels(trace: Any) -> list[tuple[str, str, list[tuple[str, np.ndarray, np.ndarray]]]]:
    """(key, label, [(name, t, values)]) per series kind present. ``trace`` is either what
    telemetry/trace.py writes ({"t_s": [...], "temp_c": {zone: [...]}, "freq_mhz": {cluster:
    [...]}, "power_mw": [...]}, None where a bucket had no sample) or a list of point dicts
    ({"t_s", "temp_c", "freq_mhz", "power_mw"} each, one line per kind)."""
    if isinstance(trace, dict):
        times = trace.get("t_s") if isinstance(trace.get("t_s"), list) else []
        named = {key: (trace[key] if isinstance(trace.get(key), dict) else {"": trace.get(key)})
                 for key, _ in TRACE_SERIES}
    else:
        points = [p for p in trace if isinstance(p, dict)] if isinstance(trace, list) else []
        times = [p.get("t_s") for p in points]
        named = {key: {"": [p.get(key) for p in points]} for key, _ in TRACE_SERIES}
    panels = []
    for key, label in TRACE_SERIES:
        lines = []
        for name, values in named[key].items():
            pairs = [(float(t), float(v)) for t, v in zip(times, values if isinstance(values, list)
                                                          else []) if _is_num(t) and _is_num(v)]
            if len(pairs) >= 2:
                arr = np.array(pairs)
                lines.append((str(name), arr[:, 0], arr[:, 1]))
        lines.sort(key=lambda line: -float(line[2].max()))
        if lines:
            panels.append((key, label, lines[:MAX_LINES]))
    return panels


def trace_chart(trace: Any, title: str, width: int = 520) -> Markup | None:
    """Stacked panels sharing the time axis, one per series kind in the trace, up to
    ``MAX_LINES`` lines each (named in their tooltips); the timed loop shaded where the trace
    says where it was (``timed_s``)."""
    panels = trace_panels(trace)
    if not panels:
        return None
    left, right, panel_h, gap, top = 56, 12, 56, 22, 24
    height = top + len(panels) * (panel_h + gap) + 14
    t_all = np.concatenate([t for _, _, lines in panels for _, t, _ in lines])
    ax = _Axis(float(t_all.min()), float(t_all.max()), left, width - right)
    out = [f'<svg class="chart trace" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<text class="chart-title" x="{left}" y="15">{escape(title)}</text>']
    last = top + len(panels) * (panel_h + gap) - gap + 12
    timed = trace.get("timed_s") if isinstance(trace, dict) else None
    if isinstance(timed, list) and len(timed) == 2 and all(map(_is_num, timed)):
        x0, x1 = (min(max(ax(v), left), width - right) for v in timed)
        out.append(f'<rect class="timed" x="{x0:.1f}" y="{top + 12}" width="{max(x1 - x0, 1):.1f}" '
                   f'height="{last - top - 12}"><title>timed loop</title></rect>')
    for i, (key, label, lines) in enumerate(panels):
        y0 = top + i * (panel_h + gap) + 12
        low = min(float(v.min()) for _, _, v in lines)
        high = max(float(v.max()) for _, _, v in lines)
        pad = (high - low) * 0.1 or max(abs(high) * 0.05, 1.0)
        ay = _Axis(low - pad, high + pad, y0 + panel_h, y0)
        names = ", ".join(name for name, _, _ in lines if name)
        out.append(f'<text class="axis-label" x="{left}" y="{y0 - 3}">{escape(label)}: '
                   f'{_fmt(low)} – {_fmt(high)}{escape(f" ({names})" if names else "")}</text>')
        out.append(f'<rect class="panel" x="{left}" y="{y0}" width="{width - left - right}" '
                   f'height="{panel_h}"/>')
        out.append(f'<text class="tick" x="{left - 4}" y="{y0 + 9}" text-anchor="end">{_fmt(ay.high)}</text>'
                   f'<text class="tick" x="{left - 4}" y="{y0 + panel_h}" text-anchor="end">{_fmt(ay.low)}</text>')
        for number, (name, t, v) in enumerate(lines):
            t, v = decimate(t, v)
            d = " ".join(f"{ax(a):.1f},{ay(b):.1f}" for a, b in zip(t, v))
            out.append(f'<polyline class="series {key} l{number}" points="{d}">'
                       f'<title>{escape(name or label)}</title></polyline>')
    for tick in ax.ticks:
        out.append(f'<text class="tick" x="{ax(tick):.1f}" y="{last + 12}" text-anchor="middle">'
                   f'{_fmt(tick)}s</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def sparkline(values: list[float | None], steps: list[str], title: str,
              width: int = 120, height: int = 24) -> Markup:
    """A run-history trend: one point per run (oldest left), steps ringed (worse / better)."""
    pairs = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(pairs) < 2:
        return Markup("")
    low, high = min(v for _, v in pairs), max(v for _, v in pairs)
    span = (high - low) or (abs(high) or 1.0)
    pad, n = 3.0, max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return (pad + i / n * (width - 2 * pad),
                height - pad - (v - low) / span * (height - 2 * pad))

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in pairs))
    marks = []
    for i, v in pairs:
        if i < len(steps) and steps[i]:
            x, y = xy(i, v)
            marks.append(f'<circle class="spark-{escape(steps[i])}" cx="{x:.1f}" cy="{y:.1f}" '
                         f'r="2.5"/>')
    x, y = xy(*pairs[-1])
    return Markup(f'<svg class="sparkline" width="{width}" height="{height}" role="img" '
                  f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
                  f'<polyline class="spark-line" fill="none" points="{line}"/>'
                  f'<circle class="spark-last" cx="{x:.1f}" cy="{y:.1f}" r="1.8"/>'
                  + "".join(marks) + "</svg>")
