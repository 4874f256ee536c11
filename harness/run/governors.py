"""The governor axis of a run: names checked against the devices, and applied once per device.

Applying a governor costs device calls and a settling ramp, and a sweep has many cells per
governor, so the runner keeps one ``device.prepare({"governor": g})`` open per device while that
device's cells of ``g`` run (cases are ordered so they are contiguous, see cases.py) and closes
it, restoring the snapshot, when the device's next cell wants another governor, when the
device's last cell is torn down (``pytest_runtest_teardown`` sees the next item is another
device's) and at session end (``pytest_sessionfinish``, which pytest runs after Ctrl-C and,
with run/signals.py, after SIGTERM too). Per-cell apply and restore would be simpler; it would also
restore between every two cells and re-ramp the clocks each time. The journal written before
every change covers what ``release`` cannot: SIGKILL, power loss, a crashed xdist worker.
"""
from __future__ import annotations

import contextlib
from typing import Any

from ..devices.base import DeviceInfo
from ..errors import Unsupported, UsageError

PSEUDO = ("default", "fixed-performance")  # axis values that are not cpufreq governor names


def reason_of(exc: BaseException) -> str:
    """An error's text with its notes (a failed restore rides on the original error as one)."""
    return "; ".join([str(exc), *getattr(exc, "__notes__", ())])


def offered(device) -> dict[str, tuple[str, ...]]:
    """{policy: governors it offers}; {} for a device without readable cpufreq."""
    files = getattr(device, "policy_files", None)
    return {} if files is None else {n: p.available for n, p in files.read().items()}


def check_governors(governors: tuple[str, ...], devices: list[DeviceInfo], open_device) -> None:
    """UsageError for names no device offers, listing what each device offers. Devices that
    cannot be asked (offline, hung, gone) are left out: their cells say why; when no device
    answers at all, nothing is refused here."""
    names = [g for g in governors if g not in PSEUDO]
    if not names:
        return
    offers: dict[str, set[str]] = {}
    for info in devices:
        if info.state != "device" or info.details.get("hung"):
            continue
        try:
            offers[info.id] = {g for names_ in offered(open_device(info)).values() for g in names_}
        except Exception:  # a device that fails here fails its cells with the real reason
            continue
    unknown = [n for n in names if offers and not any(n in o for o in offers.values())]
    if unknown:
        listing = "; ".join(f"{device}: {', '.join(sorted(o)) or 'none (no cpufreq)'}"
                            for device, o in offers.items())
        raise UsageError(f"--governor: {', '.join(unknown)} is offered by no device ({listing}); "
                         f"{' and '.join(PSEUDO)} are valid everywhere")


class GovernorHolder:
    """One open ``prepare`` per device, for the governor its current cells want."""

    def __init__(self):
        self._open: dict[str, tuple[str, contextlib.ExitStack, dict[str, Any]]] = {}
        self._refused: dict[tuple[str, str], str] = {}  # (device, governor) -> reason

    def hold(self, device_id: str, device, governor: str) -> dict[str, Any]:
        """The prepared state for ``governor`` on the device, applying it if it is not held;
        Unsupported (remembered: later cells of the group ask the device nothing) or
        InfraError otherwise."""
        held = self._open.get(device_id)
        if held is not None and held[0] == governor:
            return dict(held[2])
        if held is not None:
            self._close(device_id)
        if (device_id, governor) in self._refused:
            raise Unsupported(self._refused[(device_id, governor)])
        stack = contextlib.ExitStack()
        try:
            state = stack.enter_context(device.prepare({"governor": governor}))
        except Unsupported as exc:
            self._refused[(device_id, governor)] = reason_of(exc)
            raise
        self._open[device_id] = (governor, stack, state)
        return dict(state)

    def release(self, device_id: str | None = None) -> list[str]:
        """Restore the device (or every device) still held; the problems, one line each."""
        problems = []
        held = list(self._open) if device_id is None else [d for d in [device_id] if d in self._open]
        for held_id in held:
            try:
                self._close(held_id)
            except Exception as exc:  # every device gets its restore, whatever the others did
                problems.append(f"governors of {held_id} not restored: {reason_of(exc)}")
        return problems

    def _close(self, device_id: str) -> None:
        _, stack, _ = self._open.pop(device_id)
        stack.close()
