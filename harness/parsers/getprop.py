"""Parse ``adb shell getprop`` (``[key]: [value]`` lines).

Returned keys:

- ``model``, ``manufacturer``, ``brand``, ``device``, ``fingerprint``,
  ``release`` (``ro.build.version.release``), ``build_id``: str or None.
- ``sdk``: int or None (``ro.build.version.sdk``).
- ``abis``: list of str -- ``ro.product.cpu.abilist`` split on commas; else
  ``abilist64`` + ``abilist32``; else ``[ro.product.cpu.abi, ro.product.cpu.abi2]``
  (Android < 5 has no abilist); empties dropped, duplicates removed.
- ``arm64`` / ``armv7``: bool, ``arm64-v8a`` / ``armeabi-v7a`` in ``abis``.
- ``soc``: best guess, first present of ``ro.soc.model``,
  ``ro.hardware.chipname``, ``ro.board.platform``, ``ro.hardware``,
  ``ro.product.board``; ``soc_manufacturer`` from ``ro.soc.manufacturer``.
- ``page_size``: int bytes from ``ro.product.cpu.pagesize.max`` (or a similar
  page-size property), else None.
- ``props``: dict of every property (str -> str).
- ``error``: only when no property line was found.
"""

from __future__ import annotations

import re

from ._text import clean_lines, to_int

_START = re.compile(r"^\s*\[([\w.\-:@]+)\]\s*:\s*\[(.*)$")
# build.prop style fallback ("ro.product.model=Pixel 8"), used by some dump
# tools and by `getprop` replacements that print key=value.
_EQUALS = re.compile(r"^\s*([A-Za-z][\w\-]*(?:\.[\w\-]+)+)=(.*)$")

_SOC_KEYS = ("ro.soc.model", "ro.hardware.chipname", "ro.chipname",
             "ro.board.platform", "ro.hardware", "ro.product.board")
_PAGE_KEYS = ("ro.product.cpu.pagesize.max", "ro.product.cpu.pagesize",
              "ro.boot.hardware.cpu.pagesize")


def _bracket_props(lines: list[str]) -> dict[str, str]:
    """Collect ``[k]: [v]`` pairs; a value may span lines until its ``]``."""
    props: dict[str, str] = {}
    key, parts = None, []
    for line in lines:
        start = _START.match(line)
        if start:
            # A new key while a value is still open means that value was
            # malformed or cut: keep what we have and move on.
            if key is not None:
                props[key] = "\n".join(parts)
            key, parts = start.group(1).strip(), []
            line = start.group(2)
        elif key is None:
            continue
        stripped = line.rstrip()
        if stripped.endswith("]"):
            parts.append(stripped[:-1])
            props[key] = "\n".join(parts)
            key, parts = None, []
        else:
            parts.append(line)
    if key is not None:  # truncated capture: the last value never closed
        props[key] = "\n".join(parts)
    return props


def _equals_props(lines: list[str]) -> dict[str, str]:
    props = {}
    for line in lines:
        match = _EQUALS.match(line)
        if match:
            props[match.group(1)] = match.group(2).strip()
    return props


def _first(props: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        value = props.get(key, "").strip()
        if value:
            return value
    return None


def _abis(props: dict[str, str]) -> list[str]:
    listed = _first(props, "ro.product.cpu.abilist")
    if listed:
        candidates = listed.split(",")
    else:
        split = [_first(props, "ro.product.cpu.abilist64") or "",
                 _first(props, "ro.product.cpu.abilist32") or ""]
        candidates = ",".join(split).split(",")
        if not any(c.strip() for c in candidates):
            candidates = [props.get("ro.product.cpu.abi", ""),
                          props.get("ro.product.cpu.abi2", "")]
    abis: list[str] = []
    for abi in (c.strip() for c in candidates):
        if abi and abi not in abis:
            abis.append(abi)
    return abis


def parse(text: str) -> dict:
    lines = clean_lines(text)
    props = _bracket_props(lines) or _equals_props(lines)
    abis = _abis(props)
    result = {
        "model": _first(props, "ro.product.model", "ro.product.vendor.model",
                        "ro.product.system.model"),
        "manufacturer": _first(props, "ro.product.manufacturer",
                               "ro.product.vendor.manufacturer",
                               "ro.product.system.manufacturer"),
        "brand": _first(props, "ro.product.brand", "ro.product.vendor.brand"),
        "device": _first(props, "ro.product.device", "ro.product.vendor.device"),
        "fingerprint": _first(props, "ro.build.fingerprint",
                              "ro.vendor.build.fingerprint",
                              "ro.system.build.fingerprint"),
        "sdk": to_int(_first(props, "ro.build.version.sdk")),
        "release": _first(props, "ro.build.version.release",
                          "ro.build.version.release_or_codename"),
        "build_id": _first(props, "ro.build.id"),
        "abis": abis,
        "arm64": "arm64-v8a" in abis,
        "armv7": "armeabi-v7a" in abis,
        "soc": _first(props, *_SOC_KEYS),
        "soc_manufacturer": _first(props, "ro.soc.manufacturer"),
        "page_size": to_int(_first(props, *_PAGE_KEYS)),
        "props": props,
    }
    if not props:
        result["error"] = "no '[key]: [value]' lines: not getprop output"
    return result
