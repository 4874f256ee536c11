"""status_cells and latency_records pinned on a small frame with ties, missing keys and unknown
statuses, so a faster rewrite (numpy group codes, object-array compares) must give the same rows."""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.cells import SEVERITY, latency_records, status_cells

KEY = ["device", "engine"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "device": ["b", "a", "a", "a", "b", "c", None, "c"],
        "engine": ["x", "x", "x", "x", "y", "x", "x", "x"],
        "status": ["ok", "failed", "ok", "failed", "weird", None, "failed", "ok"],
        "reason": ["", "first failure", "", "second failure", "odd", "", "no device", ""],
        "suite": ["latency", "compat", "latency", "latency", "latency", "latency", "latency", "compat"],
        "fid_ok": [1.0, 0.0, np.nan, 0.0, 1.0, 1.0, 0.0, 1.0],
        "median_ms": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0],
        # median, or a phone tool's mean (frame._derive): what latency_records keeps rows by
        "central_ms": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0],
    })


def _reference(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    work = frame[key + ["status", "reason"]].assign(
        severity=frame["status"].map(SEVERITY).fillna(4).astype(int), _ok=frame["status"] == "ok")
    out = work.groupby(key, sort=True).agg(records=("status", "size"), ok_records=("_ok", "sum"),
                                           worst=("severity", "idxmax")).reset_index()
    worst = work.loc[out.pop("worst")]
    for column in ("status", "reason", "severity"):
        out[column] = worst[column].to_numpy()
    return out


def test_status_cells_matches_groupby_idxmax():
    frame = _frame()
    got = status_cells(frame, KEY)
    pd.testing.assert_frame_equal(got, _reference(frame, KEY), check_dtype=False)
    assert got.loc[got["device"] == "a", "reason"].item() == "first failure"  # first of the worst
    assert got["records"].tolist() == [3, 1, 1, 2]  # the row with no device is dropped


def test_status_cells_empty():
    assert status_cells(_frame().iloc[:0], KEY).empty


def test_latency_records_ok_or_drifted_latency_with_a_central_figure():
    assert latency_records(_frame()).index.tolist() == [0, 2, 6]
