"""Parse iOS device identity: ideviceinfo, RSD/RemoteXPC JSON, plist, tidevice list.

Returned keys (None when the capture lacks them):

- ``product_type``: ``ProductType`` ("iPhone15,3").  ``ThinningProductType``
  is a different key (the app-thinning variant) and is never used for it.
- ``product_version``: ``ProductVersion``; iOS 17+ RemoteXPC/RSD handshake
  properties have no ProductVersion and carry ``OSVersion`` instead; tidevice
  list prints it as the version column.
- ``cpu_architecture`` (``CPUArchitecture``, e.g. "arm64e"), ``build_version``,
  ``device_class``, ``device_name``, ``hardware_model`` (``HardwareModel`` or
  ``HWModel``), ``product_name``, ``udid`` (``UniqueDeviceID``/``UDID``).
- ``source``: "ideviceinfo", "json", "plist" or "tidevice_list".
- ``devices``: list of ``{udid, name, product_version, connection}`` rows for
  list outputs (``tidevice list``; JSON device lists also give
  ``product_type``); the first device fills the top-level keys; [] otherwise.
- ``properties``: the raw key/value properties read (str values).
- ``error``: when no identity key was found.

Quirks: ideviceinfo prints ``Key: Value`` lines with nested dicts indented
(only top-level keys are read); RSD JSON nests the device keys under
"Properties" next to "Services" (whose own "Properties" are ignored) and a
truncated JSON falls back to a key-by-key scan; ``tidevice list`` has a title
line and whitespace-separated columns where the name may contain spaces.
"""

from __future__ import annotations

import json
import re

from ._text import as_text, clean_lines

_KEYS = {
    "product_type": ("ProductType",),
    "product_version": ("ProductVersion", "OSVersion", "HumanReadableProductVersionString"),
    "cpu_architecture": ("CPUArchitecture",),
    "build_version": ("BuildVersion",),
    "device_class": ("DeviceClass",),
    "device_name": ("DeviceName",),
    "hardware_model": ("HardwareModel", "HWModel"),
    "product_name": ("ProductName",),
    "udid": ("UniqueDeviceID", "UDID", "Identifier"),
}
_KV_LINE = re.compile(r"^([A-Za-z][\w-]*):[ \t]*(.*)$")
_JSON_PAIR = re.compile(r'"(\w+)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[\w.]+))')
_PLIST_PAIR = re.compile(r"<key>(\w+)</key>\s*<(string|integer|real|true|false)\s*/?>(?:([^<]*)</\2>)?")
_LIST_ROW = re.compile(r"^(\S+)\s+(.*?)\s*\b(\d+(?:\.\d+){1,2})\s+(usb|network|wifi)\s*$", re.I)


def _scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _from_json(text: str) -> tuple[dict, list[dict]] | None:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        return _json_scan(stripped), []
    items = data if isinstance(data, list) else [data]
    devices = []
    for item in items:
        if isinstance(item, dict):
            props = item.get("Properties") if isinstance(item.get("Properties"), dict) else item
            devices.append({k: s for k, v in props.items() if (s := _scalar(v)) is not None})
    rows = [_row(device) for device in devices] if isinstance(data, list) else []
    return (devices[0] if devices else {}), rows


def _row(props: dict) -> dict:
    """One ``devices`` entry from a JSON device list (pymobiledevice3 usbmux list)."""
    return {"udid": props.get("UniqueDeviceID") or props.get("Identifier") or props.get("UDID"),
            "name": props.get("DeviceName"), "product_version": props.get("ProductVersion"),
            "product_type": props.get("ProductType"),
            "connection": (props.get("ConnectionType") or "").lower() or None}


def _json_scan(text: str) -> dict:
    """Key-by-key scan of cut JSON; the first occurrence (device level) wins."""
    props: dict[str, str] = {}
    for key, string, bare in _JSON_PAIR.findall(text):
        props.setdefault(key, string if string or not bare else bare)
    return props


def _from_plist(text: str) -> dict:
    props: dict[str, str] = {}
    for key, kind, value in _PLIST_PAIR.findall(text):
        props.setdefault(key, kind if kind in ("true", "false") else value.strip())
    return props


def _from_lines(lines: list[str]) -> dict:
    props: dict[str, str] = {}
    for line in lines:
        match = _KV_LINE.match(line)  # indented lines belong to nested dicts
        if match and match.group(2).strip():
            props.setdefault(match.group(1), match.group(2).strip())
    return props


def _from_list(lines: list[str]) -> list[dict]:
    rows = []
    for line in lines:
        match = _LIST_ROW.match(line.strip())
        if match and not line.lower().startswith("list of"):
            rows.append({"udid": match.group(1), "name": match.group(2) or None,
                         "product_version": match.group(3), "connection": match.group(4).lower()})
    return rows


def _read(text: str) -> tuple[str, dict, list[dict]]:
    found = _from_json(text)
    if found is not None:
        return "json", found[0], found[1]
    if "<key>" in text:
        return "plist", _from_plist(text), []
    lines = clean_lines(text)
    rows = _from_list(lines)
    if rows:
        first = {"UniqueDeviceID": rows[0]["udid"], "ProductVersion": rows[0]["product_version"]}
        if rows[0]["name"]:
            first["DeviceName"] = rows[0]["name"]
        return "tidevice_list", first, rows
    return "ideviceinfo", _from_lines(lines), []


def parse(text: str) -> dict:
    source, props, devices = _read(as_text(text))
    result: dict = {}
    for name, keys in _KEYS.items():
        result[name] = next((props[k] for k in keys if props.get(k)), None)
    result.update({"source": source, "devices": devices, "properties": props})
    if result["product_type"] is None and result["product_version"] is None:
        result["error"] = ("no ProductType/ProductVersion/OSVersion found: "
                           "not ideviceinfo, RSD properties or tidevice list output")
    return result
