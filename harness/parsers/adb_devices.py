"""Parse ``adb devices`` / ``adb devices -l``.

Returned keys:

- ``devices``: list of ``{serial, state, state_detail, product, model, device,
  transport_id, usb}``: ``state`` is the canonical state word ("device",
  "unauthorized", "offline", "recovery", "sideload", "bootloader", "rescue",
  "authorizing", "connecting", "host", "no permissions", "unknown");
  ``state_detail`` the full printed text (for "no permissions (...); see
  [url]"); ``transport_id`` int; ``usb`` the ``usb:`` devpath ("2-2"); other
  fields None when not printed (short listing, or a device not yet online).
- ``count``: number of devices; ``ready``: serials whose state is "device".
- ``daemon_started``: True when the output includes adb's "* daemon started
  successfully" lines (which are otherwise ignored).
- ``error``: when the "List of devices attached" header is missing and no
  device line was recognised, or adb printed an error.

Quirks: adb pads the serial to 22 columns with ``-l`` (``%-22s %s``) but uses
a tab without it; "no permissions" is followed by a parenthesised hint with
spaces; emulators, ``ip:port`` and mDNS serials contain ``-``, ``:`` or ``.``;
the model field has non-alphanumerics replaced by ``_`` (``SM_G903F``).
"""

from __future__ import annotations

import re

from ._text import log_lines, to_int

STATES = ("no permissions", "unauthorized", "authorizing", "connecting", "offline",
          "device", "recovery", "sideload", "bootloader", "rescue", "host", "unknown",
          "fastbootd", "detached")
_KEYED = re.compile(r"^(usb|product|model|device|transport_id):(\S*)$")
_IGNORED = re.compile(r"^\*\s*daemon|^List of devices attached|^adb server|^\s*$", re.I)


def _split_state(rest: str) -> tuple[str, str, str] | None:
    """Return (state, state_detail, key:value tail) or None if not a state."""
    lowered = rest.lower()
    state = next((s for s in STATES if lowered.startswith(s)), None)
    if state is None:
        return None
    tokens = rest.split()
    # The state text runs until the first key:value token (usb:, product:, ...).
    cut = next((i for i, t in enumerate(tokens) if _KEYED.match(t)), len(tokens))
    return state, " ".join(tokens[:cut]), " ".join(tokens[cut:])


def _device(line: str) -> dict | None:
    stripped = line.strip()
    if stripped.startswith("(no serial number)"):
        serial, rest = "(no serial number)", stripped[len("(no serial number)"):].strip()
    else:
        parts = stripped.split(None, 1)
        if len(parts) < 2:
            return None
        serial, rest = parts
    split = _split_state(rest)
    if split is None:
        return None
    state, detail, tail = split
    fields = {m.group(1): m.group(2) for t in tail.split() if (m := _KEYED.match(t))}
    return {"serial": serial, "state": state, "state_detail": detail,
            "product": fields.get("product"), "model": fields.get("model"),
            "device": fields.get("device"), "transport_id": to_int(fields.get("transport_id")),
            "usb": fields.get("usb")}


def parse(text: str) -> dict:
    lines = log_lines(text)
    devices, errors = [], []
    header = False
    for line in lines:
        if line.strip().lower().startswith("list of devices attached"):
            header, devices = True, []  # a second listing replaces the first
            continue
        if _IGNORED.search(line):
            continue
        if line.strip().lower().startswith(("error:", "adb: error", "failed")):
            errors.append(line.strip())
            continue
        device = _device(line)
        if device:
            devices.append(device)
    result = {
        "devices": devices, "count": len(devices),
        "ready": [d["serial"] for d in devices if d["state"] == "device"],
        "daemon_started": any("daemon started" in line for line in lines),
    }
    if errors:
        result["error"] = errors[-1]
    elif not header and not devices:
        result["error"] = "no 'List of devices attached' header: not adb devices output"
    return result
