"""The measuring child process: ``python -m harness.engines.child SPEC.json``.

Each host measurement runs in a fresh process so that its peak memory (VmHWM) belongs to this
model alone and a crashing engine (a truncated flatbuffer can segfault LiteRT) takes down only
this process. The timed region is the engine's ``invoke`` and nothing else; its start and end on
``time.monotonic()`` (``timed_monotonic_s``) let the parent's sampler mark the same stretch.

Spec keys: engine, model_path, threads, warmup, iterations, min_time_s, max_iterations,
input (InputSpec fields), save_outputs, result_path. The result is written as JSON to
``result_path``; an error inside is reported there as {"error": {"stage", "type", "message"}}.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path


def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm / 1024.0
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0


def _busy_s(times) -> float:
    return sum(getattr(times, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))


def timed_loop(model, iterations: int, min_time_s: float, max_iterations: int) -> list[int]:
    """Invoke until ``iterations`` ran and ``min_time_s`` passed; nanoseconds per invoke."""
    clock = time.perf_counter_ns
    invoke = model.invoke
    samples: list[int] = []
    append = samples.append
    deadline = clock() + int(min_time_s * 1e9)
    while True:
        start = clock()
        invoke()
        end = clock()
        append(end - start)
        if len(samples) >= iterations and (end >= deadline or len(samples) >= max_iterations):
            return samples


def measure(spec: dict) -> dict:
    from harness.engines import get_engine
    from harness.models.inputs import guessed_dims, make_feed
    from harness.models.manifest import InputSpec

    import psutil

    result: dict = {"rss_before_load_mb": (_status_kb("VmRSS") or 0) / 1024.0}
    engine = get_engine(spec["engine"])
    stage = "load"
    try:
        start = time.perf_counter_ns()
        model = engine.load(spec["model_path"], spec["threads"])
        result["load_ms"] = (time.perf_counter_ns() - start) / 1e6
        result["backend"] = model.backend
        stage = "inputs"
        input_spec = InputSpec.from_dict(spec["input"])
        result["input_shape_guessed"] = guessed_dims(model.inputs, input_spec)
        feed, result["input_source"] = make_feed(model.inputs, input_spec)
        result["input_shapes"] = {k: list(v.shape) for k, v in feed.items()}
        model.set_inputs(feed)
        stage = "first inference"
        start = time.perf_counter_ns()
        model.invoke()
        result["first_ms"] = (time.perf_counter_ns() - start) / 1e6
        stage = "warm-up"
        for _ in range(max(0, spec["warmup"] - 1)):
            model.invoke()
        stage = "timed loop"
        me = psutil.Process()
        cpu_before, mine_before, wall_before = psutil.cpu_times(), me.cpu_times(), time.monotonic()
        loop_start = time.monotonic()
        samples = timed_loop(model, spec["iterations"], spec["min_time_s"], spec["max_iterations"])
        loop_end = time.monotonic()
        cpu_after, mine_after, wall = psutil.cpu_times(), me.cpu_times(), time.monotonic() - wall_before
        # CLOCK_MONOTONIC is system-wide: the parent's host sampler marks its timed window with
        # these, so the window covers this loop and not the load or warm-up (run/sampling.py)
        result["timed_monotonic_s"] = [loop_start, loop_end]
        mine = (mine_after.user + mine_after.system) - (mine_before.user + mine_before.system)
        other = max(0.0, _busy_s(cpu_after) - _busy_s(cpu_before) - mine)
        # cpu_times ticks at 10 ms: below a quarter second the attribution is noise itself
        result["other_cpu_pct"] = round(100.0 * other / wall, 1) if wall >= 0.25 else None
        result["timed_wall_s"] = round(wall, 4)
        result["samples_ms"] = [s / 1e6 for s in samples]
        if spec.get("save_outputs"):
            import numpy as np

            np.savez(spec["save_outputs"], *[np.asarray(o) for o in model.outputs()])
    except Exception as exc:  # reported to the parent as a measurement failure of this cell
        result["error"] = {"stage": stage, "type": type(exc).__name__,
                           "message": str(exc).strip()[:2000],
                           "traceback": traceback.format_exc(limit=4)[-2000:]}
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def serve(argv: list[str], work) -> int:
    """Child-process main: read the spec file, ``work(spec)``, write the result atomically so the
    parent never reads half a file (a missing file then means the process died)."""
    spec = json.loads(Path(argv[0]).read_text())
    result = work(spec)
    tmp = spec["result_path"] + ".part"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, spec["result_path"])
    return 0


def main(argv: list[str]) -> int:
    return serve(argv, measure)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
