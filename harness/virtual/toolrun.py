"""``python -m harness.virtual.toolrun SPEC.json``: the host-CPU run behind a virtual tool stub.

A fresh process per tool run, like the real tool on the phone: its peak RSS is its own and a
crashing engine takes down only this process. Timing reuses ``harness.engines.child.timed_loop``
(the harness's one timing loop) once per phase, because the phone tools have phases of their own:
benchmark_model's warm-up ("at least N runs and S seconds") then its main run.

Spec keys: engine, model_path, threads, phases [[min_runs, min_seconds], ...], shapes
{input: [dims]}, positional_shapes [[dims], ...] (by input order), free_dims {dim_param: value},
result_path.
Result: load_ms, phases [[ns, ...], ...], phase_wall_s, phase_start_s (time.monotonic() at each
phase's start), cpu_pct (process CPU / wall / cores,
as ORT's perf_test computes it), rss_start_mb, rss_after_load_mb, peak_rss_mb, input_shapes,
engine_version, backend; on failure {"error": {"stage", "type", "message"}}.
"""
from __future__ import annotations

import os
import sys
import time

MAX_ITERATIONS = 1_000_000


def concrete_shape(declared, override, free_dims: dict[str, int]) -> tuple[int, ...]:
    if override:
        return tuple(int(d) for d in override)
    dims = []
    for dim in declared:
        if isinstance(dim, int) and dim > 0:
            dims.append(dim)
        elif isinstance(dim, str) and dim in free_dims:
            dims.append(int(free_dims[dim]))
        else:
            dims.append(1)  # what the real tools use for a free dimension nobody fixed
    return tuple(dims)


def build_feed(inputs, spec: dict) -> dict:
    from harness.engines.base import TensorSpec
    from harness.models.inputs import make_feed
    from harness.models.manifest import InputSpec

    feed = {}
    positional = spec.get("positional_shapes", [])
    for number, tensor in enumerate(inputs):
        override = spec.get("shapes", {}).get(tensor.name) or \
            (positional[number] if number < len(positional) else None)
        shape = concrete_shape(tensor.shape, override, spec.get("free_dims", {}))
        layout = "NHWC" if len(shape) == 4 and shape[-1] == 3 else "NCHW"
        part, _ = make_feed([TensorSpec(tensor.name, shape, tensor.dtype)],
                            InputSpec(shape=shape, layout=layout))
        feed.update(part)
    return feed


def run(spec: dict) -> dict:
    from harness.engines import get_engine
    from harness.engines.child import _peak_rss_mb, _status_kb, timed_loop

    result: dict = {"rss_start_mb": (_status_kb("VmRSS") or 0) / 1024.0}
    stage = "load"
    try:
        engine = get_engine(spec["engine"])
        result["engine_version"] = engine.version()
        start = time.perf_counter_ns()
        model = engine.load(spec["model_path"], spec["threads"])
        result["load_ms"] = (time.perf_counter_ns() - start) / 1e6
        result["backend"] = model.backend
        result["rss_after_load_mb"] = (_status_kb("VmRSS") or 0) / 1024.0
        stage = "inputs"
        feed = build_feed(model.inputs, spec)
        result["input_shapes"] = {k: list(v.shape) for k, v in feed.items()}
        model.set_inputs(feed)
        result["phases"], result["phase_wall_s"], result["phase_start_s"] = [], [], []
        for number, (min_runs, min_seconds) in enumerate(spec["phases"]):
            stage = f"phase {number}"
            result["phase_start_s"].append(time.monotonic())  # the parent's clock: toolspeed.py
            if min_runs <= 0 and min_seconds <= 0:
                result["phases"].append([])
                result["phase_wall_s"].append(0.0)
                continue
            cpu_before, wall_before = os.times(), time.perf_counter()
            samples = timed_loop(model, max(min_runs, 1), float(min_seconds), MAX_ITERATIONS)
            wall = time.perf_counter() - wall_before
            cpu_after = os.times()
            used = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
            result["cpu_pct"] = round(100.0 * used / max(wall, 1e-9) / (os.cpu_count() or 1))
            result["phases"].append(samples)
            result["phase_wall_s"].append(wall)
    except Exception as exc:  # reported to the emulated tool, which prints its own failure text
        result["error"] = {"stage": stage, "type": type(exc).__name__,
                           "message": str(exc).strip()[:2000]}
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def main(argv: list[str]) -> int:
    from harness.engines.child import serve

    return serve(argv, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
