"""The cooldown gate: before a latency cell, wait until the device is at or below its temperature.

A phone still warm from the previous cell throttles sooner and runs slower, so two cells of one
sweep would not start alike. Before each cell (inside the governor ``prepare``, so the phone
cools at the governor it will run under) the gate reads the device about once a second
(devices/temperature.py: one adb call per reading on phones) until it is cool or the timeout
passes. A timeout never hangs the run and never drops the cell: the cell is measured anyway and
its record says ``hot_start`` with the temperature. A device that stops answering while being
read raises like any other call (the hung-device breaker), so its cell is an infra error.

Limits ("cool" means every limit the device can be read against holds):

- phones: battery temperature <= ``battery_max_c`` and thermal status <= ``status_max``, from
  the matched device profile's ``[cooldown]`` table (device_profiles/, e.g. 34 degC and status 0),
  else ``PHONE_LIMITS``; a phone without thermalservice (Android < 10) is held to its battery
  only, and the record says what could not be checked;
- the host: its hottest thermal zone <= ``HOST_MAX_C`` where zones are readable (bare metal);
  VMs and containers have none: nothing to wait for, said in the record;
- ``--cooldown=MAX_C[,status=N][,timeout=S]`` / ``[tool.edgelab]`` cooldown_* replace the limit of
  the sensor the device is judged by (battery on phones, hottest zone on the host).

What a record keeps (``conditions``): ``cooldown = {waited_s, start_c, end_c, target_c, sensor,
status_start, status_end, status_max, hottest_start_c, hottest_end_c, polls, timeout_s,
limits_from[, unchecked]}`` or ``{"skipped": why}``, and ``hot_start`` (true/false; absent when
the gate did not run) with ``hot_start_reason`` when true.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..devices.temperature import Reading, thermometer
from ..errors import UsageError

PHONE_LIMITS = {"battery_max_c": 34.0, "status_max": 0}  # a phone whose profile has no [cooldown]
# hosts: x86 package zones idle around 35-50 degC and pass 70 under load; 60 tells a host still
# hot from the last cell from one at rest (configuration, not a measurement)
HOST_MAX_C = 60.0
POLL_S = 1.0
_UNREADABLE = {"battery": "no battery temperature", "hottest zone": "no readable thermal zone"}


@dataclass(frozen=True)
class Target:
    sensor: str              # "battery" (phones) or "hottest zone" (host)
    max_c: float | None      # None: no temperature limit
    status_max: int | None   # None: no thermal status limit
    source: str              # where the limits come from, for the record

    def temp(self, reading: Reading) -> float | None:
        return reading.battery_c if self.sensor == "battery" else reading.hottest_c

    def judge(self, reading: Reading) -> tuple[list[str], list[str]]:
        """(why the device is still hot, which limits could not be read)."""
        hot, unchecked = [], []
        temp = self.temp(reading)
        if self.max_c is not None:
            if temp is None:
                unchecked.append(_UNREADABLE[self.sensor])
            elif temp > self.max_c:
                hot.append(f"{self.sensor} {temp:.1f} degC > {self.max_c:g} degC")
        if self.status_max is not None:
            if reading.status is None:
                unchecked.append("no thermal status")
            elif reading.status > self.status_max:
                hot.append(f"thermal status {reading.status} > {self.status_max}")
        return hot, unchecked

    @property
    def limits(self) -> int:
        return (self.max_c is not None) + (self.status_max is not None)


def wait_until_cool(read: Callable[[], Reading], target: Target, timeout_s: float,
                    poll_s: float = POLL_S, clock=time.monotonic, sleep=time.sleep) -> dict[str, Any]:
    """Read until every readable limit holds or ``timeout_s`` passed; what the record keeps."""
    start = clock()
    first = last = read()
    polls = 1
    hot, unchecked = target.judge(last)
    if len(unchecked) == target.limits:  # nothing this device lets us check
        return {"skipped": f"nothing to wait for: {', '.join(unchecked) or 'no limit set'}",
                "sensor": target.sensor, **_readings(first, last, target)}
    while hot:
        left = timeout_s - (clock() - start)
        if left <= 0:
            break
        sleep(min(poll_s, left))
        last = read()
        polls += 1
        hot, unchecked = target.judge(last)
    out = {"waited_s": round(clock() - start, 2), **_readings(first, last, target),
           "target_c": target.max_c, "sensor": target.sensor, "status_max": target.status_max,
           "polls": polls, "timeout_s": timeout_s, "limits_from": target.source}
    if unchecked:
        out["unchecked"] = ", ".join(unchecked)
    out["hot"] = "; ".join(hot) or None
    return out


def _readings(first: Reading, last: Reading, target: Target) -> dict[str, Any]:
    return {"start_c": target.temp(first), "end_c": target.temp(last),
            "status_start": first.status, "status_end": last.status,
            "hottest_start_c": first.hottest_c, "hottest_end_c": last.hottest_c,
            "hottest_zone": last.hottest_zone}


def record_conditions(result: dict[str, Any]) -> dict[str, Any]:
    """The gate's result as record conditions: ``cooldown`` and ``hot_start`` (+ reason)."""
    if "skipped" in result:
        return {"cooldown": result}
    hot = result.pop("hot", None)
    out: dict[str, Any] = {"cooldown": result, "hot_start": hot is not None}
    if hot:
        out["hot_start_reason"] = f"still {hot} after {result['waited_s']:g} s"
    return out


def target_for(settings: dict[str, Any], kind: str, profile: dict[str, Any]) -> Target:
    """The limits for one device: the run's settings where given, else the device's own."""
    given_c, given_status = settings.get("max_c"), settings.get("status_max")
    overridden = "--cooldown / [tool.edgelab]"
    if kind == "host":
        return Target("hottest zone", HOST_MAX_C if given_c is None else given_c, given_status,
                      overridden if given_c is not None else "edgelab's host default")
    name = profile.get("profile")
    limits, source = _profile_limits(name)
    if given_c is not None or given_status is not None:
        source = f"{overridden} (else {source})"
    return Target("battery", limits["battery_max_c"] if given_c is None else given_c,
                  limits["status_max"] if given_status is None else given_status, source)


def _profile_limits(name: str | None) -> tuple[dict[str, Any], str]:
    from ..config import parse_temperature, parse_thermal_status
    from ..devices.probe import PROFILES_DIR, load_profiles

    table = load_profiles().get(name, {}).get("cooldown") if name else None
    if not table:
        return dict(PHONE_LIMITS), (f"edgelab's phone default (profile {name} has no [cooldown])"
                                    if name else "edgelab's phone default (no device profile matched)")
    where = PROFILES_DIR / f"{name}.toml"
    unknown = sorted(set(table) - set(PHONE_LIMITS))
    if unknown:
        raise UsageError(f"{where} [cooldown]: unknown key(s) {unknown}; valid: {sorted(PHONE_LIMITS)}")
    limits = dict(PHONE_LIMITS)
    for key, parse in (("battery_max_c", parse_temperature), ("status_max", parse_thermal_status)):
        if key in table:
            try:
                limits[key] = parse(str(table[key]))
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"{where} [cooldown] {key} = {table[key]!r}: {exc}") from None
    return limits, f"device profile {name}"


class CooldownGate:
    """One per CellRunner: the readers and limits of each device, found once."""

    def __init__(self, settings: dict[str, Any], run_timeout_s: float,
                 clock=time.monotonic, sleep=time.sleep):
        self.settings = settings
        self.timeout_s = min(float(settings.get("timeout_s", 120.0)), run_timeout_s)
        self.clock, self.sleep = clock, sleep
        self._devices: dict[str, tuple[Any, Target | None]] = {}

    def wait(self, device_id: str, device) -> dict[str, Any]:
        """Conditions for the cell's record, after waiting (at most the timeout)."""
        if not self.settings.get("enabled", True):
            return {"cooldown": {"skipped": "--cooldown=off"}}
        if device_id not in self._devices:
            reader = thermometer(device)
            target = target_for(self.settings, device.info.kind, device.profile()) if reader else None
            self._devices[device_id] = (reader, target)
        reader, target = self._devices[device_id]
        if reader is None:
            return {"cooldown": {"skipped": f"no temperature reader for {device.info.kind} devices"}}
        return record_conditions(wait_until_cool(reader.read, target, self.timeout_s,
                                                 clock=self.clock, sleep=self.sleep))
