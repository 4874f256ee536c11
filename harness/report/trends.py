"""Run history for the report and for ingestion: a run's records -> one ``CellRow`` per gate
cell (``gate_input.gate_cells``: the gate's comparison key, never a second definition), and the
report's Trends section (a sparkline per cell from ``results/history.py``).

Only built when a history database is configured; the 100,000-record report benchmark has none,
so the report model pays nothing for it there.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from ..results.history import (CellRow, HistoryError, RunRow, commit_of, key_text, open_history,
                               trends)
from .frame import RecordTable
from .gate_input import gate_cells
from .svg import sparkline

MAX_ROWS = 2000  # the Trends table lists at most this many cells (steps first)


def cell_rows(table: RecordTable) -> list[CellRow]:
    rows = []
    for cell in gate_cells(table):
        lat = cell.metrics.get("latency")
        central = list((lat.per_record.get("median") if lat else ()) or ())
        mem = list((cell.metrics["memory"].per_record.get("peak") or ()) if cell.measured else ())
        energy = list((cell.metrics["energy"].per_record.get("per_inference") or ())
                      if cell.measured else ())
        k = cell.key
        rows.append(CellRow(
            key=key_text(k), device=k.device, virtual=k.virtual, abi=k.abi, model=k.model,
            variant=k.variant, engine=k.engine, governor=k.governor, threads=k.threads,
            status=cell.status,
            latency_ms=statistics.median(central) if central else None,
            latency_stat="tool mean" if lat and lat.label.startswith("tool") else "median",
            peak_mb=max(mem) if mem else None,
            energy_mj=statistics.median(energy) if energy else None,
            throttled=cell.throttled, noisy=bool(cell.noisy), records=max(len(central), 1)))
    return rows


def run_row(info: dict[str, Any], run_dir: Path, root: Path | None = None) -> RunRow:
    return RunRow(run_id=str(info.get("run_id") or Path(run_dir).resolve().name),
                  started=str(info.get("started") or ""), finished=str(info.get("finished") or ""),
                  commit_sha=commit_of(root), run_dir=str(run_dir))


def trend_section(history: Path, run: RunRow, rows: list[CellRow]) -> dict[str, Any]:
    """The Trends section: per cell of this run with >= 2 runs (this one included), its latency
    sparkline and this run's step, if any. An unusable database is a note, never an error."""
    out: dict[str, Any] = {"db": str(history), "rows": [], "note": ""}
    if not Path(history).exists():
        out["note"] = f"no history yet at {history}: trends appear from the second run"
        return out
    try:
        conn = open_history(history, create=False)
    except HistoryError as exc:
        out["note"] = str(exc)
        return out
    try:
        series = trends(conn, "latency", extra=(run, rows))
    finally:
        conn.close()
    table = []
    for trend in series:
        last = next((p for p in trend.points if p.run_id == run.run_id), None)
        if len(trend.points) < 2 or last is None:  # cells of this run only
            continue
        title = (f"{trend.key}: " + ", ".join(f"{p.value:.4g}" for p in trend.points[-12:])
                 + f" {trend.unit} ({last.stat})")
        table.append({"key": trend.key, "runs": len(trend.points),
                      "latest": round(last.value, 4), "stat": last.stat,
                      "step": last.step, "note": last.note,
                      "steps": len(trend.steps),
                      "svg": sparkline([p.value for p in trend.points],
                                       [p.step for p in trend.points], title)})
    table.sort(key=lambda r: (not r["step"], r["key"]))
    out["rows"] = table[:MAX_ROWS]
    out["runs"] = max((r["runs"] for r in table), default=0)
    return out
