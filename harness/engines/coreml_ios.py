"""Core ML on iPhones: the job the EdgelabRunner app reads and the results it writes.

The runner (ios/EdgelabRunner/, Swift) reads ``job.json`` from its Documents folder, runs the
compiled model with the asked compute units (warm-up, then timed iterations, ``repeats`` times)
and writes ``results.json`` beside it. This module builds the job and turns the results into the
same ``RawRun`` every other device kind produces, one per repeat. Both formats carry ``schema``;
a results file of another schema, or one that is not the runner's, is refused by name.

Also here: the iOS version a Core ML model needs (its specification version, read from the
protobuf's first field without importing coremltools), so a model built for a newer iOS than
the phone's is ``unsupported`` with both versions before anything is deployed.

NOT RUN ON A REAL iPHONE: the formats follow the Swift source, whose output was not produced on a
device (docs/ios.md, "Status").
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import MeasurementError, Unsupported, UsageError
from .base import RawRun, RunSettings

SCHEMA = 1
# MLComputeUnits cases by their Swift names (cpuAndNeuralEngine needs iOS 16)
COMPUTE_UNITS = ("cpuOnly", "cpuAndGPU", "all", "cpuAndNeuralEngine")
COMPUTE_UNITS_MIN_IOS = {"cpuAndNeuralEngine": 16}
THERMAL_STATES = ("nominal", "fair", "serious", "critical")  # ProcessInfo.ThermalState order
# Core ML specification version -> the first iOS that reads it (coremltools'
# _SPECIFICATION_VERSION_IOS_* constants)
SPEC_TO_IOS = {1: "11.0", 2: "11.2", 3: "12.0", 4: "13.0", 5: "14.0", 6: "15.0", 7: "16.0",
               8: "17.0", 9: "18.0", 10: "26.0"}


def _version_tuple(text: str | None) -> tuple[int, ...]:
    parts = []
    for piece in str(text or "").split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def build_job(model_name: str, settings: RunSettings, compute_units: str,
              job_id: str, device_version: str | None = None) -> dict[str, Any]:
    """The runner's job for one cell. ``model_name`` is the model's name inside the job folder
    (an ``.mlpackage``/``.mlmodel`` the runner compiles, or an ``.mlmodelc`` it loads)."""
    if compute_units not in COMPUTE_UNITS:
        raise UsageError(f"--ios-compute-units {compute_units!r}: use one of "
                         f"{', '.join(COMPUTE_UNITS)}")
    need = COMPUTE_UNITS_MIN_IOS.get(compute_units)
    have = _version_tuple(device_version)
    if need and have and have[0] < need:
        raise Unsupported(f"compute units {compute_units} need iOS {need}+; this iPhone runs "
                          f"iOS {device_version}")
    if not model_name.endswith((".mlpackage", ".mlmodel", ".mlmodelc")):
        raise UsageError(f"{model_name}: the runner loads .mlpackage, .mlmodel or .mlmodelc")
    return {"schema": SCHEMA, "job_id": job_id, "model": model_name,
            "compute_units": compute_units, "warmup": int(settings.warmup),
            "iterations": int(settings.iterations), "repeats": 1,
            "min_time_s": float(settings.min_time_s), "timeout_s": float(settings.timeout_s),
            "results": "results.json"}


def parse_results(text: str, job: dict[str, Any] | None = None) -> list[RawRun]:
    """``results.json`` -> one RawRun per repeat (per-iteration samples, the runner's own
    clock). A runner that failed raises MeasurementError with its message."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MeasurementError(f"EdgelabRunner results are not JSON ({exc}): "
                               f"{text[:200]!r}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise MeasurementError(f"EdgelabRunner results of schema {found!r}; this edgelab reads "
                               f"schema {SCHEMA}: rebuild the runner from ios/EdgelabRunner")
    if job is not None and data.get("job_id") != job.get("job_id"):
        raise MeasurementError(f"EdgelabRunner results are for job {data.get('job_id')!r}, not "
                               f"{job.get('job_id')!r} (a stale results.json)")
    if data.get("status") != "ok":
        raise MeasurementError(f"EdgelabRunner: {data.get('error') or 'failed without a message'}")
    repeats = data.get("repeats") or []
    if not repeats or not all(r.get("latencies_ms") for r in repeats):
        raise MeasurementError("EdgelabRunner results hold no timed iterations")
    memory = data.get("memory") or {}
    peak = _mb(memory.get("footprint_peak_bytes"))
    before = _mb(memory.get("footprint_before_load_bytes"))
    common = {
        "runner_version": data.get("runner_version"), "compute_units": data.get("compute_units"),
        "compute_units_available": data.get("compute_units_available"),
        "compile_ms": data.get("compile_ms"), "device_model": data.get("device_model"),
        "os_version": data.get("os_version"),
    }
    # the virtual iPhone's stand-in runner (harness/virtual/ios/runner.py) says it is one: no
    # Core ML ran, so the record must not read like a Core ML measurement
    virtual = data.get("virtual") if isinstance(data.get("virtual"), dict) else None
    engine_version = (f"Core ML on iOS {data.get('os_version')} (EdgelabRunner "
                      f"{data.get('runner_version')})")
    if virtual:
        engine_version = (f"virtual stand-in of EdgelabRunner on iOS {data.get('os_version')} "
                          f"(no Core ML ran)")
        common["tool"] = {"name": "EdgelabRunner", "virtual": True,
                          "origin": str(virtual.get("origin") or "virtual stand-in"),
                          "iteration_ms": virtual.get("iteration_ms")}
    runs = []
    for index, repeat in enumerate(repeats):
        states = [repeat.get("thermal_state_before"), repeat.get("thermal_state_after")]
        extra = {**common, "repeat_index": index, "thermal_state": states,
                 "throttled": _rose(*states), "warmup_ms": repeat.get("warmup_ms")}
        marks = repeat.get("timed_unix_s")  # the loop on the phone's wall clock (runner >= 1.1)
        if (isinstance(marks, list) and len(marks) == 2
                and all(isinstance(v, (int, float)) for v in marks) and marks[0] <= marks[1]):
            extra["timed_unix_s"] = [float(v) for v in marks]
        runs.append(RawRun(
            samples_ms=tuple(float(v) for v in repeat["latencies_ms"]),
            load_ms=data.get("load_ms"), first_ms=(repeat.get("warmup_ms") or [None])[0],
            peak_rss_mb=peak, rss_before_load_mb=before,
            engine_version=engine_version,
            backend=(f"virtual stand-in ({data.get('compute_units')} asked)" if virtual
                     else f"Core ML {data.get('compute_units')}"), threads=0, extra=extra,
            memory={"source": "task_info TASK_VM_INFO phys_footprint in the runner app",
                    "footprint_after_load_mb": _mb(memory.get("footprint_after_load_bytes"))}))
    return runs


def _mb(value: Any) -> float | None:
    return None if value is None else round(float(value) / 2 ** 20, 3)


def _rose(before: str | None, after: str | None) -> bool | None:
    """Throttled = the thermal state rose during the repeat (the record's Android meaning:
    conditions changed under the measurement); None when either is unknown."""
    if before not in THERMAL_STATES or after not in THERMAL_STATES:
        return None
    return THERMAL_STATES.index(after) > THERMAL_STATES.index(before)


def specification_version(path: Path) -> int | None:
    """The Core ML specification version of an ``.mlpackage`` or ``.mlmodel``: field 1 of the
    Model protobuf (a varint, serialised first). None for a compiled ``.mlmodelc`` or a file
    that does not start that way."""
    path = Path(path)
    if path.is_dir() and path.suffix == ".mlpackage":
        candidates = sorted(path.glob("Data/com.apple.CoreML/*.mlmodel"))
        if not candidates:
            return None
        path = candidates[0]
    if not path.is_file():
        return None
    head = path.read_bytes()[:11]
    if not head or head[0] != 0x08:  # field 1, wire type 0
        return None
    value, shift = 0, 0
    for byte in head[1:]:
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7
    return None


def check_deployment(path: Path, device_version: str | None) -> None:
    """Unsupported, with both versions, when the model needs a newer iOS than the phone's."""
    spec = specification_version(path)
    need = SPEC_TO_IOS.get(spec) if spec is not None else None
    have = _version_tuple(device_version)
    if need and have and have < _version_tuple(need):
        raise Unsupported(f"{Path(path).name} is a Core ML specification-{spec} model, which "
                          f"needs iOS {need} or newer; this iPhone runs iOS {device_version} "
                          f"(convert it with an older minimum_deployment_target)")
