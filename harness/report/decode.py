"""Fast path: decode records straight into per-record columns with typed msgspec Structs.

Why: at 100,000 records the generic route (json -> dicts -> a Python loop per field) spends
seconds creating objects the report never reads (test ids, timestamps, before/after snapshots).
These Structs name only what the report uses; msgspec skips the rest in C, and ``attrgetter``
pulls each column out without a Python-level loop. Identity objects (device, model, variant,
engine) repeat across thousands of records, so they stay raw JSON here and ``frame`` decodes each
distinct one once. Samples stay raw text too and are parsed in one numpy-bound call.

A line whose values have unexpected types (a string temperature, a null device) fails validation
here and takes the tolerant path in ``frame.flatten`` instead: odd records from new device kinds
cost speed, never correctness.
"""
from __future__ import annotations

from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
from msgspec import Raw, Struct
from msgspec.structs import astuple

from ..results.schema import SCHEMA_VERSION

T = str | None
F = float | None
B = bool | None


class _Throttle(Struct, frozen=True, gc=False):
    changes: list[str] | None = None


class _Conditions(Struct, frozen=True, gc=False):
    governor_requested: T = None
    temp_c: F = None
    charging: B = None
    other_cpu_pct: F = None
    noisy: B = None
    noise_reason: T = None
    virtual: B = None
    throttled: B = None
    hot_start: B = None  # the cooldown timed out before the cell (run/cooldown.py)
    threads: F = None
    abi: T = None
    ios_compute_units: T = None
    throttle: _Throttle | None = None


class _Latency(Struct, frozen=True, gc=False):
    n: F = None
    median_ms: F = None
    min_ms: F = None
    max_ms: F = None
    p90_ms: F = None
    p99_ms: F = None
    ci95_low_ms: F = None
    ci95_high_ms: F = None
    iqr_ms: F = None
    cv: F = None
    load_ms: F = None
    mean_ms: F = None
    std_ms: F = None
    summary_only: B = None  # a phone tool's own summary, no samples (engines/device_tools.py)


class _Memory(Struct, frozen=True, gc=False):
    peak_rss_mb: F = None


class _Power(Struct, frozen=True, gc=False):  # numbers, then the one text field
    avg_power_mw: F = None  # telemetry/summary.py's; the others are older writers' names
    mean_mw: F = None
    avg_mw: F = None
    power_mw: F = None
    energy_per_inference_mj: F = None
    energy_mj_per_inference: F = None
    energy_mj: F = None
    unavailable: T = None


class _Fidelity(Struct, frozen=True, gc=False):  # keys as harness/fidelity.py writes them
    cosine: F = None
    max_abs_err: F = None
    top1_agreement: F = None
    iou: F = None
    landmark_nme: F = None
    ok: B = None


class _Tool(Struct, frozen=True, gc=False):
    file: T = None


class _Repeat(Struct, frozen=True, gc=False):
    of: F = None
    recheck: F = None  # a re-measurement of an inconclusive cell (run/recheck.py): which one  # extra.repeat: this record is repeat index of ``of`` (run/bench.py)


class _Extra(Struct, frozen=True, gc=False):
    trace: Any = None
    tool: _Tool | None = None
    repeat: _Repeat | None = None


_NONE = {"cond": _Conditions(), "lat": _Latency(), "mem": _Memory(), "power": _Power(),
         "fid": _Fidelity(), "extra": _Extra()}
_NULL = Raw(b"null")


class _Record(Struct, gc=False):
    test_id: T = None
    suite: T = None
    status: T = None
    reason: T = None
    device: Raw = _NULL
    model: Raw = _NULL
    variant: Raw = _NULL
    engine: Raw = _NULL
    conditions: _Conditions = _NONE["cond"]
    latency: _Latency | None = None
    memory: _Memory | None = None
    power: _Power | None = None
    fidelity: _Fidelity | None = None
    samples_ms: Raw = Raw(b"[]")
    extra: _Extra = _NONE["extra"]
    schema_version: int = 1


_DECODER = msgspec.json.Decoder(_Record)
_FLOATS = msgspec.json.Decoder(list[float])


def decode_floats(text: bytes) -> list[float]:
    """One JSON array of numbers (all records' samples joined): ValueError if any is not one."""
    try:
        return _FLOATS.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(str(exc)) from None


def decode_all(buf: bytes | memoryview) -> list[_Record] | None:
    """Every record of a block of lines in one call (no per-line split or Python loop), or None
    when some line needs the line-by-line route, which then finds it. Blank lines are skipped,
    as that route skips them."""
    try:
        recs = _DECODER.decode_lines(buf)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    versions = set(map(attrgetter("schema_version"), recs))
    return recs if versions <= {SCHEMA_VERSION} else None


def decode_lines(lines: list[bytes]) -> tuple[list[_Record | None], list[int]]:
    """Typed records (None where the fast path declined) and the positions it declined."""
    out: list[_Record | None] = []
    declined = []
    decode = _DECODER.decode
    for pos, line in enumerate(lines):
        try:
            rec = decode(line) if line else None
        except (msgspec.ValidationError, msgspec.DecodeError):
            rec = None
        if rec is not None and rec.schema_version != SCHEMA_VERSION:
            rec = None  # older records need schema.upgrade, newer ones its error message
        if rec is None:
            declined.append(pos)
        out.append(rec)
    return out, declined


def _get(seq: list, field: str) -> list:
    return list(map(attrgetter(field), seq))


def _numbers(structs: list, cls: type, none: Struct, width: int | None = None) -> dict[str, np.ndarray]:
    """Columns of a Struct whose fields are all numbers (bool counts as 0/1, None as NaN): one
    ``astuple`` per record and one 2-D conversion in C, ~3x cheaper than a pass per field.
    ``width``: only the first fields are numbers (text fields come last)."""
    names = cls.__struct_fields__[:width]
    rows = [astuple(s or none)[:width] for s in structs]
    table = np.array(rows, dtype=float).reshape(len(rows), len(names))
    return dict(zip(names, np.ascontiguousarray(table.T)))


def _first(*columns: np.ndarray) -> np.ndarray:
    """Element-wise first value that is not NaN (JSON has no NaN, so NaN means missing)."""
    out = columns[0]
    for col in columns[1:]:
        out = np.where(np.isnan(out), col, out)
    return out


def columns(recs: list[_Record]) -> dict[str, Any]:
    """Per-record columns keyed like ``frame.flatten``: lists for text and flags (None =
    missing), float arrays for numbers (NaN = missing)."""
    cond = _get(recs, "conditions")
    lat = _numbers(_get(recs, "latency"), _Latency, _NONE["lat"])
    powers = _get(recs, "power")
    power = _numbers(powers, _Power, _NONE["power"], width=-1)
    fid = _numbers(_get(recs, "fidelity"), _Fidelity, _NONE["fid"])
    cols: dict[str, Any] = {
        "test_id": _get(recs, "test_id"), "suite": _get(recs, "suite"),
        "status": _get(recs, "status"), "reason": _get(recs, "reason"),
        "governor": [g or "default" for g in _get(cond, "governor_requested")],
        "noise_reason": _get(cond, "noise_reason"),
        "compute_units": _get(cond, "ios_compute_units"),
        "cond_abi": _get(cond, "abi"), "cond_virtual": _get(cond, "virtual"),
        "charging": _get(cond, "charging"), "noisy": _get(cond, "noisy"),
        "throttled": _get(cond, "throttled"), "hot_start": _get(cond, "hot_start"),
        "cond_threads": np.array(_get(cond, "threads"), dtype=float),
        "temp_c": np.array(_get(cond, "temp_c"), dtype=float),
        "other_cpu_pct": np.array(_get(cond, "other_cpu_pct"), dtype=float),
        "peak_rss_mb": _numbers(_get(recs, "memory"), _Memory, _NONE["mem"])["peak_rss_mb"],
        "power_mw": _first(power["avg_power_mw"], power["mean_mw"], power["avg_mw"],
                           power["power_mw"]),
        "power_unavailable": [p.unavailable if p else None for p in powers],
        "throttle_changes": ["; ".join(c.throttle.changes) if c.throttle and c.throttle.changes
                             else None for c in cond],
        "energy_direct_mj": _first(power["energy_per_inference_mj"],
                                   power["energy_mj_per_inference"], power["energy_mj"]),
        "fid_cosine": fid["cosine"], "fid_max_abs": fid["max_abs_err"],
        "fid_agree": _first(fid["top1_agreement"], fid["iou"]),
        "fid_nme": fid["landmark_nme"], "fid_ok": fid["ok"],
        "_trace": [r.extra.trace for r in recs],
        "tool": [r.extra.tool.file if r.extra.tool else None for r in recs],
        "recheck": np.array([r.extra.repeat.recheck if r.extra.repeat else None for r in recs],
                            dtype=float),
        "repeat_of": np.array([r.extra.repeat.of if r.extra.repeat else None for r in recs],
                              dtype=float),
        "_samples": list(map(bytes, _get(recs, "samples_ms"))),
    }
    for part in ("device", "model", "variant", "engine"):
        cols[f"_{part}"] = list(map(bytes, _get(recs, part)))
    cols.update(lat)
    return cols
