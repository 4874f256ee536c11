"""lockdownd's side of one connection (device port 62078), as an untrusted host meets it.

Framing: a 4-byte big-endian length, then an XML plist; every answer echoes ``Request``. A host
without a pair record gets what a real phone gives it: ``QueryType``, the untrusted ``GetValue``
set (the profile's captured identity), and refusals for everything that needs a session
(``StartSession``/``ValidatePair`` -> ``InvalidHostID``). ``Pair`` is answered by the pairing
state the profile plays - the Trust dialog is showing (``PairingDialogResponsePending``), the
phone is locked (``PasswordProtected``), or the user tapped Don't Trust (``UserDeniedPairing``) -
which are the error strings pymobiledevice3 maps to its exceptions (lockdown.py). No TLS session
is ever started: the stand-in never pretends a trusted state it cannot back with a real session.
"""
from __future__ import annotations

import plistlib
import socket
import struct
from typing import Any

LOCKDOWN_PORT = 62078
_LENGTH = struct.Struct(">I")
_MAX_MESSAGE = 4 * 2 ** 20
PAIR_ERRORS = {"untrusted": "PairingDialogResponsePending", "locked": "PasswordProtected",
               "denied": "UserDeniedPairing"}


def read_plist(sock: socket.socket) -> dict[str, Any] | None:
    """One framed plist; None when the host closed the connection."""
    header = _read_exact(sock, _LENGTH.size)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > _MAX_MESSAGE:
        raise ValueError(f"lockdown message of {length} bytes is over the {_MAX_MESSAGE} limit")
    body = _read_exact(sock, length)
    return None if body is None else plistlib.loads(body)


def write_plist(sock: socket.socket, message: dict[str, Any]) -> None:
    body = plistlib.dumps(message, fmt=plistlib.FMT_XML)
    sock.sendall(_LENGTH.pack(len(body)) + body)


def _read_exact(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Lockdownd:
    """Answers for one virtual iPhone; ``values`` is the untrusted GetValue dictionary."""

    def __init__(self, values: dict[str, Any], pairing: str):
        self.values = values
        self.pair_error = PAIR_ERRORS[pairing]
        self.requests: list[str] = []  # what hosts asked, in order (tests read it)

    def serve(self, sock: socket.socket) -> None:
        while True:
            message = read_plist(sock)
            if message is None:
                return
            request = str(message.get("Request", ""))
            self.requests.append(request)
            write_plist(sock, self.answer(request, message))
            if request == "Goodbye":
                return

    def answer(self, request: str, message: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = {"Request": request}
        if request == "QueryType":
            reply["Type"] = "com.apple.mobile.lockdown"
        elif request == "GetValue":
            reply.update(self._get_value(message))
        elif request == "Pair":
            reply["Error"] = self.pair_error
        elif request in ("StartSession", "ValidatePair", "StartService", "SetValue",
                         "RemoveValue", "Unpair"):
            reply["Error"] = "InvalidHostID"  # no pair record: nothing trusted happens
        elif request in ("StopSession", "Goodbye"):
            reply["Result"] = "Success"
        else:
            reply["Error"] = "InvalidRequest"
        return reply

    def _get_value(self, message: dict[str, Any]) -> dict[str, Any]:
        domain, key = message.get("Domain"), message.get("Key")
        if domain:  # domains (developer mode, battery, ...) need a trusted session
            return {"Domain": domain, **({"Key": key} if key else {}), "Error": "MissingValue"}
        if key is None:
            return {"Value": dict(self.values)}
        if key not in self.values:
            return {"Key": key, "Error": "MissingValue"}
        return {"Key": key, "Value": self.values[key]}
