"""A run's records -> the gate's cells (``results/gate.py`` ``Cell``): the comparison key, the
conditions that forbid a comparison, and each metric's samples.

The key's device is the device *model* and its matched profile (``device_profiles/``), not the
serial: a phone on another USB port or over the network, or a virtual device on a new loopback
port, is the same device for a baseline. A device without a model name (getprop failed) falls
back to its id, the only identity it has. Records from before the governor axis are "default".
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..results.gate import Cell, CellKey, MetricData
from .cells import SEVERITY, latency_records
from .frame import RecordTable

KEY_COLUMNS = ["_key_device", "virtual", "abi", "model", "variant", "engine", "governor", "_threads"]


def device_label(identity: dict, device_id: str) -> str:
    name = str(identity.get("model") or "").strip() or device_id
    profile = str(identity.get("profile") or "").strip()
    return f"{name} [{profile}]" if profile else name


def gate_cells(table: RecordTable) -> list[Cell]:
    frame = table.frame
    if frame.empty:
        return []
    devices = table.identities.get("device", {})
    labels = {dev: device_label(devices.get(dev, {}), dev) for dev in frame["device"].unique()}
    serials = {dev: str(devices.get(dev, {}).get("serial") or dev) for dev in labels}
    work = frame.assign(_key_device=frame["device"].map(labels),
                        _threads=[_threads(t) for t in frame["threads"]],
                        _severity=frame["status"].map(SEVERITY).fillna(4).astype(int))
    _fill_unknown_threads(work)
    measured = set(latency_records(frame).index)
    # per cell, only the columns it reads: .loc on the whole record frame copied ~60 columns per
    # cell (20 s for the 4,440 cells of benchmarks/report_scale.py, 1 s with this)
    narrow = frame[RECORD_COLUMNS]
    cells = []
    for (device, virtual, *rest), group in work[[*KEY_COLUMNS, "device", "status", "reason",
                                                "variant_sha256", "_severity"]].groupby(
            KEY_COLUMNS, sort=True, dropna=False):
        key = CellKey(_text(device), bool(virtual), *(_text(k) for k in rest))
        cells.append(_cell(table, key, group, [i for i in group.index if i in measured], serials,
                           narrow))
    return cells


def _fill_unknown_threads(work: pd.DataFrame) -> None:
    """A cell that failed before its engine ran records no thread count: it belongs to the cell
    of the same device, model, variant, engine and governor when that cell has one count."""
    unknown = work["_threads"] == ""
    if not unknown.any():
        return
    others = KEY_COLUMNS[:-1]
    known = work.loc[~unknown].groupby(others, dropna=False)["_threads"].unique()
    for idx in work.index[unknown]:
        counts = known.get(tuple(work.loc[idx, others]), ())
        if len(counts) == 1:
            work.loc[idx, "_threads"] = counts[0]


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _threads(value) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:g}"


RECORD_COLUMNS = ["charging", "throttled", "noisy", "noise_reason", "tool_summary", "central_ms",
                  "mean_ms", "peak_rss_mb", "energy_mj", "recheck"]


def _cell(table: RecordTable, key: CellKey, group: pd.DataFrame, measured: list[int],
          serials: dict[str, str], narrow: pd.DataFrame | None = None) -> Cell:
    worst = group.loc[group["_severity"].idxmax()]
    recs = (table.frame if narrow is None else narrow).loc[measured]
    charging = recs["charging"].to_numpy(dtype=bool) if len(recs) else np.zeros(0, bool)
    return Cell(
        key=key, device_id=", ".join(sorted(group["device"].unique())),
        serial=", ".join(sorted({serials[d] for d in group["device"].unique()})),
        sha256=", ".join(sorted(v for v in group["variant_sha256"].unique() if v)),
        status=str(worst["status"]), reason=_text(worst["reason"]), measured=bool(measured),
        throttled=bool(recs["throttled"].any()) if len(recs) else False,
        # charging is recorded only where it is known: any record charging says so
        charging=bool(charging.any()) if len(recs) else None,
        noisy="; ".join(sorted({r for r in recs.loc[recs["noisy"], "noise_reason"] if r}))
        or ("noisy" if len(recs) and recs["noisy"].any() else ""),
        rechecks=_rechecks(recs),
        metrics=_metrics(table, recs) if measured else {})


def _rechecks(recs: pd.DataFrame) -> int:
    done = recs["recheck"].to_numpy(dtype=float) if len(recs) else np.zeros(0)
    done = done[np.isfinite(done)]
    return int(done.max()) if done.size else 0


def _figures(recs: pd.DataFrame, column: str) -> tuple[float, ...]:
    values = recs[column].to_numpy(dtype=float)
    return tuple(float(v) for v in values[np.isfinite(values)])


def _metrics(table: RecordTable, recs: pd.DataFrame) -> dict[str, MetricData]:
    tool = recs["tool_summary"].to_numpy(dtype=bool)
    series = tuple(s for s in (tuple(table.samples(i).tolist()) for i in recs.index[~tool]) if s)
    label = "tool summary (mean)" if tool.all() else "median"
    return {
        # a tool's record holds its mean, never a median: ranked as the cell's per-record figure
        "latency": MetricData(series, {"median": _figures(recs, "central_ms"),
                                       "mean": _figures(recs, "mean_ms")}, label),
        "memory": MetricData((), {"peak": _figures(recs, "peak_rss_mb")}, "peak memory figure"),
        "energy": MetricData((), {"per_inference": _figures(recs, "energy_mj")},
                             "energy figure"),
    }
