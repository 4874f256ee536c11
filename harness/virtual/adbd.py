"""The adbd side of the adb transport protocol over TCP (what `adb connect HOST:PORT` talks to).

Every message is a 24-byte little-endian header (command, arg0, arg1, data length, data checksum,
command ^ 0xffffffff) plus payload. The host opens with CNXN; we answer CNXN with our banner (or
AUTH, for the ``unauthorized`` fault). Each OPEN("service:...") becomes a ``Stream``; WRTE carries
data; CLSE ends it, and adbd answers a host's CLSE with its own (sockets.cpp
remote_socket_shutdown), which clients that wait for it rely on. Version and max payload are the
minimum of both sides, and our CNXN reply carries the negotiated max payload as adbd's send_connect
does; from version 0x01000001 on, receivers do not verify checksums (we still send them).

Flow control is chosen per connection from the host's CNXN banner, as adbd does (adb.cpp A_OPEN):
- without ``delayed_ack`` on both sides: one WRTE in flight per stream and direction, each
  acknowledged by an empty OKAY; OPEN's arg1 must be 0.
- with ``delayed_ack`` on both sides: OPEN's arg1 is the window the host grants us (bytes we may
  send unacknowledged); we answer OKAY with a 4-byte window of our own (32 MiB, adb.h
  INITIAL_DELAYED_ACK_BYTES); every OKAY after that carries the bytes acknowledged (int32), which
  reopen the sender's window. A mismatch (arg1 set without the feature, or 0 with it) is refused
  with CLSE(0, id), as adbd logs "unexpected value of A_OPEN arg1".
"""
from __future__ import annotations

import os
import queue
import random
import socket
import struct
import threading
import time

from .lossylink import LossyDirection

A_SYNC, A_CNXN, A_OPEN, A_OKAY = 0x434E5953, 0x4E584E43, 0x4E45504F, 0x59414B4F
A_CLSE, A_WRTE, A_AUTH, A_STLS = 0x45534C43, 0x45545257, 0x48545541, 0x534C5453
A_VERSION_MIN, A_VERSION_SKIP_CHECKSUM, A_VERSION = 0x01000000, 0x01000001, 0x01000001
MAX_PAYLOAD, MAX_PAYLOAD_V1 = 1024 * 1024, 4096
INITIAL_DELAYED_ACK_BYTES = 32 * 1024 * 1024
FEATURE_DELAYED_ACK = "delayed_ack"
_ACK = struct.Struct("<i")
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
HEADER = struct.Struct("<6I")
NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_OPEN: "OPEN", A_OKAY: "OKAY", A_CLSE: "CLSE",
         A_WRTE: "WRTE", A_AUTH: "AUTH", A_STLS: "STLS"}


class ConnectionClosed(Exception):
    pass


def pack(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return HEADER.pack(command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF,
                       command ^ 0xFFFFFFFF) + data


def read_message(sock: socket.socket) -> tuple[int, int, int, bytes]:
    header = _read_exact(sock, HEADER.size)
    command, arg0, arg1, length, _checksum, magic = HEADER.unpack(header)
    if magic != command ^ 0xFFFFFFFF:
        raise ConnectionClosed(f"bad magic in message header {header.hex()}")
    if length > MAX_PAYLOAD:
        raise ConnectionClosed(f"payload of {length} bytes is over the {MAX_PAYLOAD} limit")
    return command, arg0, arg1, _read_exact(sock, length) if length else b""


def _read_exact(sock: socket.socket, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionClosed("peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def banner_features(banner: bytes) -> frozenset[str]:
    """The ``features=`` of a CNXN banner (``host::features=shell_v2,delayed_ack``, adb.cpp
    parse_banner: ``;``-separated key=value pairs after the second ``:``)."""
    text = banner.rstrip(b"\0").decode(errors="replace")
    pieces = text.split(":")
    if len(pieces) < 3:
        return frozenset()
    for prop in pieces[2].split(";"):
        key, eq, value = prop.partition("=")
        if eq and key == "features":
            return frozenset(f for f in value.split(",") if f)
    return frozenset()


class Stream:
    """One adb stream (a service such as ``shell:`` or ``sync:``) seen from the device side."""

    def __init__(self, conn: "AdbConnection", local_id: int, remote_id: int, service: str,
                 send_window: int | None = None):
        self.conn, self.local_id, self.remote_id, self.service = conn, local_id, remote_id, service
        self.closed = threading.Event()       # set when either side closed: services stop then
        # bytes we may still send before the host acknowledges: delayed ack grants a window (OPEN's
        # arg1); without it one WRTE at a time, i.e. a window that the next OKAY reopens
        self.delayed_ack = send_window is not None
        self._window = send_window if send_window is not None else 1
        self._window_changed = threading.Condition()
        self._close_once = threading.Lock()
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._pending = b""
        self._writing = threading.Lock()  # a shell's background jobs write beside it (jobs.py)

    # -- outbound ----------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send ``data`` as WRTE messages of at most max payload, each after the previous OKAY."""
        with self._writing:
            self._write(memoryview(data))

    def _write(self, view: memoryview) -> None:
        while view:
            with self._window_changed:
                # adbd sends while its window is above 0 (it may overshoot by one packet)
                while self._window <= 0 and not self.closed.is_set():
                    self._window_changed.wait(0.2)
                if self.closed.is_set():
                    raise ConnectionClosed("stream closed")
                chunk, view = bytes(view[:self.conn.max_payload]), view[self.conn.max_payload:]
                self._window -= len(chunk) if self.delayed_ack else 1
            self.conn.send(A_WRTE, self.local_id, self.remote_id, chunk)

    def _mark_closed(self) -> bool:
        """True for the one caller that closes the stream first (only that side sends CLSE)."""
        with self._close_once:
            first = not self.closed.is_set()
            self.closed.set()
        with self._window_changed:
            self._window_changed.notify_all()
        return first

    def close(self) -> None:
        if self._mark_closed():
            self.conn.send_quietly(A_CLSE, self.local_id, self.remote_id)
        self.conn.forget(self.local_id)

    # -- inbound -----------------------------------------------------------------------------
    def on_write(self, data: bytes) -> None:
        self._inbox.put(data)
        # acknowledged at once: services read as fast as the loopback delivers, and a shell that
        # never reads stdin must not stall the host's stdin forwarding. With delayed ack the OKAY
        # says how many bytes it acknowledges (the host's window grows back by that much).
        ack = _ACK.pack(len(data)) if self.delayed_ack else b""
        self.conn.send_quietly(A_OKAY, self.local_id, self.remote_id, ack)

    def on_okay(self, payload: bytes) -> None:
        with self._window_changed:
            if self.delayed_ack:
                if len(payload) == _ACK.size:
                    self._window += _ACK.unpack(payload)[0]
            else:
                self._window = 1
            self._window_changed.notify_all()

    def on_close(self) -> bool:
        """The host closed the stream; True if it did so first (adbd then answers with CLSE)."""
        first = self._mark_closed()
        self._inbox.put(None)
        return first

    def read(self, count: int) -> bytes:
        """Exactly ``count`` bytes of what the host wrote; ConnectionClosed if it closes first."""
        while len(self._pending) < count:
            chunk = self._inbox.get()
            if chunk is None:
                self._inbox.put(None)
                raise ConnectionClosed("stream closed by the host")
            self._pending += chunk
        data, self._pending = self._pending[:count], self._pending[count:]
        return data

    def read_available(self, timeout: float) -> bytes | None:
        """Whatever arrived within ``timeout`` (b"" if nothing), None once the host closed."""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        try:
            chunk = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return b""
        if chunk is None:
            self._inbox.put(None)
        return chunk


class AdbConnection:
    """One TCP connection from an adb server: handshake, stream table, message dispatch."""

    def __init__(self, sock: socket.socket, device, open_service):
        self.sock, self.device, self.open_service = sock, device, open_service
        self.version, self.max_payload = A_VERSION, MAX_PAYLOAD
        self.host_features: frozenset[str] = frozenset()
        self.delayed_ack = False  # both banners name delayed_ack (chosen at CNXN)
        self.online = False
        self._streams: dict[int, Stream] = {}
        self._next_id = 1
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self.closed = threading.Event()
        # `loss=P` (lossylink.py): what we send and what we receive are lost independently;
        # the device keeps the counts of all its connections
        self.outbound = getattr(device, "lossy_out", None) or LossyDirection()
        self.inbound = getattr(device, "lossy_in", None) or LossyDirection()

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        message = pack(command, arg0, arg1, data)
        latency = self.device.faults.latency_ms
        if latency:  # `latency=MS`: a slow, jittery link (each message late, order kept)
            time.sleep(latency / 1000.0 * random.uniform(0.5, 1.5))
        with self._send_lock:  # held while a lost message waits: everything behind it waits
            self._suffer_loss(self.outbound)
            try:
                self.sock.sendall(message)
            except OSError as exc:
                self.close()
                raise ConnectionClosed(str(exc)) from None
        self.device.touch()

    def _suffer_loss(self, direction: LossyDirection) -> None:
        """``loss=P``: wait out the retransmissions of a lost message; reset the connection
        when one message was lost too often in a row (lossylink.py)."""
        if self.closed.is_set():
            return  # nothing more crosses a closed link: the send itself fails
        late, give_up = direction.hold(self.device.faults.loss)
        if late:
            time.sleep(late)
        if give_up:
            self.reset()
            raise ConnectionClosed("connection reset: the link lost one message "
                                   "too many times in a row")

    def reset(self) -> None:
        """End the connection with a TCP RST, as a stack that gave up retransmitting does
        (SO_LINGER 0, then close: no FIN, the peer reads ECONNRESET)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close(graceful=False)

    def send_quietly(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        try:
            self.send(command, arg0, arg1, data)
        except ConnectionClosed:
            pass

    def forget(self, local_id: int) -> None:
        with self._lock:
            self._streams.pop(local_id, None)

    def close(self, graceful: bool = True) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if graceful:  # a FIN; reset() wants none, its close sends the RST
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.on_close()

    def serve(self) -> None:
        """Read and dispatch messages until the peer or the device closes the connection."""
        try:
            while not self.closed.is_set():
                command, arg0, arg1, data = read_message(self.sock)
                self._suffer_loss(self.inbound)  # the host's message came through late, or never
                self.device.touch()
                self._dispatch(command, arg0, arg1, data)
        except (ConnectionClosed, OSError):
            pass
        finally:
            self.close()

    def _dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        faults = self.device.faults
        if faults.offline:
            return  # the transport stays up but the handshake never completes: "offline"
        if command == A_CNXN:
            self.version = max(A_VERSION_MIN, min(arg0, A_VERSION))
            self.max_payload = max(MAX_PAYLOAD_V1, min(arg1, MAX_PAYLOAD))
            self.host_features = banner_features(data)
            self.delayed_ack = (FEATURE_DELAYED_ACK in self.host_features
                                and FEATURE_DELAYED_ACK in self.device.features)
            if faults.unauthorized:
                self._send_auth_token()
            else:
                self.online = True
                # adbd's send_connect: its own version, the negotiated (not its own) max payload
                self.send(A_CNXN, A_VERSION, self.max_payload, self.device.banner().encode())
        elif command == A_AUTH:
            if arg0 == AUTH_SIGNATURE:  # every key is rejected; the next token asks for another
                self._send_auth_token()
            # AUTH_RSAPUBLICKEY: a phone would show "Allow USB debugging?"; nobody ever taps it
        elif not self.online:
            return
        elif command == A_OPEN:
            if arg0 == 0:
                return  # adbd ignores an OPEN without a local id
            if self.delayed_ack != bool(arg1):
                self.send(A_CLSE, 0, arg0)  # flow control the connection did not negotiate
                return
            self._open(arg0, arg1 if self.delayed_ack else None,
                       data.rstrip(b"\0").decode(errors="replace"))
        else:
            with self._lock:
                stream = self._streams.get(arg1)
            if stream is None:
                return  # a late message for a stream one side already closed
            if command == A_WRTE:
                stream.on_write(data)
            elif command == A_OKAY:
                stream.on_okay(data)
            elif command == A_CLSE:
                self.forget(arg1)
                if stream.on_close():
                    self.send_quietly(A_CLSE, stream.local_id, stream.remote_id)

    def _send_auth_token(self) -> None:
        self.send(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))

    def _open(self, remote_id: int, send_window: int | None, service: str) -> None:
        if not self.device.allow_stream():
            self.device.drop_connections()  # `disconnect-after=N`: the cable is pulled
            return
        if self.device.stalled:
            # `hang-after=N`: a wedged adbd keeps the connection up and answers nothing, so the
            # host waits at its OKAY (the stage adbutils' 600 s default covers), not at a read
            return
        with self._lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, remote_id, service, send_window)
            self._streams[local_id] = stream
        handler = self.open_service(service)
        if handler is None:
            self.forget(local_id)
            self.send(A_CLSE, 0, remote_id)  # an OPEN refused: adb prints "error: closed"
            return
        window = _ACK.pack(INITIAL_DELAYED_ACK_BYTES) if self.delayed_ack else b""
        self.send(A_OKAY, local_id, remote_id, window)
        threading.Thread(target=self._run_service, args=(handler, stream),
                         name=f"adbd-{service.split(':', 1)[0]}-{local_id}", daemon=True).start()

    def _run_service(self, handler, stream: Stream) -> None:
        try:
            handler(stream, self.device)
        except ConnectionClosed:
            pass
        finally:
            stream.close()
