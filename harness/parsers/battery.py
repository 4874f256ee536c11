"""Parse ``adb shell dumpsys battery`` (Android BatteryService dump).

Returned keys (None when the line is absent):

- ``level`` (int, as printed), ``scale`` (int), ``level_pct`` (float,
  level * 100 / scale).
- ``temperature_c``: float degC (the service prints tenths of a degree).
- ``voltage_mv``: int millivolts.
- ``ac_powered``, ``usb_powered``, ``wireless_powered``, ``dock_powered``,
  ``present``: bool.
- ``status`` (int code as printed) and ``status_name``: 1 unknown,
  2 charging, 3 discharging, 4 not charging, 5 full.
- ``health`` (int) and ``health_name``: 1 unknown, 2 good, 3 overheat, 4 dead,
  5 over voltage, 6 unspecified failure, 7 cold.
- ``charging``: bool, any ``*_powered`` true or status == 2.
- ``technology`` (str), ``charge_counter_uah``, ``max_charging_current_ua``,
  ``max_charging_voltage_uv`` (ints as printed).
- ``updates_stopped``: bool -- True when the dump says "UPDATES STOPPED",
  i.e. the values were faked with ``dumpsys battery set`` and are not real.
- ``error``: only when neither ``level`` nor ``status`` was found.

Quirks: keys are matched case-insensitively; vendor builds (Samsung) repeat
keys with other case ("Charge counter" / "charge counter") and append
unindented extension lines -- the first occurrence of a key wins, because the
AOSP block always comes first.  Several dumps in one text: the last one that
has a ``level`` line is used.
"""

from __future__ import annotations

from ._text import clean_lines, to_bool, to_float, to_int

STATUS_NAMES = {1: "unknown", 2: "charging", 3: "discharging",
                4: "not charging", 5: "full"}
HEALTH_NAMES = {1: "unknown", 2: "good", 3: "overheat", 4: "dead",
                5: "over voltage", 6: "unspecified failure", 7: "cold"}
_HEADER = "current battery service state"


def _blocks(lines: list[str]) -> list[list[str]]:
    """Split on the dump header so repeated dumps are kept apart."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip().lower().startswith(_HEADER):
            blocks.append([])
        blocks[-1].append(line)
    return [block for block in blocks if block]


def _fields(block: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block:
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields.setdefault(" ".join(key.lower().split()), value.strip())
    return fields


def _voltage_mv(raw: str | None) -> int | None:
    volts = to_float(raw)
    if volts is None:
        return None
    # AOSP prints millivolts; a few old vendor builds print volts ("4") or
    # microvolts ("4312000"): normalise both to mV.
    if 0 < volts < 10:
        volts *= 1000
    elif volts > 100_000:
        volts /= 1000
    return int(round(volts))


def _temperature_c(raw: str | None) -> float | None:
    tenths = to_float(raw)
    return None if tenths is None else round(tenths / 10.0, 2)


def _pick_block(lines: list[str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for block in _blocks(lines):
        fields = _fields(block)
        if "level" in fields or not chosen:
            chosen = fields
    return chosen


def parse(text: str) -> dict:
    lines = clean_lines(text)
    fields = _pick_block(lines)
    level, scale = to_int(fields.get("level")), to_int(fields.get("scale"))
    status, health = to_int(fields.get("status")), to_int(fields.get("health"))
    powered = {name: to_bool(fields.get(f"{name} powered"))
               for name in ("ac", "usb", "wireless", "dock")}
    result = {
        "level": level,
        "scale": scale,
        "level_pct": round(level * 100.0 / scale, 2) if level is not None and scale else None,
        "temperature_c": _temperature_c(fields.get("temperature")),
        "voltage_mv": _voltage_mv(fields.get("voltage")),
        "ac_powered": powered["ac"],
        "usb_powered": powered["usb"],
        "wireless_powered": powered["wireless"],
        "dock_powered": powered["dock"],
        "present": to_bool(fields.get("present")),
        "status": status,
        "status_name": STATUS_NAMES.get(status) if status is not None else None,
        "health": health,
        "health_name": HEALTH_NAMES.get(health) if health is not None else None,
        "charging": any(powered.values()) or status == 2,
        "technology": fields.get("technology") or None,
        "charge_counter_uah": to_int(fields.get("charge counter")),
        "max_charging_current_ua": to_int(fields.get("max charging current")),
        "max_charging_voltage_uv": to_int(fields.get("max charging voltage")),
        "updates_stopped": any("updates stopped" in line.lower() for line in lines),
    }
    if level is None and status is None:
        result["error"] = "no 'level:' or 'status:' line: not dumpsys battery output"
    return result
