"""The ``[simulation]`` table of a device profile: constants of the virtual phone's physics.

These are SIMULATION CONSTANTS, not measurements of the phone the profile names. They are chosen
so that a virtual phone behaves in the right direction and at a testable pace: it heats while a
tool runs and cools when idle (first-order, thermal.py), its thermal status rises past thresholds
so a long run throttles, throttling lowers ``scaling_cur_freq`` and slows the virtual tool, and
its battery current rises with the load in a configurable vendor convention (battery.py). Every
number a virtual phone reports through them is labelled simulated (getprop
``ro.edgelab.simulated``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..errors import UsageError

CURRENT_UNITS = ("uA", "mA")
VOLTAGE_UNITS = ("uV", "mV")
CURRENT_SIGNS = ("charge-positive", "discharge-positive")
BATTERY_STATUSES = ("Discharging", "Charging", "Not charging", "Full")


@dataclass(frozen=True)
class Simulation:
    # thermal (thermal.py): rise of the CPU zones above their captured values
    heat_c_per_busy_core: float = 10.0     # steady-state rise per busy core at max frequency
    time_constant_s: float = 20.0          # first-order time constant, heating and cooling alike
    initial_rise_c: float = 0.0            # the rise at start: a phone still hot from earlier use
    status_zone: str = ""                  # zone the thermal status follows ("" = skin, else hottest CPU)
    status_thresholds_c: tuple[float, ...] = (39.0, 43.0, 45.0, 47.0, 50.0, 55.0)  # statuses 1..6
    hysteresis_c: float = 2.0              # a status falls only this far below its threshold
    throttle_freq_ratio: tuple[float, ...] = (1.0, 0.9, 0.75, 0.6, 0.5, 0.4, 0.3)  # cap per status
    # battery (battery.py): the vendor convention of /sys/class/power_supply/battery
    battery_current_unit: str = "uA"
    battery_voltage_unit: str = "uV"
    battery_current_sign: str = "charge-positive"  # Android BatteryManager's: discharge < 0
    battery_status: str = "Discharging"
    battery_idle_ma: float = 180.0         # current drawn with no tool running
    battery_ma_per_busy_core: float = 350.0  # added per busy core at max frequency
    battery_voltage_mv: float = 3850.0     # open-circuit voltage
    battery_resistance_mohm: float = 120.0  # internal resistance: voltage sags under load
    battery_noise_pct: float = 3.0         # relative spread of the current, sample to sample

    def __post_init__(self) -> None:
        _one_of("battery_current_unit", self.battery_current_unit, CURRENT_UNITS)
        _one_of("battery_voltage_unit", self.battery_voltage_unit, VOLTAGE_UNITS)
        _one_of("battery_current_sign", self.battery_current_sign, CURRENT_SIGNS)
        _one_of("battery_status", self.battery_status, BATTERY_STATUSES)
        if self.time_constant_s <= 0:
            raise ValueError("time_constant_s must be > 0")
        if not 0 <= self.initial_rise_c <= 100:
            raise ValueError("initial_rise_c must be between 0 and 100")
        if len(self.status_thresholds_c) != 6 or list(self.status_thresholds_c) != \
                sorted(self.status_thresholds_c):
            raise ValueError("status_thresholds_c must be 6 ascending temperatures (statuses 1..6)")
        if len(self.throttle_freq_ratio) != 7 or not all(0 < r <= 1 for r in self.throttle_freq_ratio):
            raise ValueError("throttle_freq_ratio must be 7 ratios in (0, 1] (statuses 0..6)")


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{key} {value!r} must be one of {list(allowed)}")


def load_simulation(table: dict[str, Any], where: str) -> Simulation:
    """``[simulation]`` of a profile -> Simulation; a bad key or value is a UsageError."""
    known = {f.name: f for f in fields(Simulation)}
    unknown = set(table) - set(known)
    if unknown:
        raise UsageError(f"{where} [simulation]: unknown key(s) {sorted(unknown)}; "
                         f"valid: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        default = getattr(Simulation, key)
        try:
            if isinstance(default, tuple):
                values[key] = tuple(float(v) for v in value)
            elif isinstance(default, float):
                values[key] = float(value)
            else:
                values[key] = str(value)
        except (TypeError, ValueError):
            raise UsageError(f"{where} [simulation] {key} = {value!r}: expected "
                             f"{type(default).__name__}") from None
    try:
        return Simulation(**values)
    except ValueError as exc:
        raise UsageError(f"{where} [simulation]: {exc}") from None
