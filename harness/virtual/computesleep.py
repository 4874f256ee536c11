"""``compute_sleep_ms``: a virtual phone whose tools compute nothing and sleep a fixed time.

For orchestration benchmarks only (benchmarks/farm_scale.py): on a 2-core host eight virtual
phones running real engines compete for the same two cores, so their wall time measures the host,
not edgelab. With this option a tool run sleeps ``ms`` per iteration on the phone's side (no
engine process, no host CPU), so what scales or not is edgelab's own work: discovery, deploy,
leases, collection. It is labelled wherever it shows: getprop ``ro.edgelab.simulated`` gains
``compute_sleep`` and ``ro.edgelab.compute_sleep_ms`` holds the value; the tool reports the engine
version ``fixed sleep N ms per iteration (virtual compute_sleep)``. Never for measuring a model.
"""
from __future__ import annotations

import math
import time


def label_props(props: dict[str, str], ms: float) -> None:
    props["ro.edgelab.simulated"] = props.get("ro.edgelab.simulated", "") + ",compute_sleep"
    props["ro.edgelab.compute_sleep_ms"] = f"{ms:g}"


def sleep_run(shell, spec: dict, ms: float) -> dict:
    """A toolrun.py result for ``spec`` where every iteration took ``ms`` of sleep.

    One wait per phase (interruptible: the stream closing or ``timeout`` ends it as they end a
    real tool); each iteration's sample is the phase's measured wall time / iterations."""
    result: dict = {"engine_version": f"fixed sleep {ms:g} ms per iteration (virtual compute_sleep)",
                    "backend": "sleep", "load_ms": 0.0, "input_shapes": dict(spec.get("shapes", {})),
                    "rss_start_mb": 0.0, "rss_after_load_mb": 0.0, "peak_rss_mb": 0.0,
                    "cpu_pct": 0, "phases": [], "phase_wall_s": [], "phase_start_s": []}
    for min_runs, min_seconds in spec["phases"]:
        result["phase_start_s"].append(time.monotonic())
        if min_runs <= 0 and min_seconds <= 0:
            result["phases"].append([])
            result["phase_wall_s"].append(0.0)
            continue
        runs = max(int(min_runs), 1, math.ceil(float(min_seconds) * 1000.0 / ms) if ms else 1)
        start = time.perf_counter()
        shell.wait(runs * ms / 1000.0)
        wall = time.perf_counter() - start
        result["phases"].append([int(wall * 1e9 / runs)] * runs)
        result["phase_wall_s"].append(wall)
    return result
