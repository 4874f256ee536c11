"""The virtual phone's temperatures: a first-order thermal model (SIMULATED, not measured).

One state, ``rise_c``: how far the CPU zones are above their captured (idle) values. While tools
run it relaxes towards ``heat_c_per_busy_core * sum(busy cores * (f / f_max)**2)`` with time
constant ``time_constant_s``; idle, towards 0. Dynamic power goes as f*V^2 and V roughly tracks
f; the square is a middle ground that makes throttling self-limiting. Each zone follows the rise
scaled by a coupling that says how close it sits to the CPU (a GPU or the battery warms less,
the skin lags behind). The thermal status (0 NONE .. 6 SHUTDOWN) follows one zone (the skin, as
on Pixels) against thresholds, with hysteresis so it does not flap.

Zones keep the unit of their capture (milli-, tenths or whole degrees, as the parsers' heuristic
reads them back), and an untouched zone prints its captured text byte for byte.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .simulation import Simulation

# how much of the CPU rise a zone sees, by what its name says it measures (simulation constants)
_COUPLINGS = ((re.compile(r"cpu|big|mid|little|tsens|cluster|apc|core|soc", re.I), 1.0),
              (re.compile(r"gpu|g3d", re.I), 0.5),
              (re.compile(r"skin|case|quiet|disp", re.I), 0.5),
              (re.compile(r"tpu|npu|dsp", re.I), 0.3),
              (re.compile(r"batt|bms|chg", re.I), 0.25))
_OTHER_COUPLING = 0.3
_SKIN = re.compile(r"skin", re.I)
_CPU_LIKE = _COUPLINGS[0][0]


@dataclass(frozen=True)
class Zone:
    name: str
    raw: str           # captured text of its temp file (without the newline)
    start_c: float     # captured temperature in degC
    factor: int        # raw units per degC: 1000, 10 or 1
    coupling: float    # share of the CPU rise this zone sees

    def text(self, rise_c: float) -> str:
        if self.coupling == 0 or rise_c == 0:
            return self.raw
        return str(int(round((self.start_c + self.coupling * rise_c) * self.factor)))

    def temp_c(self, rise_c: float) -> float:
        return self.start_c + self.coupling * rise_c


def make_zone(name: str, raw: str) -> Zone:
    """A zone from its captured ``temp`` text; implausible readings (-40, junk) stay fixed."""
    try:
        value = int(raw.strip())
    except ValueError:
        return Zone(name, raw.strip(), 0.0, 1, 0.0)
    # the same heuristic as harness.parsers.thermal, so the parser reads a warmed zone alike
    factor = 1000 if abs(value) >= 1000 else (10 if abs(value) >= 150 else 1)
    start = value / factor
    coupling = next((c for pattern, c in _COUPLINGS if pattern.search(name)), _OTHER_COUPLING)
    if not -40 < start < 150:
        coupling = 0.0
    return Zone(name, raw.strip(), start, factor, coupling)


class ThermalModel:
    def __init__(self, zones: list[Zone], constants: Simulation):
        self.zones = zones
        self.constants = constants
        self.rise_c = constants.initial_rise_c  # 0 unless the profile starts the phone hot
        self.status = 0
        self.status_zone = _status_zone(zones, constants.status_zone)
        self._update_status()

    def step(self, seconds: float, target_rise_c: float) -> None:
        """Relax towards ``target_rise_c`` for ``seconds`` (exact for a constant target)."""
        if seconds <= 0:
            return
        decay = math.exp(-seconds / self.constants.time_constant_s)
        self.rise_c = target_rise_c + (self.rise_c - target_rise_c) * decay
        if abs(self.rise_c) < 1e-6:
            self.rise_c = 0.0
        self._update_status()

    def steady_rise_c(self, busy: list[tuple[int, float]]) -> float:
        """The rise the load tends to: ``busy`` holds (cores, f / f_max) per running tool."""
        return self.constants.heat_c_per_busy_core * sum(cores * ratio ** 2 for cores, ratio in busy)

    def temp_c(self, zone: Zone) -> float:
        return zone.temp_c(self.rise_c)

    def throttle_ratio(self) -> float:
        """The frequency cap the current status imposes, as a share of each cluster's max."""
        return self.constants.throttle_freq_ratio[self.status]

    def _update_status(self) -> None:
        if self.status_zone is None:
            return
        temp = self.status_zone.temp_c(self.rise_c)
        thresholds = self.constants.status_thresholds_c
        rising = sum(1 for t in thresholds if temp >= t)
        falling = sum(1 for t in thresholds if temp >= t - self.constants.hysteresis_c)
        if rising > self.status:
            self.status = rising
        elif falling < self.status:
            self.status = falling


def _status_zone(zones: list[Zone], wanted: str) -> Zone | None:
    live = [z for z in zones if z.coupling > 0]
    if wanted:
        return next((z for z in zones if z.name == wanted), None)
    skin = [z for z in live if _SKIN.search(z.name)]
    if skin:
        return skin[0]
    cpus = [z for z in live if _CPU_LIKE.search(z.name)]
    return max(cpus, key=lambda z: z.start_c) if cpus else None
