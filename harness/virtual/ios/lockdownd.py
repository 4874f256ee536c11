"""lockdownd's side of one connection (device port 62078), as an untrusted host meets it.

Framing: a 4-byte big-endian length, then an XML plist; every answer echoes ``Request``. A host
without a pair record gets what a real phone gives it: ``QueryType``, the untrusted ``GetValue``
set (the profile's captured identity), and refusals for everything that needs a session
(``StartSession``/``ValidatePair`` -> ``InvalidHostID``). ``Pair`` is answered by the pairing
state the profile plays - the Trust dialog is showing (``PairingDialogResponsePending``), the
phone is locked (``PasswordProtected``), or the user tapped Don't Trust (``UserDeniedPairing``) -
which are the error strings pymobiledevice3 maps to its exceptions (lockdown.py).

A trusted phone (``trust``, see trust.py) answers ``StartSession`` for the HostID of its pair
record with ``EnableSessionSSL`` and then speaks TLS as the server, as lockdownd does; in the
session it answers domain values (Developer Mode's ``com.apple.security.mac.amfi``
``DeveloperModeStatus``) and starts the services it has (services.py) on a fresh port.
"""
from __future__ import annotations

import plistlib
import socket
import itertools
import struct
import threading
import time
import uuid
from typing import Any

from .wire import read_exact

LOCKDOWN_PORT = 62078
_LENGTH = struct.Struct(">I")
_MAX_MESSAGE = 4 * 2 ** 20
PAIR_ERRORS = {"untrusted": "PairingDialogResponsePending", "locked": "PasswordProtected",
               "denied": "UserDeniedPairing"}


def read_plist(sock: socket.socket) -> dict[str, Any] | None:
    """One framed plist; None when the host closed the connection."""
    header = read_exact(sock, _LENGTH.size)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    if length > _MAX_MESSAGE:
        raise ValueError(f"lockdown message of {length} bytes is over the {_MAX_MESSAGE} limit")
    body = read_exact(sock, length)
    return None if body is None else plistlib.loads(body)


def write_plist(sock: socket.socket, message: dict[str, Any]) -> None:
    body = plistlib.dumps(message, fmt=plistlib.FMT_XML)
    sock.sendall(_LENGTH.pack(len(body)) + body)


CLOCK_KEY = "TimeIntervalSince1970"  # a session's GetValue: the phone's wall clock, seconds
FIRST_SERVICE_PORT = 49152  # lockdownd hands out dynamic ports for started services


class Lockdownd:
    """Answers for one virtual iPhone; ``values`` is the untrusted GetValue dictionary,
    ``domains`` {(domain, key): value} what a session may read, ``services`` {name: handler}
    what a session may start, ``trust`` the pair record's other half (None: never trusted)."""

    def __init__(self, values: dict[str, Any], pairing: str, trust=None,
                 domains: dict[tuple[str, str], Any] | None = None,
                 services: dict[str, Any] | None = None, clock_offset_s: float = 0.0):
        self.values = values
        self.clock_offset_s = clock_offset_s  # the phone's wall clock - the host's
        self.pair_error = PAIR_ERRORS.get(pairing)
        self.trust = trust
        self.domains = domains or {}
        self.services = services or {}
        self.started: dict[int, Any] = {}  # port -> handler, for usbmuxd's Connect
        self._ports = itertools.count(FIRST_SERVICE_PORT)
        self._lock = threading.Lock()
        self.requests: list[str] = []  # what hosts asked, in order (tests read it)

    def serve(self, sock: socket.socket, session: bool = False) -> None:
        """One host connection. ``session``: already trusted, as lockdownd is behind the iOS 17+
        tunnel (``com.apple.mobile.lockdown.remote.trusted``: no StartSession, no TLS)."""
        while True:
            message = read_plist(sock)
            if message is None:
                return
            request = str(message.get("Request", ""))
            self.requests.append(request)
            reply = self.answer(request, message, session)
            write_plist(sock, reply)
            if request == "StartSession" and "SessionID" in reply:
                session = True
                if reply.get("EnableSessionSSL"):
                    sock = self.trust.wrap(sock)  # the host starts TLS right after this answer
            if request == "StopSession":
                session = False
            if request == "Goodbye":
                return

    def answer(self, request: str, message: dict[str, Any],
               session: bool = False) -> dict[str, Any]:
        reply: dict[str, Any] = {"Request": request}
        if request == "QueryType":
            reply["Type"] = "com.apple.mobile.lockdown"
        elif request == "GetValue":
            reply.update(self._get_value(message, session))
        elif request == "Pair" and self.pair_error:
            reply["Error"] = self.pair_error
        elif request == "StartSession" and self._known_host(message.get("HostID")):
            reply.update({"SessionID": str(uuid.uuid4()).upper(), "EnableSessionSSL": True})
        elif request == "ValidatePair" and self._known_host(
                (message.get("PairRecord") or {}).get("HostID")):
            pass  # success is an answer without Error
        elif request == "StartService" and session:
            reply.update(self._start_service(str(message.get("Service"))))
        elif request in ("Pair", "StartSession", "ValidatePair", "StartService", "SetValue",
                         "RemoveValue", "Unpair"):
            reply["Error"] = "InvalidHostID"  # no (matching) pair record: nothing trusted happens
        elif request in ("StopSession", "Goodbye"):
            reply["Result"] = "Success"
        else:
            reply["Error"] = "InvalidRequest"
        return reply

    def _known_host(self, host_id: Any) -> bool:
        return self.trust is not None and host_id == self.trust.host_id

    def _start_service(self, name: str) -> dict[str, Any]:
        if name not in self.services:
            return {"Service": name, "Error": "InvalidService"}
        with self._lock:
            port = next(self._ports)
            self.started[port] = self.services[name]
        return {"Service": name, "Port": port, "EnableServiceSSL": True}

    def _get_value(self, message: dict[str, Any], session: bool = False) -> dict[str, Any]:
        domain, key = message.get("Domain"), message.get("Key")
        if domain:  # domains (developer mode, battery, ...) need a trusted session
            if session and (domain, key) in self.domains:
                return {"Domain": domain, "Key": key, "Value": self.domains[(domain, key)]}
            return {"Domain": domain, **({"Key": key} if key else {}), "Error": "MissingValue"}
        if key == CLOCK_KEY and session:  # the phone's wall clock, read as it is now
            return {"Key": key, "Value": time.time() + self.clock_offset_s}
        if key is None:
            return {"Value": dict(self.values)}
        if key not in self.values:
            return {"Key": key, "Error": "MissingValue"}
        return {"Key": key, "Value": self.values[key]}
