"""Lockdown services a trusted virtual iPhone starts (``StartService``): each is served on the
device port lockdownd names, reached through usbmuxd's ``Connect`` like lockdownd itself, with
the same framing (4-byte big-endian length + plist).

Only what edgelab asks is here: ``com.apple.mobile.mobile_image_mounter``'s ``LookupImage`` (is
a developer disk image mounted?), answered from the profile's ``[state] ddi_mounted``
(pymobiledevice3 reads an empty ``ImageSignature`` as not mounted), and diagnostics_relay's
battery entry (``Diagnostics`` below).
"""
from __future__ import annotations

import socket
from typing import Callable

from .lockdownd import read_plist, write_plist

MOUNTER = "com.apple.mobile.mobile_image_mounter"


class ImageMounter:
    def __init__(self, mounted: bool):
        self.mounted = mounted

    def serve(self, sock: socket.socket) -> None:
        while True:
            message = read_plist(sock)
            if message is None:
                return
            command = message.get("Command")
            if command == "LookupImage":
                signature = [b"edgelab-virtual-ddi-signature"] if self.mounted else []
                write_plist(sock, {"ImageSignature": signature, "Status": "Complete"})
            elif command == "Hangup":
                write_plist(sock, {"Status": "Complete"})
                return
            else:
                write_plist(sock, {"Error": "UnknownCommand", "DetailedError": str(command)})


DIAGNOSTICS = "com.apple.mobile.diagnostics_relay"
BATTERY_CLASSES = ("IOPMPowerSource", "AppleSmartBattery")
RUNNER_EXTRA = "RunnerExtraAmperage"  # the stand-in's own [battery] key (mA per running runner)


class Diagnostics:
    """diagnostics_relay's ``IORegistry`` request for the battery entry (class IOPMPowerSource or
    AppleSmartBattery); ``battery`` is the profile's [battery] table: CONFIGURATION, no capture
    of an iPhone's IORegistry is in device-data.

    ``busy()`` says how many runner apps are running: each draws ``RunnerExtraAmperage`` mA more
    (a [battery] key of the stand-in, not of iOS, left out of the answer), so a host sampling
    the battery around a cell sees the draw rise while the app runs, as on a phone. The values
    are answered as they stand at each request (a host polls the same session repeatedly)."""

    def __init__(self, battery: dict, busy: Callable[[], int] = lambda: 0):
        self.battery = {k: v for k, v in battery.items() if k != RUNNER_EXTRA}
        self.extra_ma = float(battery.get(RUNNER_EXTRA, 0) or 0)
        self.busy = busy

    def entry(self) -> dict:
        entry = dict(self.battery)
        amperage = entry.get("InstantAmperage")
        if isinstance(amperage, (int, float)) and self.extra_ma:
            # discharging is negative on iPhones: more draw is more negative
            entry["InstantAmperage"] = int(amperage - self.extra_ma * self.busy())
        return entry

    def serve(self, sock: socket.socket) -> None:
        while True:
            message = read_plist(sock)
            if message is None:
                return
            request = message.get("Request")
            if request == "IORegistry" and message.get("EntryClass") in BATTERY_CLASSES:
                write_plist(sock, {"Status": "Success",
                                   "Diagnostics": {"IORegistry": self.entry()}})
            elif request == "Goodbye":
                write_plist(sock, {"Status": "Success"})
                return
            else:
                write_plist(sock, {"Status": "UnknownRequest"})
