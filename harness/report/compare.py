"""Regressions against a baseline run: matching latency cells and status changes.

A latency change counts only past noise: the current cell's CI95 of the median lies entirely
above the baseline's (regression) or entirely below it (improvement); overlapping intervals are
"within noise" whatever the medians say. Phone cells timed by a benchmark tool have the tool's
mean and no CI: their change is shown with the verdict "no CI"; a median is never compared with
a mean ("not comparable"). A cell that ran in the baseline and now fails "broke" (still failing:
"failed"), whatever its latency numbers say: a cell failed on output drift still has them. One
that now hits an infra error is reported as such, never as a regression (docs/design.md, known
traps).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .cells import KEY
from .compat import KEY as STATUS_KEY
from .cells import status_cells
from .tables import col, table

VERDICT_ORDER = {"regression": 0, "broke": 1, "failed": 2, "improvement": 3, "fixed": 4,
                 "within noise": 5, "no CI": 6, "not comparable": 7, "infra_error": 8, "new": 9,
                 "gone": 10}


def _latency(current: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    keep = KEY + ["central_ms", "central_kind", "ci95_low_ms", "ci95_high_ms"]
    merged = current[keep].merge(baseline[keep], on=KEY, how="outer", suffixes=("", "_base"),
                                 indicator=True)
    both = merged["_merge"] == "both"
    same_kind = merged["central_kind"] == merged["central_kind_base"]
    with_ci = merged[["ci95_low_ms", "ci95_high_ms", "ci95_low_ms_base", "ci95_high_ms_base"]].notna().all(axis=1)
    slower = merged["ci95_low_ms"] > merged["ci95_high_ms_base"]
    faster = merged["ci95_high_ms"] < merged["ci95_low_ms_base"]
    merged["verdict"] = np.select(
        [both & ~same_kind, both & ~with_ci, both & slower, both & faster, both,
         merged["_merge"] == "left_only"],
        ["not comparable", "no CI", "regression", "improvement", "within noise", "new"], default="gone")
    merged["change"] = (merged["central_ms"] / merged["central_ms_base"] - 1.0).where(same_kind)
    return merged.drop(columns="_merge")


def _failed_now(latency: pd.DataFrame, current: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Latency rows whose cell has a failed record now (a crash, or outputs that drifted) get
    "broke" (ok in the baseline) or "failed" and the failure's reason, never a verdict from
    their numbers."""
    cur, base = status_cells(current, STATUS_KEY), status_cells(baseline, STATUS_KEY)
    failed = cur.loc[cur["status"] == "failed", STATUS_KEY + ["reason"]]
    was_ok = base.loc[base["status"] == "ok", STATUS_KEY].assign(_was_ok=True)
    marks = latency[STATUS_KEY].merge(failed, on=STATUS_KEY, how="left", indicator="_failed")
    marks = marks.merge(was_ok, on=STATUS_KEY, how="left")  # left merges keep latency's order
    hit = (marks["_failed"] == "both").to_numpy() & (latency["verdict"] != "gone").to_numpy()
    broke = marks["_was_ok"].eq(True).to_numpy()
    return latency.assign(
        verdict=np.where(hit, np.where(broke, "broke", "failed"), latency["verdict"]),
        note=np.where(hit, marks["reason"].fillna("").to_numpy(), ""))


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
    latency = _failed_now(latency, frame, base_frame)
    # a cell already listed as broke or failed with its latency row: its status row would repeat it
    failing = latency.loc[latency["verdict"].isin(["broke", "failed"]), STATUS_KEY].drop_duplicates()
    repeated = statuses[STATUS_KEY].merge(failing, on=STATUS_KEY, how="left", indicator=True)["_merge"]
    statuses = statuses[(repeated != "both").to_numpy()]
    shared = STATUS_KEY + ["governor", "threads", "verdict", "note"]
    rows = pd.concat([latency, statuses[shared]], ignore_index=True)
    rows["rank"] = rows["verdict"].map(VERDICT_ORDER)
    rows = rows.sort_values(["rank", "change"], ascending=[True, False], na_position="last")
    counts = rows["verdict"].value_counts().to_dict()
    columns = [col("verdict", "verdict", "badge", filter=True), col("device", "device", filter=True),
               col("abi", "ABI"), col("model", "model", filter=True),
               col("variant", "variant", filter=True), col("engine", "engine", filter=True),
               col("governor", "governor"), col("central_ms_base", "baseline ms", "num", 3),
               col("central_ms", "now ms", "num", 3),
               col("central_kind", "statistic", title="median of samples, or a phone tool's own "
                   "mean (no CI: changes are shown, not judged)"),
               col("change", "change", "pct", 1),
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
