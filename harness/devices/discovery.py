"""Find devices and open them by kind.

Discovery runs once, on the xdist controller (or the only process); workers get the same list
from ``workerinput`` so that every process collects identical test ids. Each kind's discoverer is
imported lazily and a kind whose backend is not installed simply finds nothing, with a note.
"""
from __future__ import annotations

import importlib
from typing import Callable

from ..errors import UsageError
from .base import DeviceInfo

# kind -> "module:function" returning list[DeviceInfo]; order is the order shown to users
DISCOVERERS: dict[str, str] = {
    "host": "harness.devices.host:discover",
    "android": "harness.devices.android:discover",
    "ios": "harness.devices.ios:discover",
}

# DeviceInfo.kind -> "module:Class" taking the DeviceInfo
OPENERS: dict[str, str] = {
    "host": "harness.devices.host:HostDevice",
    "android": "harness.devices.android:AndroidDevice",
    "virtual-android": "harness.devices.android:AndroidDevice",
    "ios": "harness.devices.ios:IOSDevice",
}


def _load(ref: str) -> Callable:
    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def discover_all(notes: list[str] | None = None, **kwargs) -> list[DeviceInfo]:
    found: list[DeviceInfo] = []
    for kind, ref in DISCOVERERS.items():
        try:
            discover = _load(ref)
        except (ImportError, AttributeError) as exc:
            if notes is not None:
                notes.append(f"{kind}: discovery unavailable ({exc})")
            continue
        try:
            found.extend(discover(notes=notes, **kwargs))
        except Exception as exc:  # one broken kind (a USB stack, a daemon) must not end the run
            if notes is not None:
                notes.append(f"{kind}: discovery failed ({type(exc).__name__}: {exc}); "
                             f"devices of this kind are left out of this run")
    return found


def select(found: list[DeviceInfo], wanted: tuple[str, ...]) -> list[DeviceInfo]:
    """Apply ``--device``: ``all``, ``host``, or ids (serials); unknown ids are a usage error."""
    if "all" in wanted:
        return list(found)
    by_id = {d.id: d for d in found}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        available = ", ".join(["all"] + list(by_id)) or "none"
        raise UsageError(f"--device: unknown device id(s) {', '.join(unknown)}; available: "
                         f"{available} (see `python -m harness devices`)")
    return [by_id[w] for w in dict.fromkeys(wanted)]


# the kinds whose opener waits for a vanished device to come back (devices/link.py)
REAPPEARING_KINDS = ("android", "virtual-android")


def open_device(info: DeviceInfo, timeout_s: float | None = None,
                reboot_wait_s: float | None = None):
    """Open a device; ``timeout_s`` (the run's) bounds every call to it, ``reboot_wait_s`` the
    wait for an adb phone that dropped off to come back (--reboot-wait)."""
    try:
        factory = _load(OPENERS[info.kind])
    except KeyError:
        raise UsageError(f"device {info.id}: unknown device kind {info.kind!r}") from None
    bounds: dict[str, float] = {}
    if timeout_s is not None:
        bounds["timeout_s"] = timeout_s
    if reboot_wait_s is not None and info.kind in REAPPEARING_KINDS:
        bounds["reboot_wait_s"] = reboot_wait_s
    return factory(info, **bounds)
