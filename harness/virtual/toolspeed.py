"""How fast a virtual tool runs: host timings scaled to the phone's clock (SIMULATED).

The engine really runs on the host CPU (toolrun.py); what the tool prints is then scaled per
iteration by the slowdown the phone had at that moment::

    slowdown = 1 / (cpu_speed_factor * f / f_max)

``cpu_speed_factor`` (profile ``[capabilities]``, default 1.0) is the phone's speed relative to
the host at its maximum frequency; ``f / f_max`` is the fastest cluster's current frequency
(physics.py: the governor's pick, capped by thermal throttling). So ``powersave`` or a throttled
phone prints longer latencies, and the tool also takes that much longer on the wall clock (the
phone keeps heating meanwhile), so what a sampler sees agrees with what the tool prints. With the
defaults and no throttling the slowdown is exactly 1 and the numbers stay the host's.
"""
from __future__ import annotations

import bisect
import posixpath
import threading
import time
from contextlib import contextmanager

_executing = threading.local()


@contextmanager
def executing(path: str):
    """Name the file this thread executes: the process name ps and pidof show for its run."""
    previous = getattr(_executing, "name", None)
    _executing.name = posixpath.basename(path)
    try:
        yield
    finally:
        _executing.name = previous


class SimulatedRun:
    """One tool process on the virtual phone, from its start to its (stretched) end."""

    def __init__(self, shell, pid: int, spec: dict):
        self.physics = shell.device.physics
        self.speed_factor = shell.device.profile.cpu_speed_factor
        name = getattr(_executing, "name", None) or spec.get("engine", "tool")
        self.tool = self.physics.start_tool(pid, name, spec.get("threads"),
                                            ppid=getattr(shell, "pid", None))
        self.ended = False
        self.track()

    def slowdown(self) -> float:
        return 1.0 / (self.speed_factor * max(self.physics.speed_ratio(), 1e-3))

    def track(self) -> None:
        """Note the slowdown now (toolcli polls the tool every 50 ms)."""
        self.physics.update()
        self.tool.speeds.append((time.monotonic(), self.slowdown()))

    def finish(self, shell, result: dict) -> dict:
        """``result`` with its timings scaled; waits the extra time a slower phone would take."""
        try:
            scaled, extra_s = scale_result(result, self.tool.speeds)
            if extra_s > 0:
                shell.wait(extra_s)
            return scaled
        finally:
            self.end()

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.physics.end_tool(self.tool)


def scale_result(result: dict, speeds: list[tuple[float, float]]) -> tuple[dict, float]:
    """(toolrun result with ``phases`` and ``load_ms`` scaled, extra wall seconds)."""
    if not speeds or "phases" not in result:
        return result, 0.0
    times = [t for t, _ in speeds]

    def at(moment: float) -> float:
        return speeds[max(0, bisect.bisect_right(times, moment) - 1)][1]

    scaled_phases, extra_ns = [], 0.0
    starts = result.get("phase_start_s") or [times[0]] * len(result["phases"])
    for start, samples in zip(starts, result["phases"]):
        clock, phase = start, []
        for ns in samples:
            clock += ns / 1e9
            phase.append(int(round(ns * at(clock))))
            extra_ns += phase[-1] - ns
        scaled_phases.append(phase)
    out = {**result, "phases": scaled_phases, "simulated_slowdown": round(at(times[-1]), 4)}
    if "load_ms" in result:
        out["load_ms"] = result["load_ms"] * speeds[0][1]
        extra_ns += (out["load_ms"] - result["load_ms"]) * 1e6
    if "phase_wall_s" in result:
        out["phase_wall_s"] = [w * sum(p) / max(sum(r), 1) for w, p, r in
                               zip(result["phase_wall_s"], scaled_phases, result["phases"])]
    return out, extra_ns / 1e9
