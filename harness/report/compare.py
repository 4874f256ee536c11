"""Regressions against a baseline run: the gate's verdicts (``results/gate.py``) as a report
table and as terminal lines. The plugin's exit status, ``python -m harness compare`` and this
page share that one verdict logic; nothing here decides a verdict.

Rows, worst first: regressed and broke (these fail a gate), inconclusive, failed, infra_error,
throttled, not compared (other conditions, virtual vs real), improved, fixed, unchanged, new,
missing. A regressed row says by how much (the Hodges–Lehmann shift as a share of the baseline's
figure, and its interval), how sure (the one-sided p-value) and against which rule.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..results.gate import FAILING, Row, compare
from ..results.gate_rules import METRICS, GateRules
from .frame import RecordTable
from .gate_input import gate_cells
from .tables import col, table

VERDICT_ORDER = {"regressed": 0, "broke": 1, "inconclusive": 2, "failed": 3, "infra_error": 4,
                 "throttled": 5, "not compared": 6, "improved": 7, "fixed": 8, "unchanged": 9,
                 "new": 10, "missing": 11}
COLUMNS = [
    col("verdict", "verdict", "badge", filter=True), col("metric", "metric", filter=True),
    col("device", "device", filter=True), col("device_key", "device model", detail=True),
    col("abi", "ABI"), col("model", "model", filter=True), col("variant", "variant", filter=True),
    col("engine", "engine", filter=True), col("governor", "governor"),
    col("threads", "threads", detail=True),
    col("central_ms_base", "baseline", "num", 3, title="the rule's statistic in the baseline"),
    col("central_ms", "now", "num", 3),
    col("central_kind", "statistic", title="what the figures are: the median of per-iteration "
        "samples, or of per-repeat figures; a phone tool's mean"),
    col("change", "change", "pct", 1, title="Hodges–Lehmann shift (median of all pairwise "
        "differences) as a share of the baseline's figure"),
    col("ci_low", "CI low", "pct", 1, title="interval of the shift at 1 - 2 alpha (98% for "
        "alpha 0.01: agrees with the one-sided test)"),
    col("ci_high", "CI high", "pct", 1), col("p_value", "p", title="one-sided Mann–Whitney U"),
    col("shift", "shift", "num", 4, detail=True), col("unit", "unit", detail=True),
    col("samples", "samples", detail=True), col("serial", "serial", detail=True),
    col("sha256", "artifact sha256", detail=True), col("note", "reason"),
]


def compare_runs(current: RecordTable, baseline: RecordTable, baseline_id: str,
                 rules: GateRules | None = None) -> dict[str, Any]:
    rules = rules or GateRules()
    rows = compare(gate_cells(baseline), gate_cells(current), rules)
    frame = pd.DataFrame([_flat(row) for row in rows], columns=[c["key"] for c in COLUMNS])
    frame["rank"] = frame["verdict"].map(VERDICT_ORDER)
    frame = frame.sort_values(["rank", "change"], ascending=[True, False], na_position="last")
    counts = frame["verdict"].value_counts()
    counts = {v: int(counts[v]) for v in sorted(counts.index, key=VERDICT_ORDER.get)}
    return {"baseline": baseline_id, "counts": counts, "rules": rules.describe(),
            "regressions": int(sum(counts.get(v, 0) for v in FAILING)),
            "table": table(COLUMNS, frame)}


def _flat(row: Row) -> dict[str, Any]:
    cell = row.current or row.base
    key = row.key
    v = row.judged
    ids = [c.device_id for c in (row.base, row.current) if c is not None]
    out = {"verdict": row.verdict, "metric": row.metric, "device_key": key.device
           + (" (virtual)" if key.virtual else ""),
           "device": " -> ".join(dict.fromkeys(ids)), "abi": key.abi, "model": key.model,
           "variant": key.variant, "engine": key.engine, "governor": key.governor,
           "threads": key.threads, "note": row.note, "unit": METRICS[row.metric].unit
           if row.metric else "", "serial": _pair(row, "serial"), "sha256": _pair(row, "sha256"),
           "central_ms_base": np.nan, "central_ms": np.nan, "central_kind": "", "change": np.nan,
           "ci_low": np.nan, "ci_high": np.nan, "p_value": "", "shift": np.nan, "samples": ""}
    if v is not None:
        label = (cell.metrics.get(row.metric).label if cell and row.metric in cell.metrics else "")
        kind = "tool mean" if label.startswith("tool") else v.stat
        # a row with figures but no test (one summary per run): the change is shown, not judged
        change = v.pct(v.shift) if v.shift is not None else (
            v.current / v.base - 1.0 if v.base and v.current is not None else None)
        out.update(central_ms_base=v.base, central_ms=v.current, shift=v.shift,
                   change=_finite(change), ci_low=_finite(v.pct(v.ci_low)),
                   ci_high=_finite(v.pct(v.ci_high)),
                   p_value="" if v.p_value is None else f"{v.p_value:.2g}",
                   central_kind=kind if v.samples == "records" else f"{kind} of {v.samples}",
                   samples=f"{v.n_base} vs {v.n_current} {v.samples}")
    return out


def _pair(row: Row, field: str) -> str:
    values = [getattr(c, field) for c in (row.base, row.current) if c is not None]
    return " -> ".join(dict.fromkeys(v for v in values if v))


def _finite(value: float | None) -> float:
    return value if value is not None and np.isfinite(value) else np.nan


def gate_lines(regressions: dict[str, Any] | None, tables: dict[str, Any],
               limit: int = 30) -> list[str]:
    """The verdicts for the terminal: counts, then every row that is not plainly unchanged,
    new or missing (those are counted only)."""
    if regressions is None:
        return []
    counts = ", ".join(f"{n} {v}" for v, n in regressions["counts"].items()) or "no cells"
    lines = [f"gate vs baseline {regressions['baseline']} ({regressions['rules']}): {counts}"]
    spec = tables.get("regressions") or {"columns": [], "rows": []}
    keys = [c["key"] for c in spec["columns"]]
    shown = [dict(zip(keys, r)) for r in spec["rows"]
             if dict(zip(keys, r))["verdict"] not in ("unchanged", "new", "missing")]
    for r in shown[:limit]:
        figures = ""
        if r["central_ms_base"] is not None and r["central_ms"] is not None:
            figures = f" {r['central_ms_base']:.4g} -> {r['central_ms']:.4g} {r['unit']}"
        where = " ".join(str(r[k]) for k in ("device", "model", "variant", "engine") if r[k])
        gov = f" @{r['governor']}" if r["governor"] not in ("", "default") else ""
        metric = f" {r['metric']}" if r["metric"] else ""
        lines.append(f"  {r['verdict'].upper() if r['verdict'] in FAILING else r['verdict']}:"
                     f" {where}{gov}{metric}{figures}: {r['note']}")
    if len(shown) > limit:
        lines.append(f"  ... {len(shown) - limit} more rows in the report's Regressions table")
    return lines
