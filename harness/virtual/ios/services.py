"""Lockdown services a trusted virtual iPhone starts (``StartService``): each is served on the
device port lockdownd names, reached through usbmuxd's ``Connect`` like lockdownd itself, with
the same framing (4-byte big-endian length + plist).

Only what edgelab's probe asks is here: ``com.apple.mobile.mobile_image_mounter``'s
``LookupImage`` (is a developer disk image mounted?), answered from the profile's
``[state] ddi_mounted``; pymobiledevice3 reads an empty ``ImageSignature`` as not mounted.
"""
from __future__ import annotations

import socket

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
