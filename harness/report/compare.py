"""Regressions against a baseline run: matching latency cells and status changes.

A latency change counts only past noise: the current cell's CI95 of the median lies entirely
above the baseline's (regression) or entirely below it (improvement); overlapping intervals are
"within noise" whatever the medians say. A cell that ran in the baseline and now fails "broke";
one that now hits an infra error is reported as such, never as a regression (docs/design.md, known traps).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .cells import KEY
from .compat import KEY as STATUS_KEY
from .cells import status_cells
from .tables import col, table

VERDICT_ORDER = {"regression": 0, "broke": 1, "improvement": 2, "fixed": 3, "within noise": 4,
                 "infra_error": 5, "new": 6, "gone": 7}


def _latency(current: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    keep = KEY + ["median_ms", "ci95_low_ms", "ci95_high_ms"]
    merged = current[keep].merge(baseline[keep], on=KEY, how="outer", suffixes=("", "_base"),
                                 indicator=True)
    both = merged["_merge"] == "both"
    slower = merged["ci95_low_ms"] > merged["ci95_high_ms_base"]
    faster = merged["ci95_high_ms"] < merged["ci95_low_ms_base"]
    merged["verdict"] = np.select(
        [both & slower, both & faster, both, merged["_merge"] == "left_only"],
        ["regression", "improvement", "within noise", "new"], default="gone")
    merged["change"] = merged["median_ms"] / merged["median_ms_base"] - 1.0
    return merged.drop(columns="_merge")


def _statuses(current: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    cur, base = status_cells(current, STATUS_KEY), status_cells(baseline, STATUS_KEY)
    merged = cur.merge(base, on=STATUS_KEY, how="inner", suffixes=("", "_base"))
    broke = (merged["status_base"] == "ok") & merged["status"].isin(["failed"])
    infra = (merged["status_base"] == "ok") & (merged["status"] == "infra_error")
    fixed = (merged["status_base"] != "ok") & (merged["status"] == "ok")
    merged["verdict"] = np.select([broke, infra, fixed], ["broke", "infra_error", "fixed"], default="")
    return merged[merged["verdict"] != ""]


def compare_runs(cells: pd.DataFrame, frame: pd.DataFrame, base_cells: pd.DataFrame,
                 base_frame: pd.DataFrame, baseline_id: str) -> dict[str, Any]:
    latency = _latency(cells, base_cells)
    statuses = _statuses(frame, base_frame)
    statuses = statuses.assign(governor="", threads=np.nan, note=statuses["reason"].fillna(""))
    # a cell that broke or hit an infra error also vanished from the latency cells: say it once
    explained = latency.merge(statuses[STATUS_KEY], on=STATUS_KEY, how="left", indicator=True)["_merge"]
    latency = latency[~((latency["verdict"] == "gone") & (explained == "both").to_numpy())]
    latency = latency.assign(note="")
    shared = STATUS_KEY + ["governor", "threads", "verdict", "note"]
    rows = pd.concat([latency, statuses[shared]], ignore_index=True)
    rows["rank"] = rows["verdict"].map(VERDICT_ORDER)
    rows = rows.sort_values(["rank", "change"], ascending=[True, False], na_position="last")
    counts = rows["verdict"].value_counts().to_dict()
    columns = [col("verdict", "verdict", "badge", filter=True), col("device", "device", filter=True),
               col("abi", "ABI"), col("model", "model", filter=True),
               col("variant", "variant", filter=True), col("engine", "engine", filter=True),
               col("governor", "governor"), col("median_ms_base", "baseline ms", "num", 3),
               col("median_ms", "now ms", "num", 3), col("change", "change", "pct", 1),
               col("ci95_low_ms_base", "baseline CI low", "num", 3, detail=True),
               col("ci95_high_ms_base", "baseline CI high", "num", 3, detail=True),
               col("ci95_low_ms", "CI low", "num", 3, detail=True),
               col("ci95_high_ms", "CI high", "num", 3, detail=True), col("note", "reason")]
    for name in ("ci95_low_ms_base", "ci95_high_ms_base", "ci95_low_ms", "ci95_high_ms"):
        if name not in rows:
            rows[name] = np.nan
    return {"baseline": baseline_id, "counts": {k: int(v) for k, v in counts.items()},
            "regressions": int(counts.get("regression", 0) + counts.get("broke", 0)),
            "table": table(columns, rows)}
