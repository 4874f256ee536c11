"""RemoteServiceDiscovery (RSD), the iOS 17+ phone's side of the RemoteXPC handshake, for the
virtual iPhone's tunnel (tunnel.py): what a host gets when it connects to the RSD port the
tunnel names.

The wire: HTTP/2 frames (no HPACK headers of note, no TLS: over a real tunnel the tunnel itself
is the encryption), each DATA frame carrying RemoteXPC messages: a 24-byte little-endian wrapper
(magic 0x29B00B92, flags, body size, message id) and, when there is a body, the XPC payload
(magic 0x42133742, version 5, one XPC object: a dictionary here). The frames are built and
parsed with ``hyperframe`` and the XPC objects with pymobiledevice3's own XPC codec
(``remote/xpc_message.py``): a stand-in may use a protocol library, it must not copy a client.

The exchange, as pymobiledevice3 (remote/remotexpc.py) and other clients (idevice, frida,
go-ios) describe the device's side:

- the host sends the HTTP/2 preface, its SETTINGS and a WINDOW_UPDATE, opens stream 1 (the root
  channel) with an empty dictionary and a ``0x0201``-flagged wrapper, and stream 3 (the reply
  channel) with an ``INIT_HANDSHAKE`` wrapper; it then waits for the phone's SETTINGS;
- the phone sends its SETTINGS (and a connection WINDOW_UPDATE), acknowledges the host's, and
  answers the stream openings with bodiless / empty-dictionary wrappers, which clients skip;
- the host sends ``{"MessageType": "Handshake", "MessagingProtocolVersion": ..., "UUID": ...,
  "Properties": {...}, "Services": {}}`` on stream 1 and the phone answers on stream 1 with its
  own Handshake: ``Properties`` (identity) and ``Services`` ({name: {"Entitlement", "Port" (a
  string), "Properties"}}), the table every later connection is made from.

What is captured and what is configuration: the answer is the real iOS 17.0 trusted handshake of
the profile's phone (``[captures] rsd_handshake_trusted``) with the profile's identity (its UDID
in the real A12+ form, [override] values) and ONLY the services this stand-in plays, each on the
loopback port it listens on (the capture's own ports are the phone's). The SETTINGS values, the
message ids of the phone's messages and the replies to the stream openings are configuration:
no byte capture of a phone's side is in device-data; they are what the clients above accept.
"""
from __future__ import annotations

import socket
import threading
import uuid
from typing import Any

from .profile import _RSD_TO_LOCKDOWN
from .wire import read_exact

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER = 9
ROOT_CHANNEL, REPLY_CHANNEL = 1, 3
MAX_FRAME = 16384          # HTTP/2's default SETTINGS_MAX_FRAME_SIZE: the phone splits above it
MAX_INBOUND = 4 * 2 ** 20  # a host message larger than this ends the connection
# CONFIGURATION (no capture of the phone's frames): what the phone announces
PHONE_SETTINGS = {"MAX_CONCURRENT_STREAMS": 100, "INITIAL_WINDOW_SIZE": 1048576}
PHONE_WINDOW_INCREMENT = 983041


def handshake_for(captured: dict[str, Any], values: dict[str, Any], udid: str,
                  ports: dict[str, int]) -> dict[str, Any]:
    """The phone's Handshake answer: the captured one, with the profile's identity (its lockdown
    ``values``; the UDID usbmuxd names) and the Services table cut to ``ports`` (name -> the
    loopback port the stand-in serves it on)."""
    properties = dict(captured["Properties"])
    for key in list(properties):
        lockdown = _RSD_TO_LOCKDOWN.get(key, key)  # OSVersion is lockdown's ProductVersion
        if lockdown in values and key != "UniqueDeviceID":
            properties[key] = values[lockdown]
    if "HumanReadableProductVersionString" in properties and "ProductVersion" in values:
        properties["HumanReadableProductVersionString"] = values["ProductVersion"]
    properties["UniqueDeviceID"] = udid
    if values.get("EdgelabVirtual") is True:  # the stand-in says what it is, as lockdownd does
        properties["EdgelabVirtual"] = True
    services = {}
    for name, port in ports.items():
        entry = dict(captured["Services"].get(name) or {"Entitlement": name})
        entry["Port"] = str(port)  # the phone sends ports as strings
        services[name] = entry
    answer = {k: v for k, v in captured.items() if k not in ("Properties", "Services")}
    answer.update({"Properties": properties, "Services": services})
    return answer


def _xpc_types(value: Any, key: str = "") -> Any:
    """JSON values as the phone's XPC types: integers are uint64 (pymobiledevice3's codec needs
    them marked), the top-level ``UUID`` an XPC UUID."""
    from pymobiledevice3.remote.xpc_message import XpcUInt64Type

    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return XpcUInt64Type(value)
    if isinstance(value, dict):
        return {k: _xpc_types(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_xpc_types(v) for v in value]
    if key == "UUID" and isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


class RsdServer:
    """Answers the RemoteXPC handshake on each connection to the tunnel's RSD port. ``handshake``
    is the phone's answer (``handshake_for``); ``peers`` records what each host sent (tests)."""

    def __init__(self, handshake: dict[str, Any]):
        self.handshake = handshake
        self.peers: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def serve(self, sock: socket.socket) -> None:
        from hyperframe.frame import (DataFrame, Frame, HeadersFrame, SettingsFrame,
                                      WindowUpdateFrame)
        from pymobiledevice3.remote.xpc_message import (XpcFlags, XpcWrapper,
                                                        create_xpc_wrapper, decode_xpc_object)

        def send(*frames) -> None:
            sock.sendall(b"".join(frame.serialize() for frame in frames))

        def send_message(stream: int, wrapper: bytes) -> None:
            for offset in range(0, len(wrapper), MAX_FRAME):  # a large answer spans frames
                send(DataFrame(stream_id=stream, data=wrapper[offset:offset + MAX_FRAME]))

        if read_exact(sock, len(HTTP2_PREFACE)) != HTTP2_PREFACE:
            return  # not an HTTP/2 client: the phone drops it
        settings = {getattr(SettingsFrame, k): v for k, v in PHONE_SETTINGS.items()}
        send(SettingsFrame(settings=settings),
             WindowUpdateFrame(stream_id=0, window_increment=PHONE_WINDOW_INCREMENT))
        opened: set[int] = set()
        pending: dict[int, bytes] = {}
        while True:
            header = read_exact(sock, FRAME_HEADER)
            if header is None:
                return
            frame, length = Frame.parse_frame_header(memoryview(header))
            if length > MAX_INBOUND:
                return
            body = read_exact(sock, length) if length else b""
            if body is None:
                return
            frame.parse_body(memoryview(body))
            if isinstance(frame, SettingsFrame):
                if "ACK" not in frame.flags:
                    send(SettingsFrame(flags=["ACK"]))
                continue
            if not isinstance(frame, DataFrame) or not frame.data:
                continue  # HEADERS, WINDOW_UPDATE, an END_STREAM: nothing to answer
            stream = frame.stream_id
            data = pending.pop(stream, b"") + bytes(frame.data)
            try:
                wrapper = XpcWrapper.parse(data)
            except Exception as exc:  # a message split over frames: wait for the rest
                if type(exc).__name__ == "TruncatedDataError" and len(data) < MAX_INBOUND:
                    pending[stream] = data
                    continue
                return  # not RemoteXPC: the phone drops the connection
            if stream not in opened:  # the phone answers on the host's streams
                opened.add(stream)
                send(HeadersFrame(stream_id=stream, flags=["END_HEADERS"]))
            message = decode_xpc_object(wrapper.payload) if wrapper.payload is not None else None
            if isinstance(message, dict) and message.get("MessageType") == "Handshake":
                with self._lock:
                    self.peers.append(message)
                send_message(ROOT_CHANNEL, create_xpc_wrapper(
                    _xpc_types(self.handshake), message_id=wrapper.message_id + 1))
            elif stream == REPLY_CHANNEL and wrapper.flags & XpcFlags.INIT_HANDSHAKE:
                send_message(REPLY_CHANNEL, XpcWrapper(flags=XpcFlags.ALWAYS_SET).build())
            elif stream == ROOT_CHANNEL and message == {}:
                send_message(ROOT_CHANNEL, create_xpc_wrapper({}))  # the empty dictionary back
