"""The EdgelabRunner app as the virtual iPhone plays it when process control launches it.

Like the Swift app (ios/EdgelabRunner/Sources/EdgelabRunnerCore/Runner.swift) it reads
``Documents/edgelab/job.json``, checks the model the job names is in Documents, runs the warm-up
and timed iterations of each repeat, and writes ``results.json`` (named by the job) atomically
beside the job, in the runner's format (schema 1), then exits.

NOTHING IS COMPUTED: Core ML does not exist on Linux. Each "iteration" sleeps ``iteration_ms`` (the
profile's [runner] iteration_ms, or --compute-sleep-ms) and is timed on the monotonic clock, so
the latencies are the stand-in's sleeps; ``load_ms`` is the time reading the model's files took.
The results say so in ``virtual`` (edgelab's parser puts it in the record's extra.tool.origin and
engine version), memory is not measured (null), the thermal state is the profile's.

The faults it can play (``play``): ``ok``; ``hang`` (reads the job and never writes results nor
exits: edgelab must time out and kill it); ``crash`` (exits on signal 11 without results);
``hot`` (runs, but the thermal state rises from the profile's to ``serious`` during the repeat).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

JOB = "edgelab/job.json"
PLAYS = ("ok", "hang", "crash", "hot")
CRASH_SIGNAL = 11  # SIGSEGV: what a crashing app's termination reports
ORIGIN = ("virtual stand-in of EdgelabRunner (no Core ML: each iteration sleeps {ms:g} ms on "
          "the virtual iPhone; not a measurement of any model)")


class VirtualRunner:
    """One launch of the runner app: a thread that plays the job. ``on_exit(pid, code,
    signal)`` is called once when it ends by itself (not when killed)."""

    def __init__(self, pid: int, documents: Path, values: dict[str, Any], play: str,
                 iteration_ms: float, thermal_state: str,
                 on_exit: Callable[[int, int | None, int | None], None],
                 clock_offset_s: float = 0.0):
        self.pid = pid
        self.documents = documents
        self.values = values
        self.play = play
        self.iteration_ms = iteration_ms
        self.thermal_state = thermal_state
        self.on_exit = on_exit
        self.clock_offset_s = clock_offset_s  # the phone's wall clock - the host's
        self.killed = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"virtual-runner-{pid}",
                                       daemon=True)

    def start(self) -> "VirtualRunner":
        self.thread.start()
        return self

    def kill(self) -> None:
        self.killed.set()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def _main(self) -> None:
        try:
            job = json.loads((self.documents / JOB).read_text())
        except (OSError, ValueError):
            job = None
        if self.play == "hang":
            self.killed.wait()  # until process control kills it
            return
        if self.play == "crash":
            self.on_exit(self.pid, None, CRASH_SIGNAL)
            return
        results = self._run(job)
        if self.killed.is_set():
            return
        name = (job or {}).get("results") or "results.json"
        target = self.documents / "edgelab" / str(name)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(json.dumps(results, indent=2, sort_keys=True))
        os.replace(temporary, target)  # atomically, as the Swift app's .atomic write
        self.on_exit(self.pid, 0 if results["status"] == "ok" else 1, None)

    def _run(self, job: dict[str, Any] | None) -> dict[str, Any]:
        results: dict[str, Any] = {
            "schema": 1, "job_id": (job or {}).get("job_id", "?"), "status": "error",
            "error": None, "runner_version": "virtual",
            "os_version": self.values.get("ProductVersion"),
            "device_model": self.values.get("ProductType"),
            "compute_units": (job or {}).get("compute_units", "?"),
            "compute_units_available": None, "compile_ms": None, "load_ms": None,
            "memory": {"footprint_before_load_bytes": None, "footprint_after_load_bytes": None,
                       "footprint_peak_bytes": None},
            "repeats": [],
            "virtual": {"origin": ORIGIN.format(ms=self.iteration_ms),
                        "iteration_ms": self.iteration_ms},
        }
        if job is None:
            results["error"] = f"cannot read {JOB} (missing or not JSON)"
            return results
        model = self.documents / "edgelab" / str(job.get("model", ""))
        if not job.get("model") or not model.exists():
            results["error"] = f"the job's model {job.get('model')!r} is not in Documents/edgelab"
            return results
        started = time.monotonic()
        files = [model] if model.is_file() else sorted(p for p in model.rglob("*") if p.is_file())
        for path in files:
            path.read_bytes()
        results["load_ms"] = round((time.monotonic() - started) * 1000, 3)
        deadline = time.monotonic() + float(job.get("timeout_s") or 600)
        for _ in range(max(1, int(job.get("repeats", 1)))):
            repeat = {"thermal_state_before": self.thermal_state,
                      "warmup_ms": [self._iteration() for _ in range(int(job.get("warmup", 0)))]}
            latencies: list[float] = []
            began, began_unix = time.monotonic(), time.time() + self.clock_offset_s
            min_time = float(job.get("min_time_s") or 0)
            while (len(latencies) < int(job.get("iterations", 1))
                   or time.monotonic() - began < min_time) and time.monotonic() < deadline:
                if self.killed.is_set():
                    return results
                latencies.append(self._iteration())
            # "hot": the phone heated during the repeat (the thermal state rose: throttled)
            after = "serious" if self.play == "hot" else self.thermal_state
            # the loop's start and end on the phone's wall clock, as the Swift app writes them
            repeat.update(latencies_ms=latencies, thermal_state_after=after,
                          timed_unix_s=[round(began_unix, 6),
                                        round(time.time() + self.clock_offset_s, 6)])
            results["repeats"].append(repeat)
        results["status"] = "ok"
        return results

    def _iteration(self) -> float:
        began = time.perf_counter()
        time.sleep(self.iteration_ms / 1000)
        return round((time.perf_counter() - began) * 1000, 4)
