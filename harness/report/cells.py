"""Latency cells: the ok latency records of one device x ABI x model x variant x engine x governor x
threads, pooled into one row. Every comparison in the report (tables, regressions, governor
sweep) starts from these rows, never from single records.

Pooling rules (docs/report.md says the same for readers):
- one record: its own summary, exactly as the harness wrote it;
- k records (repeats): median = median of the record medians; CI95 = the order-statistic 95% CI
  of those medians when k >= 6, else [lowest record CI low, highest record CI high] (too few
  repeats for an interval of medians, so take the conservative union of their own intervals);
- box plot: quartiles and Tukey whiskers (1.5 IQR) of all samples pooled, computed for every
  cell at once with one sort instead of a Python loop per cell;
- tool summaries (phone tools print mean/min/max/std, no samples): the cell's figure is the
  tool's mean (k records: their mean weighted by iterations), min of mins, max of maxes; no
  quartiles, since one printed mean per record is no sample distribution to take them from; a
  CI95 only from k >= 6 declared repeats (--repeats) of equal iterations, and then of the median
  repeat mean (K independent tool runs are a distribution of means), else none. ``central_ms`` is the one figure tables compare: the median, else that tool mean, and
  ``central_kind`` says which.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..results.stats import median_ci95
from .frame import RecordTable
from .outputs import outputs_labels

KEY = ["device", "abi", "model", "variant", "engine", "governor", "threads"]
SEVERITY = {"ok": 0, "skipped": 1, "unsupported": 2, "infra_error": 3, "failed": 4}
MEDIAN, TOOL_MEAN = "median", "tool mean"  # central_kind: what central_ms is


def latency_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Records that measured latency, not a compat probe (3 iterations), with a median or a
    tool's mean: ok ones and those failed only on output drift (their speed is a finding too:
    fast but wrong).
    The model computes this once and hands it to build_cells and warnings (~0.1 s at 100k)."""
    # numpy compares on the object arrays: pandas' string-dtype == is ~2.5x slower per column;
    # missing text (NaN) compares unequal either way
    status = np.asarray(frame["status"], dtype=object)
    drifted = (status == "failed") & (frame["fid_ok"].to_numpy() == 0)
    measured = (status == "ok") | drifted
    suite = np.asarray(frame["suite"], dtype=object)
    return frame[measured & (suite != "compat") & frame["central_ms"].notna().to_numpy()]


def _distinct_text(recs: pd.DataFrame, codes: np.ndarray, column: str, ncells: int) -> np.ndarray:
    """Per cell, the distinct non-empty values of a text column joined by ", " (mixed engine
    versions in one cell must show). Deduplicated first: the Python join runs on few rows."""
    pairs = pd.DataFrame({"cell": codes, "value": recs[column].to_numpy()})
    pairs = pairs[pairs["value"] != ""].drop_duplicates().sort_values(["cell", "value"])
    out = np.full(ncells, "", dtype=object)
    for cell, group in itertools.groupby(zip(pairs["cell"].tolist(), pairs["value"].tolist()),
                                         key=lambda pair: pair[0]):
        out[cell] = ", ".join(value for _, value in group)
    return out


def build_cells(table: RecordTable, recs: pd.DataFrame | None = None) -> pd.DataFrame:
    """``recs``: latency_records(table.frame) when the caller already has it."""
    if recs is None:
        recs = latency_records(table.frame)
    grouped = recs.groupby(KEY, dropna=False, sort=True)
    cells = grouped.agg(
        records=("central_ms", "size"), median_ms=("median_ms", "median"),
        tool_records=("tool_summary", "sum"), std_ms=("std_ms", "median"),
        ci_low_min=("ci95_low_ms", "min"), ci_high_max=("ci95_high_ms", "max"),
        p90_ms=("p90_ms", "median"), p99_ms=("p99_ms", "median"), min_ms=("min_ms", "min"),
        max_ms=("max_ms", "max"), cv=("cv", "median"), n=("n", "sum"), load_ms=("load_ms", "median"),
        peak_rss_mb=("peak_rss_mb", "max"), power_mw=("power_mw", "median"),
        energy_mj=("energy_mj", "median"), temp_max_c=("temp_c", "max"),
        other_cpu_max_pct=("other_cpu_pct", "max"),
        noisy_records=("noisy", "sum"), virtual=("virtual", "any"), charging=("charging", "any"),
        throttled=("throttled", "any"), variant_bytes=("variant_bytes", "max"),
        fid_cosine=("fid_cosine", "min"), fid_agree=("fid_agree", "min"),
        fid_nme=("fid_nme", "max"), fid_ok=("fid_ok", "min"), host_fid_ok=("host_fid_ok", "min"),
        model_task=("model_task", "first"), trace_records=("has_trace", "sum"),
        repeat_records=("repeat_of", "count"), n_lo=("n", "min"), n_hi=("n", "max"),
    ).reset_index()
    codes = grouped.ngroup().to_numpy()
    for column in ("engine_version", "engine_backend", "noise_reason", "tool"):
        cells[column] = _distinct_text(recs, codes, column, len(cells))
    cells["mean_ms"] = _tool_mean(recs, codes, len(cells))
    _central(cells)
    cells["outputs"] = outputs_labels(cells["fid_ok"], cells["host_fid_ok"])
    cells["ci95_low_ms"], cells["ci95_high_ms"] = cells["ci_low_min"], cells["ci_high_max"]
    # per record its median, or (repeat_ci below) a tool repeat's printed mean
    _ci_of_medians(cells, recs["central_ms"].to_numpy(dtype=float), codes)
    samples = ~recs["tool_summary"].to_numpy()  # a tool's one printed mean is not a sample
    box = _pooled_box(table, recs.index.to_numpy()[samples], codes[samples], len(cells))
    for i, name in enumerate(("box_lo", "box_q1", "box_med", "box_q3", "box_hi")):
        cells[name] = box[:, i]
    no_samples = cells["box_med"].isna()  # tools that report only summaries: min / mean / max
    cells.loc[no_samples, "box_lo"] = cells.loc[no_samples, "min_ms"]
    cells.loc[no_samples, "box_med"] = cells.loc[no_samples, "central_ms"]
    cells.loc[no_samples, "box_hi"] = cells.loc[no_samples, "max_ms"]
    return cells.drop(columns=["ci_low_min", "ci_high_max", "n_lo", "n_hi"])


def _tool_mean(recs: pd.DataFrame, codes: np.ndarray, ncells: int) -> np.ndarray:
    """Per cell, its tool means pooled over repeats, weighted by iterations: the mean of all
    their iterations (NaN for cells without one)."""
    mean = recs["mean_ms"].to_numpy(dtype=float)
    used = recs["tool_summary"].to_numpy(dtype=bool) & ~np.isnan(mean)
    weight = np.where(used, np.nan_to_num(recs["n"].to_numpy(dtype=float), nan=1.0), 0.0)
    total = np.bincount(codes, weights=np.where(used, mean, 0.0) * weight, minlength=ncells)
    iterations = np.bincount(codes, weights=weight, minlength=ncells)
    return np.divide(total, iterations, out=np.full(ncells, np.nan), where=iterations > 0)


def _central(cells: pd.DataFrame) -> None:
    """central_ms / central_kind and summary_by of each cell. A cell is a tool summary when
    every record of it is one (a phone's cells are all timed by its tools)."""
    tool = (cells["tool_records"] == cells["records"]).to_numpy()
    cells["tool_summary"] = tool
    cells["central_ms"] = np.where(tool, cells["mean_ms"], cells["median_ms"])
    cells["central_kind"] = np.where(tool, TOOL_MEAN, MEDIAN).astype(object)
    cells["summary_by"] = [
        "summary" + (f" of {n:.0f} iterations" if pd.notna(n) else "") + f" by {by or 'the tool'}"
        if is_tool else "" for is_tool, n, by in zip(tool, cells["n"], cells["tool"])]
    # a tool record has no CI of its own; only _ci_of_medians gives repeats of a tool cell one


def _ci_of_medians(cells: pd.DataFrame, medians: np.ndarray, codes: np.ndarray) -> None:
    """k >= 6 records: the order-statistic 95% CI of the median of their per-record figures.
    Sample cells: of their medians. Tool cells only when every record is a declared repeat
    (``extra.repeat``, --repeats) of the same iteration count: K printed means of K independent
    tool runs alike are a distribution of means, and the interval is of the median repeat mean
    (the pooled mean is then the mean of those same means); never an interval of iterations,
    which a tool does not show. Other tool cells (records of unlike runs) get none."""
    counts = cells["records"].to_numpy()
    tools = cells["tool_records"].to_numpy()
    repeats = ((tools == counts) & (cells["repeat_records"].to_numpy() == counts)
               & (cells["n_lo"].to_numpy() == cells["n_hi"].to_numpy()))
    many = np.flatnonzero((counts >= 6) & ((tools == 0) | repeats))
    if not len(many):
        return
    ordered = medians[np.lexsort((medians, codes))]
    begin = np.concatenate(([0], np.cumsum(counts)[:-1]))
    low, high = cells["ci95_low_ms"].to_numpy(copy=True), cells["ci95_high_ms"].to_numpy(copy=True)
    for row in many:  # stats.median_ci95 itself, so one record and one cell agree on the method
        low[row], high[row] = median_ci95(ordered[begin[row]:begin[row] + counts[row]])
    cells["ci95_low_ms"], cells["ci95_high_ms"] = low, high


def _pooled_box(table: RecordTable, rec_idx: np.ndarray, codes: np.ndarray, ncells: int) -> np.ndarray:
    """[lo whisker, q1, median, q3, hi whisker] per cell from all its records' samples."""
    out = np.full((ncells, 5), np.nan)
    by_cell = np.argsort(codes, kind="stable")  # records grouped by cell: samples come out contiguous
    rec_idx, codes = rec_idx[by_cell], codes[by_cell]
    starts = table.sample_offsets[rec_idx]
    lengths = table.sample_offsets[rec_idx + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return out
    # indices of every selected sample, built without a Python loop over records
    first = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    values = table.sample_values[first + np.arange(total)]
    counts = np.bincount(codes, weights=lengths, minlength=ncells).astype(np.int64)
    begin = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    for b, c in zip(begin[has], counts[has]):  # in-place sort per cell: far cheaper than one lexsort
        values[b:b + c].sort()
    cell = np.repeat(np.arange(ncells), counts)

    def quantile(q: float) -> np.ndarray:  # numpy's default (linear) method, as stats.percentile
        pos = begin[has] + (counts[has] - 1) * q
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, begin[has] + counts[has] - 1)
        return values[low] + (values[high] - values[low]) * (pos - low)

    q1, med, q3 = quantile(0.25), quantile(0.5), quantile(0.75)
    fence_lo = np.full(ncells, np.inf)
    fence_hi = np.full(ncells, -np.inf)
    fence_lo[has], fence_hi[has] = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    inside_lo = np.where(values >= fence_lo[cell], values, np.inf)
    inside_hi = np.where(values <= fence_hi[cell], values, -np.inf)
    out[has, 0] = np.minimum.reduceat(inside_lo, begin[has])
    out[has, 1], out[has, 2], out[has, 3] = q1, med, q3
    out[has, 4] = np.maximum.reduceat(inside_hi, begin[has])
    return out


def status_cells(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Worst status per cell over every record (both suites) with its reason and the counts."""
    work = frame[key + ["status", "reason"]].assign(
        severity=frame["status"].map(SEVERITY).fillna(4).astype(int), _ok=frame["status"] == "ok")
    out = work.groupby(key, sort=True).agg(records=("status", "size"), ok_records=("_ok", "sum"),
                                           worst=("severity", "idxmax")).reset_index()
    worst = work.loc[out.pop("worst")]  # the first record with the worst status: its reason
    for column in ("status", "reason", "severity"):
        out[column] = worst[column].to_numpy()
    return out
