"""Phone timed loops long enough to average power over.

The phone sampler reads about 20-25 times a second (docs/telemetry.md) and energy per inference
needs several readings inside the timed loop. The default 50 iterations of a ~1 ms model last
50 ms: one reading, so no power at all ("too short to average"). A latency cell on a phone whose
loop would be shorter than ``power_window_s`` therefore runs more iterations, estimated from the
mean an earlier record of the same cell measured (the compat probe runs before the latency cell),
and its record says so (``extra.iterations_raised``). Without an earlier figure nothing changes:
guessing a count could run a slow model for minutes. An ``--iterations`` given on the command line
is kept as asked (measure.py): a user who asks for 5 iterations wants a quick run, not 800.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Hashable

from ..engines.base import RunSettings

MAX_ITERATIONS = 20_000  # a bound for tiny models: 20k x 0.05 ms is still 1 s of work


class PowerWindow:
    def __init__(self, window_s: float):
        self.window_s = window_s
        self._mean_ms: dict[Hashable, float] = {}
        self._chosen: dict[Hashable, tuple[RunSettings, dict[str, Any] | None]] = {}

    def remember(self, key: Hashable, mean_ms: float | None) -> None:
        if mean_ms is not None and mean_ms > 0:
            self._mean_ms[key] = float(mean_ms)

    def settings_for(self, key: Hashable, settings: RunSettings,
                     again: bool = False) -> tuple[RunSettings, dict[str, Any] | None]:
        """``settings`` with enough iterations for the window, and what was changed (or None).
        ``again``: a later repeat of the cell runs what its first repeat ran; its own raise would
        follow the previous repeat's mean, and repeats of different lengths are not alike."""
        if again and key in self._chosen:
            return self._chosen[key]
        self._chosen[key] = self._choose(key, settings)
        return self._chosen[key]

    def _choose(self, key: Hashable,
                settings: RunSettings) -> tuple[RunSettings, dict[str, Any] | None]:
        mean_ms = self._mean_ms.get(key)
        if self.window_s <= 0 or mean_ms is None:
            return settings, None
        planned_s = max(settings.iterations * mean_ms / 1000.0, settings.min_time_s)
        if planned_s >= self.window_s:
            return settings, None
        wanted = min(MAX_ITERATIONS, math.ceil(self.window_s * 1000.0 / mean_ms))
        if wanted <= settings.iterations:
            return settings, None
        note = {"from": settings.iterations, "to": wanted, "estimated_mean_ms": round(mean_ms, 4),
                "why": f"a {settings.iterations}-iteration loop would last about "
                       f"{planned_s * 1000:.0f} ms, too short for the phone's sampler to average "
                       f"power; raised to cover {self.window_s:g} s ([tool.edgelab] "
                       f"power_window_s)"}
        return dataclasses.replace(settings, iterations=wanted), note
