"""The comparison tables, built from latency cells (cells.py) as plain column specs + row lists.

Each table is ``{"columns": [...], "rows": [[...], ...]}``: the page script sorts, filters and
pages them (the report of a 100,000-record run holds thousands of rows, too many for the DOM at
once). Column types tell the script how to format: text, num, ratio (x), pct (signed %), mb,
box, flags. Numbers are rounded here so the embedded JSON stays small.

Every table compares cells by ``central_ms`` (cells.py): the median where there are samples, the
tool's mean for phone cells timed by a benchmark tool, with ``central_kind`` shown beside it.
Ratios and "beyond noise" verdicts are only computed between figures of the same kind.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .outputs import drifted

GROUP = ["device", "abi", "model", "engine", "governor", "threads"]  # a variant's comparison set


def col(key: str, label: str, kind: str = "text", digits: int = 2, filter: bool = False,
        title: str = "", detail: bool = False) -> dict[str, Any]:
    """One column: ``filter`` adds a drop-down, ``detail`` shows it only in the drill-down row."""
    return {"key": key, "label": label, "type": kind, "digits": digits, "filter": filter,
            "title": title, "detail": detail}


def clean(value: Any, digits: int = 5) -> Any:
    """JSON-ready value: NaN/None -> None, numpy scalars -> Python, floats to 5 significant digits."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}")
    return value


def rounded(values: Any, digits: int = 5) -> list:
    """A column as a JSON-ready list: floats to ``digits`` significant digits, NaN -> None.
    Vectorised: the latency table of a big run has ~100k numbers and this runs on every one."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fi":
        return [clean(v) for v in arr.tolist()]
    arr = arr.astype(float)
    finite = np.isfinite(arr)
    safe = np.where(finite & (arr != 0), np.abs(arr), 1.0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(safe)))
    out = np.where(finite, np.round(arr * scale) / scale, 0.0).astype(object)
    out[~finite] = None
    return out.tolist()


def table(columns: list[dict], frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """Rows from ``frame`` columns named like the specs' keys (box columns hold 7 values)."""
    data = []
    for spec in columns:
        values = frame[spec["key"]]
        if spec["type"] in ("box", "flags"):
            data.append(values.tolist())
        elif spec["type"] == "text":
            data.append([v if isinstance(v, str) else clean(v) for v in values.tolist()])
        else:
            data.append(rounded(values.to_numpy()))
    return {"columns": columns, "rows": [list(r) for r in zip(*data)], **extra}


def flags(cells: pd.DataFrame) -> pd.Series:
    """Warning badges per cell: why a number might not be what a clean device would give."""
    parts = [(cells["noisy_records"] > 0, "noisy"), (cells["throttled"], "throttled"),
             (cells["virtual"], "virtual"), (cells["charging"], "charging"),
             (drifted(cells), "fidelity")]
    out = [[] for _ in range(len(cells))]
    for mask, name in parts:
        for i in np.flatnonzero(mask.to_numpy(dtype=bool)):
            out[i].append(name)
    return pd.Series(out, index=cells.index, dtype=object)


def boxes(cells: pd.DataFrame) -> pd.Series:
    """[lo, q1, median, q3, hi, axis min, axis max, tool]: one axis for all cells of a model, so
    rows of a model compare by position; it spans their whiskers rather than starting at 0 so a
    tight distribution is still visible as a box, not a tick. ``tool`` 1: a tool's summary, so
    lo / mid / hi are its min / mean / max and there are no quartiles (the page draws it apart)."""
    by_model = cells.groupby("model")
    low = by_model["box_lo"].transform("min").fillna(cells["central_ms"])
    high = by_model["box_hi"].transform("max").fillna(cells["central_ms"])
    pad = (high - low) * 0.05
    parts = [rounded(cells[c].to_numpy()) for c in ("box_lo", "box_q1", "box_med", "box_q3", "box_hi")]
    parts += [rounded((low - pad).to_numpy()), rounded((high + pad).to_numpy())]
    parts.append(cells["tool_summary"].astype(int).tolist())
    return pd.Series([list(r) for r in zip(*parts)], index=cells.index, dtype=object)


OUTPUTS_TITLE = ("the fidelity check against fp32 outputs: this cell's own (host runs), else the "
                 "host's check of the same file (same sha256) in this run; phone tools feed their "
                 "own inputs, so a phone cell without a host run of its file is 'not checked'")
CENTRAL_TITLE = ("the median of the samples; for phone cells timed by a benchmark tool that "
                 "prints only a summary (benchmark_model, benchncnn, MNN benchmark.out, "
                 "onnxruntime_perf_test), the tool's own mean: see 'statistic'")


def central_columns() -> list[dict[str, Any]]:
    """The compared figure and what it is, side by side in every table."""
    return [col("central_ms", "latency ms", "num", 3, title=CENTRAL_TITLE),
            col("central_kind", "statistic", filter=True,
                title="median: of the samples; tool mean: the benchmark tool's own summary "
                      "(no samples, so no quartiles, and a CI only of >= 6 repeat means)")]


def beyond_noise(rows: pd.DataFrame) -> np.ndarray:
    """Winner vs runner-up (``next_*`` columns): 'yes' when the winner's CI95 high is below the
    runner-up's CI95 low. A tool summary has no CI, and a median is not compared with a mean."""
    return np.select(
        [rows["next_central_ms"].isna(), rows["central_kind"] != rows["next_central_kind"],
         rows["ci95_high_ms"].isna() | rows["next_ci95_low_ms"].isna(),
         rows["ci95_high_ms"] < rows["next_ci95_low_ms"]],
        ["only one", "not comparable (median vs tool mean)", "no CI (tool summaries)", "yes"],
        default="within noise").astype(object)


def _same_kind_ratio(num: pd.Series, den: pd.Series, same: pd.Series) -> pd.Series:
    return (num / den).where(same)


def latency_table(cells: pd.DataFrame) -> dict[str, Any]:
    view = cells.assign(box=boxes(cells), flags=flags(cells),
                        ci=cells["ci95_high_ms"] - cells["ci95_low_ms"])
    columns = [
        col("device", "device", filter=True), col("abi", "ABI", filter=True),
        col("model", "model", filter=True), col("variant", "variant", filter=True),
        col("engine", "engine", filter=True), col("governor", "governor", filter=True),
        col("threads", "threads", "num", 0), *central_columns(),
        col("box", "distribution (ms)", "box", title="whiskers: Tukey 1.5 IQR; box: quartiles of "
            "all samples; tool summaries: a min–max line and a ◆ at the tool's mean, no box; "
            "the axis is shared within a model"),
        col("ci95_low_ms", "CI95 low", "num", 3), col("ci95_high_ms", "CI95 high", "num", 3),
        col("p90_ms", "p90 ms", "num", 3), col("cv", "CV", "num", 3),
        col("peak_rss_mb", "peak MB", "num", 1), col("flags", "flags", "flags"),
        col("summary_by", "tool summary", detail=True), col("median_ms", "median ms", "num", 3, detail=True),
        col("mean_ms", "mean ms", "num", 3, detail=True), col("std_ms", "std ms", "num", 3, detail=True),
        col("min_ms", "min ms", "num", 3, detail=True), col("max_ms", "max ms", "num", 3, detail=True),
        col("outputs", "outputs", detail=True),
        col("records", "records", "num", 0, detail=True), col("n", "iterations", "num", 0, detail=True),
        col("p99_ms", "p99 ms", "num", 3, detail=True), col("load_ms", "load ms", "num", 1, detail=True),
        col("temp_max_c", "max temp °C", "num", 1, detail=True),
        col("other_cpu_max_pct", "other processes, max % of a core", "num", 0, detail=True),
        col("engine_version", "engine version", detail=True),
        col("engine_backend", "backend", detail=True), col("noise_reason", "noise", detail=True),
    ]
    return table(columns, view.sort_values(["model", "device", "abi", "variant", "engine"]))


def _reference(cells: pd.DataFrame, variant: str = "fp32") -> pd.DataFrame:
    ref = cells[cells["variant"] == variant][GROUP + ["central_ms", "central_kind", "peak_rss_mb",
                                                      "energy_mj"]]
    return ref.drop_duplicates(GROUP).rename(columns={
        "central_ms": "ref_central_ms", "central_kind": "ref_central_kind",
        "peak_rss_mb": "ref_peak_mb", "energy_mj": "ref_energy_mj"})


def fp32_bytes(frame: pd.DataFrame) -> pd.DataFrame:
    """Bytes of the fp32 artifact per model x engine (the engine's own format), for ratios."""
    fp32 = frame[(frame["variant"] == "fp32") & frame["variant_bytes"].notna()]
    return fp32.groupby(["model", "engine"], as_index=False)["variant_bytes"].max().rename(
        columns={"variant_bytes": "fp32_bytes"})


def with_reference(cells: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Cells plus their fp32 counterpart in the same device/ABI/engine/governor/threads group."""
    out = cells.merge(_reference(cells), on=GROUP, how="left")
    sizes = fp32_bytes(frame)
    out = out.merge(sizes, on=["model", "engine"], how="left")
    # an engine without its own fp32 artifact: fall back to the model's source file size
    source = sizes.groupby("model")["fp32_bytes"].min().rename("model_fp32_bytes")
    out = out.join(source, on="model")
    out["fp32_bytes"] = out["fp32_bytes"].fillna(out["model_fp32_bytes"])
    out["compression"] = out["fp32_bytes"] / out["variant_bytes"]
    out["speedup"] = _same_kind_ratio(out["ref_central_ms"], out["central_ms"],
                                      out["central_kind"] == out["ref_central_kind"])
    out["mem_change"] = out["peak_rss_mb"] / out["ref_peak_mb"] - 1.0
    out["energy_change"] = out["energy_mj"] / out["ref_energy_mj"] - 1.0
    out["size_mb"] = out["variant_bytes"] / 1e6
    return out


def variant_table(cells: pd.DataFrame, frame: pd.DataFrame) -> dict[str, Any]:
    view = with_reference(cells, frame)
    has_energy = bool(view["energy_mj"].notna().any())
    has_fidelity = bool(view[["fid_cosine", "fid_agree", "fid_nme", "fid_ok"]].notna().any().any())
    columns = [
        col("model", "model", filter=True), col("device", "device", filter=True),
        col("abi", "ABI", filter=True), col("engine", "engine", filter=True),
        col("governor", "governor", filter=True), col("variant", "variant", filter=True),
        col("size_mb", "size MB", "num", 2), col("compression", "smaller vs fp32", "ratio", 2,
                                                  title="fp32 artifact bytes / variant bytes"),
        *central_columns(), col("ref_central_ms", "fp32 latency ms", "num", 3,
                                title="the fp32 cell's figure, of the same statistic"),
        col("speedup", "speedup", "ratio", 2, title="fp32 / variant, same device, engine, governor "
            "and threads, same statistic (median vs median, tool mean vs tool mean)"),
        col("peak_rss_mb", "peak MB", "num", 1), col("mem_change", "memory vs fp32", "pct", 1),
    ]
    if has_energy:
        columns += [col("energy_mj", "energy mJ/inf", "num", 3),
                    col("energy_change", "energy vs fp32", "pct", 1)]
    if has_fidelity:
        columns += [col("fid_cosine", "cosine", "num", 4), col("fid_agree", "top-1 / IoU", "num", 3,
                        title="classification: top-1 agreement; detection/segmentation: map IoU"),
                    col("fid_nme", "landmark NME", "num", 4,
                        title="landmarks: mean error / landmark spread (lower is better)"),
                    col("fid_ok", "fidelity ok", "num", 0)]
    columns.append(col("outputs", "outputs", filter=True, title=OUTPUTS_TITLE))
    view = view.sort_values(["model", "device", "abi", "engine", "governor", "variant"])
    return table(columns, view, energy=has_energy, fidelity=has_fidelity)


def engine_table(cells: pd.DataFrame, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """Per model + variant + device: every engine's central figure side by side, the fastest
    (``best``: the page marks its cell), and whether it wins beyond noise (its CI95 high below
    the runner-up's CI95 low). An engine that measured somewhere in the run but not in a row
    is named in that row's "not measured" with its status and reason (from ``frame``), so a
    missing figure is never just a blank."""
    key = ["model", "variant", "device", "abi", "governor", "threads"]
    engines = sorted(cells["engine"].unique())
    wide = cells.pivot_table(index=key, columns="engine", values="central_ms", aggfunc="min",
                             dropna=False, observed=True).reindex(columns=engines)
    wide = wide.dropna(how="all").reset_index()
    ranked = cells.sort_values("central_ms").groupby(key, dropna=False)
    best = ranked.nth(0).set_index(key)
    second = ranked.nth(1).set_index(key)
    wide = wide.join(best[["engine", "central_ms", "central_kind", "ci95_high_ms"]], on=key)
    wide = wide.join(second[["engine", "central_ms", "central_kind", "ci95_low_ms"]]
                     .add_prefix("next_"), on=key)
    wide["margin"] = _same_kind_ratio(wide["next_central_ms"], wide["central_ms"],
                                      wide["central_kind"] == wide["next_central_kind"])
    wide["clear"] = beyond_noise(wide)
    wide["missing"] = _not_measured(wide, engines, frame)
    wide = wide.rename(columns={e: f"engine:{e}" for e in engines})
    columns = [col("model", "model", filter=True), col("variant", "variant", filter=True),
               col("device", "device", filter=True), col("abi", "ABI", filter=True),
               col("governor", "governor", filter=True)]
    columns += [col(f"engine:{e}", f"{e} ms", "num", 3, title=CENTRAL_TITLE) for e in engines]
    columns += [col("central_kind", "statistic", filter=True,
                    title="what the engine columns hold: medians of samples, or the phone tools' "
                          "own means (no samples)"),
                col("engine", "fastest", filter=True),
                col("margin", "runner-up slower by", "ratio", 2),
                col("clear", "beyond noise?", filter=True,
                    title="fastest CI95 high < runner-up CI95 low; tool summaries have no CI"),
                col("missing", "not measured",
                    title="engines of this run with no figure in this row, with why (the "
                          "compatibility matrix has every reason in full)")]
    return table(columns, wide.sort_values(key[:4]), engines=engines,
                 best={"key": "engine", "prefix": "engine:"})


REASON_CHARS = 60


def _not_measured(wide: pd.DataFrame, engines: list[str], frame: pd.DataFrame | None) -> list[str]:
    """Per row: '<engine>: <status>: <reason>' for each engine column left empty. The reason is
    the worst non-ok latency record's of that model x variant x device (any ABI: an unsupported
    cell often has none), cut to REASON_CHARS."""
    why: dict[tuple, str] = {}
    if frame is not None and len(frame):
        status = np.asarray(frame["status"], dtype=object)
        suite = np.asarray(frame["suite"], dtype=object)
        bad = frame[(status != "ok") & (suite != "compat")].drop_duplicates(
            ["model", "variant", "device", "engine"])
        for r in bad[["model", "variant", "device", "engine", "status", "reason"]].itertuples():
            text = str(r.reason or "")
            text = text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"
            why.setdefault((r.model, r.variant, r.device, r.engine), f"{r.status}: {text}")
    out = []
    values = wide[engines].to_numpy()
    for row, (model, variant, device) in zip(values, wide[["model", "variant", "device"]]
                                             .itertuples(index=False)):
        gaps = [f"{e}: {why.get((model, variant, device, e), 'not in this run')}"
                for e, v in zip(engines, row) if pd.isna(v)]
        out.append("; ".join(gaps))
    return out


def best_table(cells: pd.DataFrame) -> dict[str, Any]:
    """What to ship: per model x device x ABI, the fastest variant+engine that did not fail its
    fidelity check (its own, or the host's of the same file), under the device's most-measured
    governor (a governor is a device state, not something to ship), with the runner-up and
    whether the win is beyond noise."""
    key = ["model", "device", "abi"]
    usable = cells[~drifted(cells)]  # NaN (not checked) stays: shown as such
    counts = usable.groupby(["device", "governor"], dropna=False).size().reset_index(name="k")
    counts = counts.sort_values(["device", "k", "governor"], ascending=[True, False, True])
    reference = counts.drop_duplicates("device").set_index("device")["governor"]
    usable = usable[usable["governor"] == usable["device"].map(reference)]
    ranked = usable.sort_values(["central_ms", "variant", "engine"]).groupby(key, dropna=False)
    best = ranked.nth(0).reset_index(drop=True)
    second = ranked.nth(1).set_index(key)
    best = best.join(second[["variant", "engine", "central_ms", "central_kind", "ci95_low_ms"]]
                     .add_prefix("next_"), on=key)
    best = best.merge(_reference(cells), on=GROUP, how="left")
    best["speedup"] = _same_kind_ratio(best["ref_central_ms"], best["central_ms"],
                                       best["central_kind"] == best["ref_central_kind"])
    best["runner_up"] = (best["next_variant"].fillna("") + " " + best["next_engine"].fillna("")).str.strip()
    best["margin"] = _same_kind_ratio(best["next_central_ms"], best["central_ms"],
                                      best["central_kind"] == best["next_central_kind"])
    best["clear"] = beyond_noise(best)
    best["fidelity"] = best["outputs"]
    best["flags"] = flags(best).tolist()
    columns = [col("model", "model", filter=True), col("device", "device", filter=True),
               col("abi", "ABI", filter=True), col("governor", "governor"),
               col("variant", "variant", filter=True), col("engine", "engine", filter=True),
               *central_columns(),
               col("speedup", "vs fp32 same engine", "ratio", 2),
               col("runner_up", "runner-up"), col("margin", "runner-up slower by", "ratio", 2),
               col("clear", "beyond noise?", filter=True, title="winner CI95 high < runner-up CI95 low"),
               col("fidelity", "outputs", filter=True, title=OUTPUTS_TITLE),
               col("flags", "flags", "flags")]
    return table(columns, best.sort_values(key))
