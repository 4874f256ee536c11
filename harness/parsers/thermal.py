"""Parse thermal readings: ``dumpsys thermalservice``, sysfs zone dumps, Pixel HAL logcat.

Returned keys:

- ``source``: "dumpsys", "sysfs" or "logcat".
- ``zones``: list of ``{name, value, temp_c, valid, type, type_name, unit,
  status, section}``: ``value`` as printed; ``temp_c`` degC (None for
  sensors that are not temperatures); ``valid`` False for sentinel or
  impossible readings (-99.9, outside -40..200 degC exclusive); ``type`` the
  AOSP ``Temperature.TYPE_*`` code (None for sysfs, whose type is a name),
  ``type_name`` ("CPU", "SKIN", "BCL_VOLTAGE", ... or the sysfs zone type);
  ``unit`` "C", "mV", "mA" or "%"; ``status`` the throttling status (0-6) or
  None; ``section`` where it came from ("hal", "cached", "logcat", "raw",
  "sysfs").
- ``temps_c``: ``{name: degC}`` of valid temperatures; ``max_temp_c``.
- ``thermal_status``: the "Thermal Status: N" line; ``throttling_status``:
  max of it and every zone status; ``throttling_status_name`` (NONE, LIGHT,
  MODERATE, SEVERE, CRITICAL, EMERGENCY, SHUTDOWN).
- ``cooling_devices``: list of ``{name, value, type, type_name}``.
- ``hal``: the "HAL connection" line ("ThermalHAL 2.0 connected: yes").
- ``error``: when no reading was found.

Quirks handled:

- dumpsys types 6/7/8 are battery current limiter readings (mV, mA, % state
  of charge -- Pixel's "soc" is the battery, not the chip), never
  temperatures.  Samsung's Sdhms HAL names sensors ``TYPE_SKIN`` etc. with an
  mType that is off by one: a ``TYPE_<X>`` name wins over the number.
  "Current temperatures from HAL" is fresher than "Cached temperatures": HAL
  values win, cached-only sensors are kept.
- sysfs ``temp`` units differ per driver.  Heuristic per raw integer r: a
  factor from ``/sys/module/msm_thermal/sensor_info`` lines in the same text
  wins; else |r| >= 1000 is millidegrees, 150 <= |r| < 1000 tenths, |r| < 150
  whole degrees.  ``cat */temp`` and ``cat */type`` blocks are paired by
  position; their zone names follow the shell glob order (thermal_zone0, 1,
  10, 11, ..).  ``grep . thermal_zone*/temp`` (path:value) lines also work.
- Pixel thermal HAL logcat "NAME:degC raw data: A:milli B:milli ..." lines;
  raw values are always millidegrees; a later line wins per sensor.
"""

from __future__ import annotations

import math
import re

from ._text import NUM, clean_lines, log_lines, to_float, to_int

TEMP_TYPES = {-1: "UNKNOWN", 0: "CPU", 1: "GPU", 2: "BATTERY", 3: "SKIN", 4: "USB_PORT",
              5: "POWER_AMPLIFIER", 6: "BCL_VOLTAGE", 7: "BCL_CURRENT", 8: "BCL_PERCENTAGE",
              9: "NPU", 10: "TPU", 11: "DISPLAY", 12: "MODEM", 13: "SOC", 14: "WIFI",
              15: "CAMERA", 16: "FLASHLIGHT", 17: "SPEAKER", 18: "AMBIENT", 19: "POGO"}
COOLING_TYPES = {0: "FAN", 1: "BATTERY", 2: "CPU", 3: "GPU", 4: "MODEM", 5: "NPU",
                 6: "COMPONENT", 7: "TPU", 8: "POWER_AMPLIFIER", 9: "DISPLAY", 10: "SPEAKER",
                 11: "WIFI", 12: "CAMERA", 13: "FLASHLIGHT", 14: "USB_PORT"}
STATUS_NAMES = {0: "NONE", 1: "LIGHT", 2: "MODERATE", 3: "SEVERE", 4: "CRITICAL",
                5: "EMERGENCY", 6: "SHUTDOWN"}
_UNITS = {6: "mV", 7: "mA", 8: "%"}
_ITEM = re.compile(r"(Temperature|CoolingDevice)\{(.*)\}")
_FIELD = re.compile(r"(m[A-Z]\w*)=(.*?)(?=, m[A-Z]\w*=|$)")
_HAL_LOG = re.compile(rf"^([\w.\-]+)\s*:\s*({NUM})\s+raw data:(.*)$")
_RAW_PAIR = re.compile(rf"([\w.\-]+):({NUM})(?=\s|$)")
# /sys/module/msm_thermal/sensor_info: "source:name:alias:factor" (raw / factor = degC)
_SENSOR_INFO = re.compile(r"^\w+:([\w.\-]+):([\w.\-]*):(\d+)$")
_CAT = re.compile(r"\bcat\s+\S*\b(temp|type)\s*$")
_PATH_VALUE = re.compile(r"(thermal_zone\d+)/(temp|type)\s*:\s*(.*)$")
_PROMPT = re.compile(r"^[\w.@|-]*(?::[^\s#$]*)?\s*[#$](?:\s|$)")
_NAME_VALUE = re.compile(r"^([A-Za-z][\w.\-]*)\s*[:=]?\s+(-?\d+)$")


def _valid(temp: float | None) -> bool:
    # HALs report missing sensors as -99.9 / NaN, unplugged thermistors as -40.
    return temp is not None and not math.isnan(temp) and -40 < temp < 200


def _zone(name, value, temp, type_code, type_name, unit, status, section) -> dict:
    valid = _valid(temp) if unit == "C" else value is not None
    return {"name": name, "value": value, "temp_c": temp, "valid": valid,
            "type": type_code, "type_name": type_name, "unit": unit, "status": status,
            "section": section}


def _dumpsys_item(body: str, section: str) -> dict:
    fields = dict(_FIELD.findall(body))
    name = fields.get("mName", "").strip()
    type_code = to_int(fields.get("mType"))
    by_name = {v: k for k, v in TEMP_TYPES.items()}.get(name[5:]) if name.startswith("TYPE_") else None
    if by_name is not None:
        type_code = by_name  # Samsung Sdhms: the name is right, mType is off by one
    value = to_float(fields.get("mValue"))
    unit = _UNITS.get(type_code, "C")
    return _zone(name, value, value if unit == "C" else None, type_code,
                 TEMP_TYPES.get(type_code, str(type_code)), unit, to_int(fields.get("mStatus")), section)


def _parse_dumpsys(lines: list[str], out: dict) -> list[dict]:
    zones: dict[str, dict] = {}
    section = "cached"
    for line in lines:
        text = line.strip()
        if text.startswith("Current temperatures from HAL"):
            section = "hal"
        elif text.startswith("Cached temperatures"):
            section = "cached"
        elif text.startswith("Thermal Status:"):
            out["thermal_status"] = to_int(text.split(":", 1)[1])
        elif "connected:" in text:
            out["hal"] = text
        elif (m := _ITEM.search(text)) and m.group(1) == "CoolingDevice":
            fields = dict(_FIELD.findall(m.group(2)))
            type_code = to_int(fields.get("mType"))
            out["cooling_devices"].append({"name": fields.get("mName", "").strip(),
                                           "value": to_int(fields.get("mValue")), "type": type_code,
                                           "type_name": COOLING_TYPES.get(type_code)})
        elif m:
            zone = _dumpsys_item(m.group(2), section)
            if section == "hal" or zone["name"] not in zones:
                zones.pop(zone["name"], None)
                zones[zone["name"]] = zone
    return sorted(zones.values(), key=lambda z: z["section"] != "hal")


def _parse_logcat(lines: list[str]) -> list[dict]:
    zones: dict[str, dict] = {}
    for line in lines:
        m = _HAL_LOG.match(line.strip())
        if not m:
            continue
        value = to_float(m.group(2))
        zones[m.group(1)] = _zone(m.group(1), value, value, None, None, "C", None, "logcat")
        for name, raw in _RAW_PAIR.findall(m.group(3)):
            if name == m.group(1) or zones.get(name, {}).get("section") == "logcat":
                continue  # a sensor's own "NAME:degC" reading beats raw echoes
            milli = to_float(raw)
            temp = None if milli is None else round(milli / 1000.0, 4)
            zones[name] = _zone(name, milli, temp, None, None, "C", None, "raw")
    return list(zones.values())


def _sysfs_temp(raw: int | None, name: str, factors: dict[str, int]) -> float | None:
    if raw is None:
        return None
    factor = factors.get(name)
    if factor is None:  # documented heuristic, see the module docstring
        factor = 1000 if abs(raw) >= 1000 else (10 if abs(raw) >= 150 else 1)
    return round(raw / factor, 3) if factor else None


def _sysfs_blocks(lines: list[str]) -> tuple[dict, dict, dict]:
    """Collect ``cat */temp`` / ``cat */type`` blocks, path:value lines, sensor_info."""
    blocks: dict[str, list] = {"temp": [], "type": []}
    by_path: dict[str, dict] = {}
    factors: dict[str, int] = {}
    current = None
    for line in lines:
        text = line.strip()
        if (m := _CAT.search(text)):
            current = m.group(1)
            blocks[current] = []
        elif current == "temp" and text.startswith("cat:"):
            blocks["temp"].append(None)  # unreadable zone: keep positions aligned
        elif (m := _PATH_VALUE.search(text)):
            by_path.setdefault(m.group(1), {})[m.group(2)] = m.group(3).strip()
        elif (m := _SENSOR_INFO.match(text)):
            for key in (m.group(1), m.group(2)):
                if key:
                    factors[key] = int(m.group(3))
        elif not text or _PROMPT.match(text):
            current = None
        elif current == "type":
            blocks["type"].append(text)
        elif current == "temp" and re.fullmatch(r"-?\d+", text):
            blocks["temp"].append(int(text))
    return blocks, by_path, factors


def _zone_number(zone: str) -> tuple:
    digits = re.search(r"(\d+)$", zone)
    return (0, int(digits.group(1))) if digits else (1, zone)


def _parse_sysfs(lines: list[str]) -> list[dict]:
    blocks, by_path, factors = _sysfs_blocks(lines)
    temps, types = blocks["temp"], blocks["type"]
    # The shell expands */temp in string order: thermal_zone0, 1, 10, 11, ...
    globbed = sorted(f"thermal_zone{i}" for i in range(max(len(temps), len(types))))
    for index, raw in enumerate(temps):
        entry = by_path.setdefault(globbed[index], {})
        entry.setdefault("temp", raw)
        if index < len(types):
            entry.setdefault("type", types[index])
    if not by_path:  # "name value" lines from an echo loop
        for line in lines:
            if (m := _NAME_VALUE.match(line.strip())):
                by_path[m.group(1)] = {"temp": m.group(2), "type": m.group(1)}
    zones = []
    for zone, entry in sorted(by_path.items(), key=lambda kv: _zone_number(kv[0])):
        raw = to_int(entry.get("temp"))
        name = entry.get("type") or zone
        record = _zone(name, raw, _sysfs_temp(raw, name, factors), None, name, "C", None, "sysfs")
        record["zone"] = zone
        zones.append(record)
    return zones


def parse(text: str) -> dict:
    out: dict = {"cooling_devices": [], "thermal_status": None, "hal": None}
    lines = log_lines(text)
    raw = "\n".join(lines)
    if "Temperature{" in raw or "Thermal Status:" in raw or "CoolingDevice{" in raw:
        source, zones = "dumpsys", _parse_dumpsys(lines, out)
    elif "raw data:" in raw:
        source, zones = "logcat", _parse_logcat(lines)
    else:
        source, zones = "sysfs", _parse_sysfs(clean_lines(text))
    statuses = [s for s in [out["thermal_status"]] + [z["status"] for z in zones] if s is not None]
    temps = {z["name"]: z["temp_c"] for z in zones if z["unit"] == "C" and z["valid"]}
    throttling = max(statuses) if statuses else None
    result = {
        "source": source, "zones": zones, "temps_c": temps,
        "max_temp_c": max(temps.values()) if temps else None,
        "thermal_status": out["thermal_status"], "throttling_status": throttling,
        "throttling_status_name": STATUS_NAMES.get(throttling) if throttling is not None else None,
        "cooling_devices": out["cooling_devices"], "hal": out["hal"],
    }
    if not zones:
        result["error"] = ("thermalservice printed no temperatures (HAL not ready?)"
                           if source == "dumpsys" else "no temperature readings found")
    return result
