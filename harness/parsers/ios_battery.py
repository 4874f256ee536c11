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


def sample_fields(entry: dict[str, Any] | None) -> dict[str, Any]:
    """The battery fields of a telemetry sample (telemetry/sample.py), as Android's sysfs gives
    them: ``current_raw`` (mA, negative while discharging: iOS's sign is the kernel ABI's
    charge-positive), ``voltage_raw`` (mV), ``temp_c``, and ``status`` in the power-supply
    class's words (the units and sign are then worked out as for any phone, power.py):
    Charging; Not charging (external power connected, the battery not charging: the charger
    feeds the phone); Discharging (on battery alone)."""
    parsed = parse(entry)
    if parsed["charging"]:
        status = "Charging"
    elif parsed["external_power"]:
        status = "Not charging"
    elif parsed["charging"] is False or parsed["external_power"] is False:
        status = "Discharging"
    else:
        status = None
    return {"current_raw": parsed["battery_current_ma"], "voltage_raw": parsed["battery_voltage_mv"],
            "temp_c": parsed["temp_c"], "status": status}
