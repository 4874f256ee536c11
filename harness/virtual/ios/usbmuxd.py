"""A usbmuxd stand-in on TCP speaking the plist protocol (version 1) of the real daemon.

Every packet is a 16-byte little-endian header (total length, version, message type, tag) and a
payload; in the plist protocol the type is 8 and the payload an XML plist with ``MessageType``.
Answers carry the request's tag. What clients ask (pymobiledevice3 usbmux.py, libusbmuxd):

- ``ReadBUID`` -> ``{"BUID": ...}`` (pymobiledevice3 sends it first to learn the protocol version)
- ``ListDevices`` -> ``{"DeviceList": [Attached...]}``; ``Listen`` -> Result 0, then one
  ``Attached`` per device on the same connection
- ``ReadPairRecord`` -> the record (a trusted phone: what the earlier pairing saved), or
  Result 2 (BADDEV) when this host has none: an untrusted phone. ``SavePairRecord``/``DeletePairRecord`` -> Result 0
- ``Connect`` (``PortNumber`` in network byte order) -> Result 0 and the socket becomes a pipe
  to the device port (lockdownd's 62078, or a port lockdownd gave a started service), else
  Result 3 (CONNREFUSED)

Clients find it through ``USBMUXD_SOCKET_ADDRESS=HOST:PORT`` (libusbmuxd's variable, which
pymobiledevice3 honours) or pymobiledevice3's ``--usbmux HOST:PORT``.
"""
from __future__ import annotations

import plistlib
import socket
import struct
import uuid
from typing import Any

from .lockdownd import LOCKDOWN_PORT, Lockdownd
from .wire import read_exact

HEADER = struct.Struct("<4I")  # length (incl. header), version, message, tag
VERSION_BINARY, VERSION_PLIST = 0, 1
MESSAGE_RESULT, MESSAGE_PLIST = 1, 8
RESULT_OK, RESULT_BADCOMMAND, RESULT_BADDEV, RESULT_CONNREFUSED, RESULT_BADVERSION = 0, 1, 2, 3, 6
APPLE_IPHONE_USB_PRODUCT_ID = 0x12A8  # what usbmuxd reports for iPhones on USB


def read_packet(sock: socket.socket) -> tuple[int, int, int, bytes] | None:
    header = read_exact(sock, HEADER.size)
    if header is None:
        return None
    length, version, message, tag = HEADER.unpack(header)
    if length < HEADER.size or length > 1 << 20:
        raise ValueError(f"usbmux packet length {length} out of range")
    body = read_exact(sock, length - HEADER.size) if length > HEADER.size else b""
    return None if body is None else (version, message, tag, body)


def pack_plist(tag: int, message: dict[str, Any]) -> bytes:
    body = plistlib.dumps(message, fmt=plistlib.FMT_XML)
    return HEADER.pack(HEADER.size + len(body), VERSION_PLIST, MESSAGE_PLIST, tag) + body


class Usbmuxd:
    """The daemon's answers for the devices it holds (one virtual iPhone here)."""

    def __init__(self, udid: str, lockdownd: Lockdownd, device_id: int = 1,
                 buid: str | None = None):
        self.udid = udid
        self.device_id = device_id
        self.lockdownd = lockdownd
        self.buid = buid or str(uuid.uuid4()).upper()  # this host's id, in pair records too
        # an earlier pairing's record, when the phone plays trusted; none otherwise
        self.pair_records: dict[str, bytes] = {}
        if lockdownd.trust is not None:
            self.pair_records[udid] = lockdownd.trust.record_bytes()

    def attached(self) -> dict[str, Any]:
        return {"MessageType": "Attached", "DeviceID": self.device_id, "Properties": {
            "ConnectionSpeed": 480000000, "ConnectionType": "USB", "DeviceID": self.device_id,
            "LocationID": 0, "ProductID": APPLE_IPHONE_USB_PRODUCT_ID, "SerialNumber": self.udid,
            "USBSerialNumber": self.udid.replace("-", "")}}

    def serve(self, sock: socket.socket) -> None:
        while True:
            packet = read_packet(sock)
            if packet is None:
                return
            version, message, tag, body = packet
            if version != VERSION_PLIST or message != MESSAGE_PLIST:
                # the binary protocol (version 0) is the pre-plist daemon's; say so and go on
                sock.sendall(HEADER.pack(HEADER.size + 4, VERSION_BINARY, MESSAGE_RESULT, tag)
                             + struct.pack("<I", RESULT_BADVERSION))
                continue
            request = plistlib.loads(body)
            kind = request.get("MessageType")
            if kind == "Connect":
                handler = self._connect(sock, tag, request)
                if handler is not None:
                    handler(sock)  # the socket is the device's port now
                return
            if kind == "Listen":
                sock.sendall(pack_plist(tag, _result(RESULT_OK)))
                sock.sendall(pack_plist(0, self.attached()))
                continue
            sock.sendall(pack_plist(tag, self._answer(kind, request)))

    def _answer(self, kind: str | None, request: dict[str, Any]) -> dict[str, Any]:
        if kind == "ReadBUID":
            return {"BUID": self.buid}
        if kind == "ListDevices":
            return {"DeviceList": [self.attached()]}
        if kind == "ReadPairRecord":
            record = self.pair_records.get(str(request.get("PairRecordID")))
            return {"PairRecordData": record} if record else _result(RESULT_BADDEV)
        if kind == "SavePairRecord":
            self.pair_records[str(request.get("PairRecordID"))] = request.get("PairRecordData", b"")
            return _result(RESULT_OK)
        if kind == "DeletePairRecord":
            self.pair_records.pop(str(request.get("PairRecordID")), None)
            return _result(RESULT_OK)
        return _result(RESULT_BADCOMMAND)

    def _connect(self, sock: socket.socket, tag: int, request: dict[str, Any]):
        """The handler for the device port asked (lockdownd, or a service lockdownd started),
        after answering OK; None after a refusal."""
        port = socket.ntohs(int(request.get("PortNumber", 0)) & 0xFFFF)
        if request.get("DeviceID") != self.device_id:
            sock.sendall(pack_plist(tag, _result(RESULT_BADDEV)))
            return None
        if port == LOCKDOWN_PORT:
            handler = self.lockdownd.serve
        elif port in self.lockdownd.started:
            service = self.lockdownd.started[port]
            trust = self.lockdownd.trust

            def handler(conn, service=service, trust=trust):  # services speak TLS first
                if getattr(service, "tls_handshake_only", False):  # pre-iOS 14 instruments
                    service.serve(trust.handshake_only(conn))
                else:
                    service.serve(trust.wrap(conn))
        else:
            sock.sendall(pack_plist(tag, _result(RESULT_CONNREFUSED)))
            return None
        sock.sendall(pack_plist(tag, _result(RESULT_OK)))
        return handler


def _result(number: int) -> dict[str, Any]:
    return {"MessageType": "Result", "Number": number}
