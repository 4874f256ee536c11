"""How hot a device is right now, read cheaply: what the cooldown gate polls (run/cooldown.py).

Phones: one adb call per reading, plain sh::

    grep . /sys/class/power_supply/battery/temp /sys/class/thermal/thermal_zone*/temp \
           /sys/class/thermal/thermal_zone*/type 2>/dev/null; \
    dumpsys thermalservice 2>/dev/null | grep 'Thermal Status:'

`grep` prints ``path:value`` for each readable file (toybox names the file when given several),
so a zone whose ``temp`` cannot be read drops out alone instead of shifting the others; the
battery's ``temp`` is in tenths of a degree (power_supply ABI); zone units follow
``parsers.thermal``'s heuristic; the thermal status (0 NONE .. 6 SHUTDOWN) comes from
thermalservice (Android 10+; older phones have none, and the reading says so with None).
Through ``AdbTransport`` the call has the housekeeping bound and trips the hung-device breaker
like any other (devices/hang.py): a phone that stopped answering raises, it is not "cool".

iPhones: the battery's temperature from the IORegistry (diagnostics_relay), no thermal status.

Hosts: ``/sys/class/thermal`` zones where readable (bare metal; VMs and containers have none,
and then there is nothing to wait for).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import parsers
from .adb_transport import Raw, compose

BATTERY_TEMP = "/sys/class/power_supply/battery/temp"
_POLL = compose(Raw("grep ."), [BATTERY_TEMP], Raw("/sys/class/thermal/thermal_zone*/temp "
                                                  "/sys/class/thermal/thermal_zone*/type "
                                                  "2>/dev/null; dumpsys thermalservice 2>/dev/null"
                                                  " | grep"), ["Thermal Status:"])


@dataclass(frozen=True)
class Reading:
    battery_c: float | None      # the battery (what a phone's skin follows), degC
    hottest_c: float | None      # the hottest valid thermal zone, degC
    hottest_zone: str | None
    status: int | None           # thermal status 0..6; None: the device has none to read

    def as_dict(self) -> dict:
        return {"battery_c": self.battery_c, "hottest_c": self.hottest_c,
                "hottest_zone": self.hottest_zone, "status": self.status}


def parse_poll(text: str) -> Reading:
    """The phone command's output -> a Reading (pure; tolerant of missing parts)."""
    battery, zone_lines, status = None, [], None
    for line in text.splitlines():
        path, sep, value = line.partition(":")
        if path == BATTERY_TEMP and sep:
            battery = _tenths(value)
        elif path.startswith("/sys/class/thermal/"):
            zone_lines.append(line)
        elif line.strip().startswith("Thermal Status:"):
            status = parsers.parse("thermal", line).get("thermal_status")
    zones = parsers.parse("thermal", "\n".join(zone_lines)) if zone_lines else {}
    temps = zones.get("temps_c") or {}
    hottest = max(temps, key=temps.get) if temps else None
    return Reading(battery, temps.get(hottest) if hottest else None, hottest, status)


def _tenths(text: str) -> float | None:
    try:
        value = int(text.strip()) / 10.0
    except ValueError:
        return None
    return value if -40 < value < 150 else None  # a missing thermistor reads -40 or junk


class PhoneThermometer:
    """One adb call per ``read()`` (``AdbTransport.command``)."""

    sensor = "battery"

    def __init__(self, transport):
        self.transport = transport

    def read(self) -> Reading:
        result = self.transport.command(_POLL, label="temperature")
        return parse_poll(result.stdout)  # grep's rc 1 (one part missing) still says the rest


class HostThermometer:
    """The host's thermal zones (no battery, no thermal status)."""

    sensor = "hottest zone"

    def read(self) -> Reading:
        from .host import thermal_zones

        zones = [z for z in thermal_zones() if z["temp_c"] is not None and -40 < z["temp_c"] < 150]
        hottest = max(zones, key=lambda z: z["temp_c"], default=None)
        return Reading(None, hottest["temp_c"] if hottest else None,
                       hottest["name"] if hottest else None, None)


class IOSThermometer:
    """An iPhone's battery temperature from its IORegistry entry (``IOSDevice.sample``: one
    lockdown session and diagnostics_relay request per reading). iOS gives a host no thermal
    status (the runner reads ProcessInfo.thermalState inside its own run), so the record says
    that limit was unchecked."""

    sensor = "battery"

    def __init__(self, device):
        self.device = device

    def read(self) -> Reading:
        reading = self.device.sample()  # {"telemetry_error": ...} when it did not answer
        temp = reading.get("battery_temp_c")
        return Reading(temp if isinstance(temp, (int, float)) else None, None, None, None)


def thermometer(device):
    """The reader for a device: phones through their transport, iPhones through their battery
    entry, the host through sysfs; None for kinds without one."""
    if getattr(device, "transport", None) is not None:
        return PhoneThermometer(device.transport)
    if device.info.kind == "host":
        return HostThermometer()
    if device.info.kind == "ios":
        return IOSThermometer(device)
    return None
