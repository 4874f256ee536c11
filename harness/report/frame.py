"""Records -> ``RecordTable``: one flat pandas DataFrame (one row per record, scalar columns) plus
every record's latency samples in one numpy array and the thermal traces of the few that have one.

Everything downstream groups this frame, so tolerance for missing or odd sub-keys lives here: a
key that is absent, null or of the wrong type becomes ""/NaN/False and never an exception.
Two routes fill the same raw columns: ``decode`` (typed msgspec, fast, declines odd records) and
``flatten`` below (plain dicts, tolerant, slow); see decode.py for why both exist.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import DEFAULT_COMPUTE_UNITS
from ..errors import UsageError
from ..results.schema import SchemaError, upgrade
from .outputs import carry_host_verdicts

try:
    from . import decode as _fast
except ImportError:  # msgspec missing: every record takes the tolerant route
    _fast = None

IDENTITY = ("device", "model", "variant", "engine")
LATENCY = ("n", "median_ms", "min_ms", "max_ms", "p90_ms", "p99_ms", "ci95_low_ms",
           "ci95_high_ms", "iqr_ms", "cv", "load_ms", "mean_ms", "std_ms", "summary_only")
RECORD_TEXT = ("test_id", "suite", "status", "reason", "governor", "noise_reason", "cond_abi",
               "tool", "power_unavailable", "throttle_changes", "compute_units")
# power figures under the names writers used: avg_power_mw is telemetry/summary.py's
POWER_MW_KEYS = ("avg_power_mw", "mean_mw", "avg_mw", "power_mw")
RECORD_FLAGS = ("cond_virtual", "charging", "noisy", "throttled", "hot_start")
RECORD_NUMBERS = ("cond_threads", "temp_c", "other_cpu_pct", *LATENCY, "peak_rss_mb", "power_mw",
                  "energy_direct_mj", "fid_cosine", "fid_max_abs", "fid_agree", "fid_nme", "fid_ok",
                  "repeat_of", "recheck")


@dataclass
class RecordTable:
    frame: pd.DataFrame          # row i = record i (columns: see _identity_columns and RECORD_*)
    sample_values: np.ndarray    # every record's samples_ms, concatenated in record order
    sample_offsets: np.ndarray   # record i's samples are values[offsets[i]:offsets[i + 1]]
    traces: dict[int, Any]       # record index -> extra.trace (only records that carry one)
    identities: dict[str, dict[str, dict]]  # "device" -> id -> the fullest identity dict seen
    torn_lines: int = 0          # lines skipped as torn (a write cut short); the report says so

    def samples(self, idx: int) -> np.ndarray:
        return self.sample_values[self.sample_offsets[idx]:self.sample_offsets[idx + 1]]


# -- tolerant helpers ----------------------------------------------------------------------
def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None or isinstance(value, dict) else str(value)


def _num(value: Any) -> float | None:
    # bool is an int subclass: a stray True must not become latency 1.0
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _pick(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def _blob(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str).encode()


def flatten(rec: dict) -> dict[str, Any]:
    """One record dict -> its raw per-record columns (same keys as ``decode.columns``)."""
    cond, lat = _dict(rec.get("conditions")), _dict(rec.get("latency"))
    power, fid = _dict(rec.get("power")), _dict(rec.get("fidelity"))
    samples = rec.get("samples_ms")
    values = [v for v in samples if _num(v) is not None] if isinstance(samples, list) else []
    ok = fid.get("ok")
    out = {
        "test_id": rec.get("test_id"), "suite": rec.get("suite"), "status": rec.get("status"),
        "reason": rec.get("reason"),
        # the requested governor: records from before the governor axis were all measured
        # as found, i.e. at "default", which keeps them comparable as baselines
        "governor": cond.get("governor_requested") or "default",
        "noise_reason": cond.get("noise_reason"),
        "compute_units": cond.get("ios_compute_units"),  # iPhone Core ML cells (run/cases.py)
        "cond_abi": cond.get("abi"), "cond_threads": _num(cond.get("threads")),
        "cond_virtual": cond.get("virtual"), "charging": cond.get("charging"),
        "noisy": cond.get("noisy"), "throttled": cond.get("throttled"),
        "hot_start": cond.get("hot_start"),  # the cooldown timed out (run/cooldown.py)
        "temp_c": _num(cond.get("temp_c")), "other_cpu_pct": _num(cond.get("other_cpu_pct")),
        "peak_rss_mb": _num(_dict(rec.get("memory")).get("peak_rss_mb")),
        "power_mw": _pick(*(_num(power.get(k)) for k in POWER_MW_KEYS)),
        "power_unavailable": power.get("unavailable"),
        "throttle_changes": "; ".join(map(str, changes)) if isinstance(
            changes := _dict(cond.get("throttle")).get("changes"), list) else None,
        "energy_direct_mj": _pick(*(_num(power.get(k)) for k in (
            "energy_per_inference_mj", "energy_mj_per_inference", "energy_mj"))),
        "fid_cosine": _num(fid.get("cosine")),
        "fid_max_abs": _num(fid.get("max_abs_err")),
        # the task-level figure (harness/fidelity.py): top-1 agreement, map IoU or landmark NME
        "fid_agree": _pick(_num(fid.get("top1_agreement")), _num(fid.get("iou"))),
        "fid_nme": _num(fid.get("landmark_nme")),
        "fid_ok": float(ok) if isinstance(ok, bool) else None,
        "_trace": _dict(rec.get("extra")).get("trace"),
        "tool": _dict(_dict(rec.get("extra")).get("tool")).get("file"),
        "repeat_of": _num(_dict(_dict(rec.get("extra")).get("repeat")).get("of")),
        "recheck": _num(_dict(_dict(rec.get("extra")).get("repeat")).get("recheck")),
        "_samples": _blob(values),
    }
    out.update({k: _num(lat.get(k)) for k in LATENCY})
    summary_only = lat.get("summary_only")  # a flag among numbers: 1.0 / 0.0, as msgspec gives it
    out["summary_only"] = float(summary_only) if isinstance(summary_only, bool) else None
    out.update({f"_{part}": _blob(rec.get(part)) for part in IDENTITY})
    for key in RECORD_TEXT:
        out[key] = _text(out[key])
    return out


def has_trace(trace: Any) -> bool:
    """A trace as telemetry/trace.py writes it ({"t_s": [...], series...}) or as a list of
    point dicts ({"t_s", "temp_c", ...} each), with at least one point."""
    if isinstance(trace, dict):
        return isinstance(trace.get("t_s"), list) and bool(trace["t_s"])
    return isinstance(trace, list) and bool(trace)


def _identity(part: str, blob: bytes) -> dict[str, Any]:
    """Attributes of one distinct identity object (decoded once, however many records share it)."""
    try:
        data = _dict(json.loads(blob))
    except ValueError:
        data = {}
    name = _text(_pick(data.get("name"), data.get("id")) if part in ("model", "engine")
                 else _pick(data.get("id"), data.get("name"))) or "?"
    out = {part: name, f"{part}_abi": _text(data.get("abi")), "_dict": data}
    if part == "device":
        abis = data.get("abis")
        out.update(device_kind=_text(data.get("kind")), device_model=_text(data.get("model")),
                   device_soc=_text(data.get("soc")), device_os=_text(data.get("os")),
                   device_arch=_text(data.get("arch")), device_abis=_text(abis),
                   device_abi=_text(_pick(data.get("abi"), abis[0] if isinstance(abis, list) and abis
                                          else None, data.get("arch"))),
                   device_virtual=data.get("virtual") is True)
    elif part == "model":
        out.update(model_task=_text(data.get("task")), model_format=_text(data.get("format")))
    elif part == "variant":
        out.update(variant_format=_text(data.get("format")), variant_bytes=_num(data.get("bytes")),
                   variant_converter=_text(data.get("converter")),
                   variant_sha256=_text(data.get("sha256")))
    else:
        out.update(engine_version=_text(data.get("version")), engine_backend=_text(data.get("backend")),
                   engine_threads=_num(data.get("threads")))
    return out


def _decode_tolerant(line: bytes, number: int, last: bool, source: str) -> dict | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        if last:
            return None  # a crash mid-append tears at most the last line: skip it, keep the rest
        raise UsageError(f"{source} line {number} is not a JSON record: the file was edited or "
                         f"damaged; remove that line to report the rest") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source} line {number} is not a JSON object")
    try:
        return flatten(upgrade(data))
    except SchemaError as exc:
        raise UsageError(f"{source} line {number}: {exc}") from None


# -- assembly: chunks of lines -> arrays (parallelisable), then one merge ----------------
def chunk(buf: bytes | memoryview, first: int, total: int, source: str) -> dict[str, Any]:
    """Lines numbered ``first``.. of a ``total``-line file -> ready-to-concatenate arrays. Runs in
    a worker process for big files (load.py), so it returns arrays and small lists. ``total`` 0:
    the file's last line is in another chunk (counting it costs 0.1 s per 150 MB)."""
    typed = _fast.decode_all(buf) if _fast else None
    torn = 0
    if typed is not None:  # the common case: every line typed, decoded in one call
        cols, count = _fast.columns(typed), len(typed)
    else:
        cols, count, torn = _line_by_line(bytes(buf).split(b"\n"), first, total, source)
    empty = [None] * count
    values, lengths = _samples(cols.get("_samples", []))
    return {
        "count": count, "torn": torn,
        "text": {k: [v or "" for v in cols.get(k, empty)] for k in RECORD_TEXT},
        "flags": {k: np.array([v is True for v in cols.get(k, empty)], dtype=bool) for k in RECORD_FLAGS},
        "numbers": {k: np.asarray(cols.get(k, empty), dtype=float) for k in RECORD_NUMBERS},
        "identity": {p: _codes(cols.get(f"_{p}", [b"null"] * count)) for p in IDENTITY},
        "traces": {i: t for i, t in enumerate(cols.get("_trace", [])) if has_trace(t)},
        "sample_values": values, "sample_lengths": lengths,
    }


def _line_by_line(part: list[bytes], first: int, total: int,
                  source: str) -> tuple[dict, int, int]:
    """Typed where a line allows it, tolerant where not; line numbers for error messages.
    ``(columns, records, torn lines skipped)``."""
    typed, declined = _fast.decode_lines(part) if _fast else ([None] * len(part), range(len(part)))
    positions = [i for i, rec in enumerate(typed) if rec is not None]
    cols = _fast.columns([typed[i] for i in positions]) if positions else {}
    cols = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in cols.items()}
    torn = 0
    for pos in declined:
        if not part[pos].strip():
            continue
        number = first + pos
        row = _decode_tolerant(part[pos], number, number == total, source)
        torn += row is None
        if row is not None:
            positions.append(pos)
            for key, value in row.items():
                cols.setdefault(key, []).append(value)
    order = np.argsort(np.asarray(positions, dtype=np.int64), kind="stable")
    if len(order) and (order != np.arange(len(order))).any():
        cols = {k: [v[i] for i in order] for k, v in cols.items()}
    return cols, len(positions), torn


def _codes(blobs: list[bytes]) -> tuple[np.ndarray, list[bytes]]:
    index: dict[bytes, int] = {}
    codes = np.array([index.setdefault(b, len(index)) for b in blobs], dtype=np.int64)
    return codes, list(index)


def merge(chunks: list[dict[str, Any]]) -> RecordTable:
    count = sum(c["count"] for c in chunks)
    frame = pd.DataFrame(index=pd.RangeIndex(count))
    for key in RECORD_TEXT:
        frame[key] = _text_column(np.concatenate([np.asarray(c["text"][key], dtype=object)
                                                  for c in chunks]) if chunks else
                                  np.zeros(0, dtype=object))
    for group in ("flags", "numbers"):
        for key in chunks[0][group] if chunks else ():
            frame[key] = np.concatenate([c[group][key] for c in chunks])
    identities: dict[str, dict[str, dict]] = {}
    for part in IDENTITY:
        identities[part] = _identity_columns(frame, part, [c["identity"][part] for c in chunks])
    _derive(frame)
    traces, base = {}, 0
    for c in chunks:
        traces.update({base + i: t for i, t in c["traces"].items()})
        base += c["count"]
    frame["has_trace"] = frame.index.isin(list(traces))
    lengths = np.concatenate([c["sample_lengths"] for c in chunks]) if chunks else np.zeros(0, np.int64)
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate([c["sample_values"] for c in chunks]) if chunks else np.zeros(0)
    return RecordTable(frame, values, offsets, traces, identities,
                       torn_lines=sum(c["torn"] for c in chunks))


def _identity_columns(frame: pd.DataFrame, part: str, coded: list) -> dict[str, dict]:
    """Decode each distinct identity object once and spread its attributes over the records."""
    index: dict[bytes, int] = {}
    codes = [np.array([index.setdefault(b, len(index)) for b in uniques], dtype=np.int64)[local]
             if len(uniques) else local for local, uniques in coded]
    codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    decoded = [_identity(part, blob) for blob in index] or [_identity(part, b"null")]
    fullest: dict[str, dict] = {}
    for d in decoded:  # keep the fullest dict per name: later records may add keys (soc, os)
        if index and len(d["_dict"]) >= len(fullest.get(d[part], {})):
            fullest[d[part]] = d["_dict"]
    for key in decoded[0]:
        if key != "_dict":
            column = np.array([d[key] for d in decoded], dtype=object)[codes]
            frame[key] = _text_column(column) if column.size and isinstance(column[0], str) else column
    return fullest


# pandas 3 turns text into its "str" dtype (backed by pyarrow whenever pyarrow is installed, as
# the columnar copy needs). The report iterates, takes and groups these columns element-wise, and
# there both str storages were 2-4x slower than plain object arrays at 100,000 records: keep
# object dtype, which is what pandas 2 always gave.
def _text_column(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object, copy=False)


def build_table(lines: list[bytes], source: str = "results.jsonl") -> RecordTable:
    """Serial build from lines (load.py decodes files, in worker processes when big)."""
    end = len(lines)
    while end and not lines[end - 1].strip():  # the last real line is the one a crash can tear
        end -= 1
    return merge([chunk(b"\n".join(lines[:end]), 1, end, source)])


def _name_compute_units(frame: pd.DataFrame) -> None:
    """An iPhone Core ML cell measured with other compute units than Core ML's default (``all``,
    --ios-compute-units) is its own engine column, ``coreml/cpuOnly``: cells of one phone, model
    and variant with different compute units are different measurements, and side by side they
    compare like engines. Cells at the default keep the plain name (and their baselines)."""
    units = frame["compute_units"]
    named = ((units != "") & (units != DEFAULT_COMPUTE_UNITS)).to_numpy()
    if named.any():
        frame.loc[named, "engine"] = frame.loc[named, "engine"] + "/" + units[named]


def _derive(frame: pd.DataFrame) -> None:
    """Columns that combine identity and per-record values (which one wins, and why)."""
    # the ABI a cell ran under: phones with arm64 and armv7 ABIs run one cell per ABI
    abi = frame["engine_abi"]
    for other in ("variant_abi", "cond_abi", "device_abi"):
        abi = abi.where(abi != "", frame[other])
    frame["abi"] = abi
    frame["virtual"] = frame["cond_virtual"] | frame["device_virtual"].astype(bool)
    frame["threads"] = frame["engine_threads"].astype(float).fillna(frame["cond_threads"])
    _name_compute_units(frame)
    frame["variant_bytes"] = frame["variant_bytes"].astype(float)
    # phone tools print a summary, not samples (engines/device_tools.py): their central figure is
    # the tool's own mean, never called a median; everything else has samples and a median
    frame["tool_summary"] = (frame["summary_only"] == 1).to_numpy()
    frame["central_ms"] = frame["median_ms"].where(~frame["tool_summary"], frame["mean_ms"])
    # records written before the tool's std fed cv: the same figure, std / mean of the tool
    frame["cv"] = frame["cv"].fillna((frame["std_ms"] / frame["mean_ms"]).where(frame["tool_summary"]))
    frame["energy_mj"] = frame["energy_direct_mj"].fillna(frame["power_mw"] * frame["central_ms"] / 1000.0)
    carry_host_verdicts(frame)


def _samples(raw: list[bytes]) -> tuple[np.ndarray, np.ndarray]:  # (values, lengths)
    """Parse every record's raw ``[..]`` sample text in one call (per-record parsing is slow);
    if some record holds a non-number, parse record by record and keep only the numbers."""
    # msgspec hands over the exact array text ("[1.2,3.4]"); odd spacing only costs the fallback
    bodies = [r[1:-1] if isinstance(r, bytes) else b"" for r in raw]
    lengths = np.fromiter((b.count(b",") + 1 if b else 0 for b in bodies), dtype=np.int64,
                          count=len(bodies))
    try:
        text = b"[" + b",".join(b for b in bodies if b) + b"]"
        values = np.asarray(_fast.decode_floats(text) if _fast else json.loads(text), dtype=float)
        if values.size != lengths.sum():
            raise ValueError("sample count mismatch")
    except (ValueError, TypeError):
        per_record = [_floats(b) for b in bodies]
        lengths = np.array([len(v) for v in per_record], dtype=np.int64)
        values = np.array([v for vals in per_record for v in vals], dtype=float)
    return values, lengths


def _floats(body: bytes) -> list[float]:
    try:
        items = json.loads(b"[" + body + b"]")
    except ValueError:
        return []
    return [v for v in map(_num, items) if v is not None]
