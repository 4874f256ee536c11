"""A device that stopped answering is asked nothing more in this run (a circuit breaker).

A hung phone (adbd wedged, kernel stuck, a USB link that stalls) answers no call, so every
call to it waits for its whole timeout: one hung phone among three cost 60 s per cell and ten
minutes of dots (issue 16). After its first timeout a device is "hung" for the rest of the run:
later calls fail at once, so its remaining cells become ``infra_error`` records with the reason
and the fix, and cost no time at all.

Where the state lives: in the device's transport, which ``CellRunner`` opens once per process.
That is enough because with pytest-xdist all cells of one device run on one worker
(``xdist_group`` by serial, ``--dist loadgroup``): no other process calls that device. A hang
seen by discovery (on the controller) reaches the workers in ``DeviceInfo.details["hung"]``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from ..errors import InfraError

HUNG_FIX = ("the device stopped answering adb: unlock it, reconnect the cable or reboot it "
            "(`adb -s {serial} reboot`), then run again; if it is only slow, raise "
            "--edgelab-timeout; a link that loses packets (Wi-Fi adb, a worn cable or hub) "
            "goes silent the same way, and adb cannot tell the two apart")


@dataclass(frozen=True)
class Hang:
    """When and during what a device stopped answering."""
    serial: str
    command: str      # what was asked: getprop, benchmark_model, push ...
    timeout_s: float
    at: str           # local wall-clock time, to compare with the phone's own logs
    during: str = ""  # "discovery" when discovery saw it, else a cell
    note: str = ""    # what else this run saw of the device (link.py: it dropped off before)

    def describe(self) -> str:
        where = f"{self.command} ({self.during})" if self.during else self.command
        note = f" ({self.note})" if self.note else ""
        return (f"device {self.serial} stopped answering at {self.at} during {where}: "
                f"no answer within {self.timeout_s:g} s{note}")

    def fix(self) -> str:
        return HUNG_FIX.format(serial=self.serial)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Hang":
        return cls(**data)


class DeviceTimeout(InfraError):
    """The device did not answer a call in time (the call that trips the breaker)."""


class DeviceHung(InfraError):
    """A call not made because the device stopped answering earlier in this run."""


class HangGuard:
    """The breaker of one device: ``check`` before each call, ``trip`` on a timeout."""

    def __init__(self, serial: str, hang: Hang | None = None):
        self.serial = serial
        self.hang = hang

    def check(self, command: str) -> None:
        if self.hang is not None:
            raise DeviceHung(f"{self.hang.describe()}; its remaining cells were not attempted",
                             serial=self.serial, command=command, fix=self.hang.fix())

    def trip(self, command: str, timeout_s: float, detail: str = "",
             during: str = "", note: str = "") -> DeviceTimeout:
        """Mark the device hung; return the error for the call that found out."""
        self.hang = Hang(self.serial, command, timeout_s, time.strftime("%H:%M:%S"), during,
                         note)
        cells = "its cells" if during else "its remaining cells"
        return DeviceTimeout(f"{self.hang.describe()}; {cells} in this run will not be "
                             f"attempted", serial=self.serial, command=command,
                             stderr_tail=detail, fix=self.hang.fix())

    def forgive(self) -> None:
        """Undo the last trip: for a timeout that was the host's own limit on a tool, where
        only the next call (the kill) tells whether the device itself still answers."""
        self.hang = None
