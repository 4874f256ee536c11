"""An iPhone's battery entry from the IORegistry (diagnostics_relay, class IOPMPowerSource, which
AppleSmartBattery implements) -> edgelab's sample fields, the same names Android samples use.

Units as the IORegistry gives them: ``Temperature`` in hundredths of a degree Celsius,
``Voltage`` in mV, ``InstantAmperage`` in mA (negative while discharging), ``CurrentCapacity``
in percent. Power is voltage x current, drawn from the battery when the current is negative.
Missing keys stay None; a value of the wrong type is treated as missing. It takes the decoded
plist dictionary, not text, so it is imported directly rather than through the parser registry.
"""
from __future__ import annotations

from typing import Any


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse(entry: dict[str, Any] | None) -> dict[str, Any]:
    entry = entry or {}
    temp = _number(entry.get("Temperature"))
    volts_mv = _number(entry.get("Voltage"))
    amps_ma = _number(entry.get("InstantAmperage"))
    charging = entry.get("IsCharging")
    power_w = None
    if volts_mv is not None and amps_ma is not None:
        power_w = round(volts_mv * -amps_ma / 1e6, 4)  # > 0: drawn from the battery
    return {
        "temp_c": None if temp is None else round(temp / 100, 2),
        "battery_temp_c": None if temp is None else round(temp / 100, 2),
        "battery_voltage_mv": volts_mv,
        "battery_current_ma": amps_ma,
        "battery_power_w": power_w,
        "charging": charging if isinstance(charging, bool) else None,
        "external_power": entry.get("ExternalConnected") if isinstance(
            entry.get("ExternalConnected"), bool) else None,
        "battery_pct": _number(entry.get("CurrentCapacity")),
    }
