"""The terminal summary table printed at the end of a pytest session."""
from __future__ import annotations

from ..results.schema import Measurement


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_rows(records: list[Measurement]) -> list[list[str]]:
    rows = []
    for r in sorted(records, key=lambda r: (r.device.get("id", ""), r.model.get("name", ""),
                                            r.variant.get("id", ""), r.engine.get("name", ""),
                                            r.suite)):
        lat = r.latency or {}
        mem = r.memory or {}
        note = r.reason or ""
        if r.status == "ok" and r.conditions.get("noisy"):
            note = f"NOISY: {r.conditions.get('noise_reason')}"
        rows.append([r.device.get("id", ""), r.model.get("name", ""), r.variant.get("id", ""),
                     r.engine.get("name", ""), r.suite, r.status, _fmt(lat.get("median_ms")),
                     _fmt(lat.get("p90_ms")), _fmt(lat.get("ci95_low_ms")) + ".." +
                     _fmt(lat.get("ci95_high_ms")) if lat else "-",
                     _fmt(mem.get("peak_rss_mb"), 1), note[:80]])
    return rows


def summary_lines(records: list[Measurement]) -> list[str]:
    if not records:
        return ["no measurements recorded"]
    header = ["device", "model", "variant", "engine", "suite", "status", "median ms", "p90 ms",
              "95% CI median", "peak MB", "note"]
    rows = [header] + summary_rows(records)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return lines
