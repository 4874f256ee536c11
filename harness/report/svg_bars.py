"""Server-side SVG for the comparison charts: latency by variant and engine (grouped bars with
whiskers) and size vs latency (a Pareto scatter with fidelity failures marked). Same rules as
svg.py (whose axes and grid these reuse): text escaped, colours from CSS classes, no script.

A bar's whisker is what its figure has: the CI95 of a median, or for a phone tool's summary
(no samples, so no CI) its min–max, drawn dashed (clipped with a caret when far off the
bars); a tool-mean bar is pale, carries a ◆ at the mean (the latency table's mark) and the
chart says "◆ tool mean".
"""
from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from .svg import _Axis, _fmt, _grid


def _frame(width: int, height: int, title: str) -> list[str]:
    return [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
            f'<text class="chart-title" x="8" y="16">{escape(title)}</text>']


def _y_label(text: str, x: float, top: float, bottom: float) -> str:
    mid = (top + bottom) / 2
    return (f'<text class="axis-label" x="{x}" y="{mid:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 {x} {mid:.1f})">{escape(text)}</text>')


def grouped_bars(groups: list[str], series: list[str], bars: list[dict[str, Any]], title: str,
                 classes: dict[str, int], y_label: str = "latency ms") -> Markup:
    """``bars``: {group, series, value, low, high, tool, failed, label}; a group per variant, a bar
    per engine in it (missing ones leave their slot empty so engines line up across groups)."""
    slot, gap, left, right, top, bottom = 16, 14, 56, 12, 28, 40
    tools = any(b.get("tool") for b in bars)
    note = "◆ tool mean · whiskers: min–max" if tools else ""
    # a group is as wide as its bars or its label (6 px a character at the tick font size)
    widths = [max(len(series) * slot, len(group) * 6 + 4) + gap for group in groups]
    width = int(max(300, left + right + sum(widths), len(title) * 6.5 + len(note) * 5.5 + 24))
    height = 260
    # the axis fits the bars and the CIs of medians; a tool's min–max can be far out (one slow
    # iteration on a busy host), so it is clipped at the top with a caret, its value in the title
    values = [b["value"] for b in bars] + [b["high"] for b in bars
                                          if b.get("high") is not None and not b.get("tool")]
    ay = _Axis(0.0, max(values) * (1.3 if tools else 1.08) if values else 1.0, height - bottom, top)
    out = _frame(width, height, title)
    if note:
        out.append(f'<text class="bar-note chart-note" x="{width - right}" y="16" '
                   f'text-anchor="end">{note}</text>')
    for t in ay.ticks:
        y = ay(t)
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    out.append(_y_label(y_label, 12, top, height - bottom))
    where = {(b["group"], b["series"]): b for b in bars}
    zero, x0 = ay(0.0), float(left)
    for group, span in zip(groups, widths):
        centre = x0 + span / 2
        out.append(f'<text class="tick group-label" x="{centre:.1f}" y="{height - bottom + 14}" '
                   f'text-anchor="middle">{escape(group)}</text>')
        start = centre - len(series) * slot / 2
        for s, name in enumerate(series):
            bar = where.get((group, name))
            if bar is not None:
                out.append(_bar(bar, start + s * slot + 1, slot - 2, ay, zero, classes.get(name, 0)))
        x0 += span
    out.append("</svg>")
    return Markup("".join(out))


def _bar(bar: dict[str, Any], x: float, w: float, ay: _Axis, zero: float, series: int) -> str:
    y = ay(bar["value"])
    cls = f"bar s{series % 6}" + (" tool" if bar.get("tool") else "") + \
        (" failed" if bar.get("failed") else "")
    parts = [f'<g class="bar-cell"><title>{escape(bar["label"])}</title>',
             f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
             f'height="{max(zero - y, 0.5):.1f}"/>']
    mid, top = x + w / 2, y
    if bar.get("low") is not None and bar.get("high") is not None:
        lo, hi = ay(bar["low"]), ay(min(bar["high"], ay.high))
        dash = " tool" if bar.get("tool") else ""
        parts.append(f'<path class="whisker{dash}" d="M{mid:.1f},{lo:.1f}V{hi:.1f}'
                     f'M{mid - 3:.1f},{lo:.1f}h6M{mid - 3:.1f},{hi:.1f}h6"/>')
        if bar["high"] > ay.high:  # clipped: a caret says the max is off the chart
            parts.append(f'<path class="whisker-clip" d="M{mid - 3:.1f},{hi + 4:.1f}'
                         f'L{mid:.1f},{hi:.1f}L{mid + 3:.1f},{hi + 4:.1f}"/>')
        top = min(top, hi)
    if bar.get("tool"):  # the tool's own mean, not a median: a diamond, as in the latency table
        parts.append(f'<path class="mean-mark" d="M{mid:.1f},{y - 4:.1f}l4,4l-4,4l-4,-4z"/>')
    if bar.get("failed"):  # ✗ above the bar and its whisker: outputs failed their check
        parts.append(f'<text class="bar-fail" x="{mid:.1f}" y="{top - 3:.1f}" '
                     f'text-anchor="middle">✗</text>')
    return "".join(parts) + "</g>"


def size_latency(points: list[dict[str, Any]], title: str, classes: dict[str, int],
                 x_label: str = "size MB", y_label: str = "latency ms",
                 width: int = 440, height: int = 300) -> Markup:
    """Points {x, y, series, label, front, failed}: the Pareto front (nothing both smaller and
    faster among the cells whose outputs did not fail) as a step line with ringed points;
    fidelity failures drawn as crosses, never on the front."""
    left, right, top, bottom = 56, 12, 28, 44
    xs, ys = [p["x"] for p in points], [p["y"] for p in points]
    ax = _Axis(min(xs) * 0.9, max(xs) * 1.1, left, width - right)
    ay = _Axis(min(ys) * 0.9, max(ys) * 1.1, height - bottom, top)
    out = _frame(width, height, title) + _grid(ax, ay, left, width - right, top, height - bottom)
    out.append(f'<text class="axis-label" x="{(left + width - right) / 2}" y="{height - 6}" '
               f'text-anchor="middle">{escape(x_label)}</text>')
    out.append(_y_label(y_label, 12, top, height - bottom))
    front = sorted((p for p in points if p["front"]), key=lambda p: p["x"])
    if len(front) > 1:
        path = [f"M{ax(front[0]['x']):.1f},{ay(front[0]['y']):.1f}"]
        path += [f"H{ax(p['x']):.1f}V{ay(p['y']):.1f}" for p in front[1:]]
        out.append(f'<path class="pareto" d="{"".join(path)}"/>')
    for p in points:
        x, y, series = ax(p["x"]), ay(p["y"]), classes.get(p["series"], 0) % 6
        label = f"<title>{escape(p['label'])}</title>"
        if p.get("failed"):
            out.append(f'<path class="pt-fail s{series}" d="M{x - 4:.1f},{y - 4:.1f}l8,8m0,-8l-8,8">'
                       f'{label}</path>')
        else:
            cls = f"pt s{series}" + (" front" if p["front"] else "")
            out.append(f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="4">{label}</circle>')
    out.append("</svg>")
    return Markup("".join(out))
