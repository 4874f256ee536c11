"""A minimal adb *host* that speaks the transport protocol to adbd directly (no adb server).

Written for the tests from AOSP's protocol notes (protocol.txt, SYNC.TXT, services.md and adb.cpp's
A_OPEN/A_OKAY handling), independently of harness/virtual/adbd.py, so it checks the virtual adbd
the way any third-party client (ya-webadb, adb-shell, adb_client) would meet it. One stream at a
time, blocking; it records every message it receives so tests can check flow control.

Flow control follows the negotiation: ``delayed_ack`` in both CNXN banners means OPEN carries the
window we grant the device (arg1), the device's OKAY carries the window it grants us (int32), and
every later OKAY acknowledges a byte count. Otherwise one WRTE is in flight per direction.
"""
from __future__ import annotations

import socket
import struct
import time

CNXN, OPEN, OKAY, WRTE, CLSE, AUTH = (int.from_bytes(n, "little") for n in
                                      (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE", b"AUTH"))
NAMES = {CNXN: "CNXN", OPEN: "OPEN", OKAY: "OKAY", WRTE: "WRTE", CLSE: "CLSE", AUTH: "AUTH"}
_HEADER = struct.Struct("<6I")
SYNC_DATA_MAX = 64 * 1024


class Refused(Exception):
    """adbd answered an OPEN with CLSE."""


class WireClient:
    def __init__(self, port: int, *, version: int = 0x01000001, max_payload: int = 1 << 20,
                 features: tuple[str, ...] = ("shell_v2", "stat_v2", "delayed_ack"),
                 window: int = 32 << 20, timeout: float = 10.0, ack: bool = True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.window, self.ack = window, ack
        self.received: list[tuple[str, int, int, int]] = []  # (command, arg0, arg1, length)
        banner = b"host::features=" + ",".join(features).encode()
        self.send(CNXN, version, max_payload, banner)
        command, self.device_version, self.max_payload, data = self.recv()
        if command != CNXN:
            raise ConnectionError(f"expected CNXN, got {NAMES.get(command, hex(command))}")
        self.banner = data.decode()
        props = dict(p.split("=", 1) for p in self.banner.split(":", 2)[2].split(";") if "=" in p)
        self.device_features = set(props.get("features", "").split(","))
        self.delayed_ack = "delayed_ack" in features and "delayed_ack" in self.device_features
        self._next_id = 1

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- messages ----------------------------------------------------------------------------
    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.sock.sendall(_HEADER.pack(command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF,
                                       command ^ 0xFFFFFFFF) + data)

    def recv(self, timeout: float | None = None) -> tuple[int, int, int, bytes]:
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            command, arg0, arg1, length, _, magic = _HEADER.unpack(self._exact(_HEADER.size))
        finally:
            if timeout is not None:
                self.sock.settimeout(10.0)
        assert magic == command ^ 0xFFFFFFFF, "bad magic"
        data = self._exact(length) if length else b""
        self.received.append((NAMES.get(command, hex(command)), arg0, arg1, length))
        return command, arg0, arg1, data

    def _exact(self, count: int) -> bytes:
        out = b""
        while len(out) < count:
            chunk = self.sock.recv(count - len(out))
            if not chunk:
                raise ConnectionError("adbd closed the connection")
            out += chunk
        return out

    # -- streams -----------------------------------------------------------------------------
    def open(self, service: str) -> "WireStream":
        local = self._next_id
        self._next_id += 1
        self.send(OPEN, local, self.window if self.delayed_ack else 0, service.encode() + b"\0")
        command, remote, arg1, data = self.recv()
        if command == CLSE:
            raise Refused(f"{service}: CLSE({remote}, {arg1})")
        assert command == OKAY and arg1 == local, (NAMES.get(command), remote, arg1)
        send_window = struct.unpack("<i", data)[0] if self.delayed_ack else 1
        assert len(data) == (4 if self.delayed_ack else 0), f"OKAY payload {len(data)} bytes"
        return WireStream(self, local, remote, send_window)


class WireStream:
    def __init__(self, client: WireClient, local: int, remote: int, send_window: int):
        self.client, self.local, self.remote = client, local, remote
        self.send_window = send_window  # bytes (delayed ack) or messages (1) we may send
        self.buffer = b""
        self.closed = False

    def _handle(self, command: int, data: bytes) -> None:
        c = self.client
        if command == WRTE:
            self.buffer += data
            if c.ack:
                self.acknowledge(len(data))
        elif command == OKAY:
            if c.delayed_ack:
                assert len(data) == 4, f"delayed-ack OKAY carries {len(data)} bytes"
                self.send_window += struct.unpack("<i", data)[0]
            else:
                self.send_window = 1
        elif command == CLSE:
            self.closed = True

    def acknowledge(self, count: int) -> None:
        c = self.client
        c.send(OKAY, self.local, self.remote, struct.pack("<i", count) if c.delayed_ack else b"")

    def pump(self, timeout: float | None = None) -> None:
        command, _arg0, arg1, data = self.client.recv(timeout)
        if arg1 == self.local:
            self._handle(command, data)

    def write(self, data: bytes) -> None:
        c = self.client
        view = memoryview(data)
        while view:
            while self.send_window <= 0:
                self.pump()
                if self.closed:
                    raise ConnectionError("stream closed while writing")
            chunk, view = bytes(view[:c.max_payload]), view[c.max_payload:]
            self.send_window -= len(chunk) if c.delayed_ack else 1
            c.send(WRTE, self.local, self.remote, chunk)

    def read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if self.closed:
                raise ConnectionError("stream closed")
            self.pump()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_all(self) -> bytes:
        while not self.closed:
            self.pump()
        data, self.buffer = self.buffer, b""
        return data

    def close(self) -> None:
        """CLSE, then wait for adbd's CLSE in answer (it sends one)."""
        if not self.closed:
            self.client.send(CLSE, self.local, self.remote)
            deadline = time.monotonic() + 5
            while not self.closed and time.monotonic() < deadline:
                self.pump()
        assert self.closed, "adbd did not answer CLSE"


# -- services ----------------------------------------------------------------------------------
def shell_v2(client: WireClient, command: str) -> tuple[bytes, bytes, int]:
    """``shell,v2,raw:CMD`` -> (stdout, stderr, exit status) from the packet protocol."""
    stream = client.open(f"shell,v2,raw:{command}")
    out, err, rc = b"", b"", None
    while rc is None:
        kind, length = struct.unpack("<BI", stream.read(5))
        data = stream.read(length)
        if kind == 1:
            out += data
        elif kind == 2:
            err += data
        elif kind == 3:
            rc = data[0]
    stream.read_all()
    return out, err, rc


def shell_v1(client: WireClient, command: str) -> bytes:
    return client.open(f"shell:{command}").read_all()


def push(client: WireClient, data: bytes, path: str, mode: int = 0o644, mtime: int = 0) -> None:
    stream = client.open("sync:")
    spec = f"{path},{mode}".encode()
    message = bytearray(b"SEND" + struct.pack("<I", len(spec)) + spec)
    for offset in range(0, len(data), SYNC_DATA_MAX):
        chunk = data[offset:offset + SYNC_DATA_MAX]
        message += b"DATA" + struct.pack("<I", len(chunk)) + chunk
        if len(message) >= client.max_payload:  # like adb: fill WRTEs up to the max payload
            stream.write(bytes(message))
            message.clear()
    message += b"DONE" + struct.pack("<I", mtime)
    stream.write(bytes(message))
    reply, length = struct.unpack("<4sI", stream.read(8))
    if reply != b"OKAY":
        raise OSError(stream.read(length).decode())
    stream.write(b"QUIT" + struct.pack("<I", 0))
    stream.close()


def pull(client: WireClient, path: str) -> bytes:
    stream = client.open("sync:")
    stream.write(b"RECV" + struct.pack("<I", len(path)) + path.encode())
    out = bytearray()
    while True:
        kind, length = struct.unpack("<4sI", stream.read(8))
        if kind == b"DONE":
            break
        payload = stream.read(length)
        if kind == b"FAIL":
            raise OSError(payload.decode())
        assert kind == b"DATA" and length <= SYNC_DATA_MAX, (kind, length)
        out += payload
    stream.write(b"QUIT" + struct.pack("<I", 0))
    stream.close()
    return bytes(out)
