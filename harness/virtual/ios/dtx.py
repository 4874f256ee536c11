"""DTX, the message protocol of Apple's developer services (Instruments' ``DVTSecureSocketProxy``),
as the phone's side speaks it: written from the wire format, for the virtual iPhone.

A message travels as fragments; each starts with a 32-byte little-endian header (magic
0x1F3D5B79, header size, fragment index and count, body size, message identifier, conversation
index: 0 for a request, 1 for its reply, channel code, flags: bit 0 = expects a reply). A message
that is split sends a bodiless first fragment whose size is the whole, then the pieces. The body
starts with a 16-byte payload header (message type, 3 unused bytes, aux size, aux + payload size,
flags), then the aux (the arguments) and the payload (for a call: the selector).

Types used here: 0 OK (an empty reply), 1 DATA (bytes the phone pushes unasked: Instruments'
taps, sysmontap among them, send their archived samples so), 2 DISPATCH (a method call), 3
OBJECT (a value), 4 ERROR (an NSError). The payload is an NSKeyedArchiver binary plist (bpylist2
encodes and decodes it). The aux is a "primitive dictionary": a 16-byte header (0x1F0, 0, u64
body length), then for each argument a NULL key (type 10) and a value - 1 string, 2 buffer (an
NSKeyedArchiver plist, or empty = nil), 3 int32, 6 int64, 9 double.

Channel codes: the host opens channel N with ``_requestChannelWithCode:identifier:`` on the
control channel 0; the phone answers on N, and calls it makes itself on that channel go out as
-N (the code as seen from the phone's side of the channel).
"""
from __future__ import annotations

import plistlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from .wire import read_exact

MAGIC = 0x1F3D5B79
FRAGMENT = struct.Struct("<IIHHIIIiI")   # 32 bytes
PAYLOAD_HEADER = struct.Struct("<BBBBIII")  # 16 bytes
EXPECTS_REPLY = 1
OK, DATA, DISPATCH, OBJECT, ERROR = 0, 1, 2, 3, 4
MAX_MESSAGE = 64 * 2 ** 20
AUX_MAGIC = 0x1F0
T_STRING, T_BUFFER, T_INT32, T_INT64, T_DOUBLE, T_NULL = 1, 2, 3, 6, 9, 10


class DtxError(ValueError):
    """The host sent something that is not DTX (the connection ends)."""


@dataclass
class Message:
    type: int
    identifier: int
    conversation: int
    channel: int
    expects_reply: bool
    payload: Any = None                        # decoded: the selector of a DISPATCH
    args: list[Any] = field(default_factory=list)


def read_message(sock: socket.socket) -> Message | None:
    """One whole message (its fragments joined); None when the host hung up between messages."""
    body = bytearray()
    while True:
        raw = read_exact(sock, FRAGMENT.size)
        if raw is None:
            return None
        (magic, header_size, index, count, size, identifier, conversation, channel,
         flags) = FRAGMENT.unpack(raw)
        if magic != MAGIC:
            raise DtxError(f"not a DTX fragment (magic {magic:#x})")
        if size > MAX_MESSAGE:
            raise DtxError(f"DTX message of {size} bytes is over the {MAX_MESSAGE} limit")
        if header_size > FRAGMENT.size and read_exact(sock, header_size - FRAGMENT.size) is None:
            return None
        if count > 1 and index == 0:
            continue  # the announcement of a split message: its pieces follow
        piece = read_exact(sock, size)
        if piece is None:
            return None
        body += piece
        if index + 1 >= count:
            break
    return _decode(bytes(body), identifier, conversation, channel, bool(flags & EXPECTS_REPLY))


def _decode(body: bytes, identifier: int, conversation: int, channel: int,
            expects_reply: bool) -> Message:
    kind, _, _, _, aux_size, total, _ = PAYLOAD_HEADER.unpack_from(body)
    aux = body[PAYLOAD_HEADER.size:PAYLOAD_HEADER.size + aux_size]
    payload = body[PAYLOAD_HEADER.size + aux_size:PAYLOAD_HEADER.size + total]
    return Message(kind, identifier, conversation, channel, expects_reply,
                   unarchive(payload) if payload else None, decode_aux(aux))


def encode(message: Message) -> bytes:
    """One fragment (the stand-in's messages are small)."""
    aux = encode_aux(message.args) if message.args else b""
    if message.type in (ERROR, DATA):
        payload = message.payload  # bytes already: an archived NSError (ns_error), a tap's data
    else:
        payload = archive(message.payload) if message.payload is not None else b""
    body = PAYLOAD_HEADER.pack(message.type, 0, 0, 0, len(aux), len(aux) + len(payload), 0) \
        + aux + payload
    return FRAGMENT.pack(MAGIC, FRAGMENT.size, 0, 1, len(body), message.identifier,
                         message.conversation, message.channel,
                         EXPECTS_REPLY if message.expects_reply else 0) + body


def decode_aux(aux: bytes) -> list[Any]:
    if not aux:
        return []
    magic, _, length = struct.unpack_from("<IIQ", aux)
    if magic & 0xFF != AUX_MAGIC & 0xFF:
        raise DtxError(f"DTX arguments are not a primitive dictionary ({magic:#x})")
    offset, end, values = 16, 16 + length, []
    while offset < end:
        _, offset = _primitive(aux, offset)          # the key: NULL for positional arguments
        value, offset = _primitive(aux, offset)
        values.append(value)
    return values


def _primitive(data: bytes, offset: int) -> tuple[Any, int]:
    (tag,) = struct.unpack_from("<I", data, offset)
    offset += 4
    tag &= 0xFF
    if tag == T_NULL:
        return None, offset
    if tag in (T_STRING, T_BUFFER):
        (length,) = struct.unpack_from("<I", data, offset)
        raw = data[offset + 4:offset + 4 + length]
        offset += 4 + length
        if tag == T_STRING:
            return raw.decode("utf-8", errors="replace"), offset
        return (unarchive(raw) if raw else None), offset
    if tag == T_INT32:
        return struct.unpack_from("<i", data, offset)[0], offset + 4
    if tag == T_INT64:
        return struct.unpack_from("<q", data, offset)[0], offset + 8
    if tag == T_DOUBLE:
        return struct.unpack_from("<d", data, offset)[0], offset + 8
    raise DtxError(f"unknown DTX primitive type {tag}")


def encode_aux(args: list[Any]) -> bytes:
    """Integers as int64, everything else archived into a buffer (as the phone sends them)."""
    body = bytearray()
    for value in args:
        body += struct.pack("<I", T_NULL)
        if isinstance(value, int) and not isinstance(value, bool):
            body += struct.pack("<Iq", T_INT64, value)
        else:
            raw = archive(value) if value is not None else b""
            body += struct.pack("<II", T_BUFFER, len(raw)) + raw
    return struct.pack("<IIQ", AUX_MAGIC, 0, len(body)) + bytes(body)


def archive(value: Any) -> bytes:
    from bpylist2 import archiver

    return archiver.archive(value)


def unarchive(raw: bytes) -> Any:
    from bpylist2 import archiver

    return archiver.unarchive(raw)


def ns_error(description: str, code: int = 1, domain: str = "DTXMessage") -> bytes:
    """An archived NSError {NSDomain, NSCode, NSUserInfo: {NSLocalizedDescription}}, written out
    by hand: registering an NSError class with bpylist2 would replace the one a client in the
    same process (pymobiledevice3) decodes with."""
    uid = plistlib.UID
    objects = [
        "$null",
        {"$class": uid(7), "NSDomain": uid(2), "NSCode": code, "NSUserInfo": uid(3)},
        domain,
        {"$class": uid(6), "NS.keys": [uid(4)], "NS.objects": [uid(5)]},
        "NSLocalizedDescription",
        description,
        {"$classname": "NSDictionary", "$classes": ["NSDictionary", "NSObject"]},
        {"$classname": "NSError", "$classes": ["NSError", "NSObject"]},
    ]
    return plistlib.dumps({"$version": 100000, "$archiver": "NSKeyedArchiver",
                           "$top": {"root": uid(1)}, "$objects": objects},
                          fmt=plistlib.FMT_BINARY)


class Connection:
    """Sends on one DTX socket from several threads (replies from the reader, calls the phone
    makes when a process ends); identifiers of the phone's own calls count up from 1."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._lock = threading.Lock()
        self._next_id = 1

    def send(self, message: Message) -> None:
        with self._lock:
            self.sock.sendall(encode(message))

    def reply(self, request: Message, value: Any = None) -> None:
        kind = OK if value is None else OBJECT
        self.send(Message(kind, request.identifier, request.conversation + 1, request.channel,
                          False, value))

    def reply_error(self, request: Message, description: str) -> None:
        self.send(Message(ERROR, request.identifier, request.conversation + 1, request.channel,
                          False, ns_error(description)))

    def push(self, channel: int, data: bytes) -> None:
        """DATA the phone sends unasked on a channel (``-code``: the host's channel seen from the
        phone), as a tap pushes its samples; no reply is expected."""
        with self._lock:
            identifier, self._next_id = self._next_id, self._next_id + 1
            self.sock.sendall(encode(Message(DATA, identifier, 0, channel, False, data)))

    def call(self, channel: int, selector: str, args: list[Any]) -> None:
        """A call from the phone that wants no answer (a notification to the host)."""
        with self._lock:
            identifier, self._next_id = self._next_id, self._next_id + 1
            self.sock.sendall(encode(Message(DISPATCH, identifier, 0, channel, False, selector,
                                             list(args))))
