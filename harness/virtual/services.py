"""adbd services behind OPEN: ``shell:`` (v1), ``shell,v2,...:``, ``exec:``, ``sync:``, ``root:``.

- shell v1 / exec: raw bytes, stdout and stderr merged, no exit status (the stream just closes).
- shell v2: packets ``[id:u8][len:u32le][data]``: 0 stdin, 1 stdout, 2 stderr, 3 exit (1 byte),
  4 close-stdin, 5 window size. The exit packet carries the status ``adb shell`` returns.
- sync: 8-byte requests ``[id][len:u32le]`` + path. STAT/LIST/SEND/RECV and their v2 forms
  STA2/LST2/LIS2, replies and failure texts as adbd's file_sync_service.cpp sends them.
"""
from __future__ import annotations

import errno
import stat
import struct
from functools import partial

from .adbd import ConnectionClosed, Stream
from .shell import IO, Cancelled, Shell

SYNC_DATA_MAX = 64 * 1024
ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW = 0, 1, 2, 3, 4, 5
_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
_DENT_V1 = struct.Struct("<4sIIII")
_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")


def open_service(name: str):
    """The handler for an OPEN, or None to refuse it (adb then prints "error: closed")."""
    if name.startswith("shell"):
        head, sep, command = name.partition(":")
        if not sep:
            return None
        args = head.split(",")[1:]
        return partial(_shell_v2 if "v2" in args else _shell_raw, command=command)
    if name.startswith("exec:"):
        return partial(_shell_raw, command=name[5:])
    if name == "sync:":
        return _sync
    if name in ("root:", "unroot:"):
        return partial(_root, wanted=name == "root:")
    return None


# -- shell ------------------------------------------------------------------------------------
def _run(stream: Stream, device, command: str, io: IO, chunks) -> int:
    """Run one command line; abandon it (killing tool children) when the host closes the stream.

    ``chunks()`` yields stdin as it arrives: an empty command is ``adb shell`` without arguments,
    which runs each line that arrives (no prompt, no pty) until stdin closes.
    """
    if device.faults.hang_all:
        stream.closed.wait()  # `hang`: OPEN acknowledged, then nothing, ever
        raise ConnectionClosed("stream closed while hung")
    shell = Shell(device, stream.closed)
    try:
        if command.strip():
            return shell.run_script(command, io)
        buffer = b""
        for data in chunks():
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                shell.run_script(line.decode(errors="replace"), io)
        return shell.run_script(buffer.decode(errors="replace"), io) if buffer.strip() else shell.last_rc
    except Cancelled:
        raise ConnectionClosed("stream closed while the command ran") from None


def _shell_raw(stream: Stream, device, command: str) -> None:
    chunks = partial(_raw_chunks, stream)
    io = IO(lambda: b"".join(chunks()), stream.write, stream.write)
    _run(stream, device, command, io, chunks)


def _raw_chunks(stream: Stream):
    while (data := stream.read_available(0.5)) is not None:
        if data:
            yield data


def _packet(stream: Stream, kind: int, data: bytes) -> None:
    if data:
        stream.write(struct.pack("<BI", kind, len(data)) + data)


def _shell_v2(stream: Stream, device, command: str) -> None:
    chunks = partial(_v2_chunks, stream)
    io = IO(lambda: b"".join(chunks()), partial(_packet, stream, ID_STDOUT),
            partial(_packet, stream, ID_STDERR))
    rc = _run(stream, device, command, io, chunks)
    stream.write(struct.pack("<BI", ID_EXIT, 1) + bytes([rc & 0xFF]))


def _v2_chunks(stream: Stream):
    """stdin packets until close-stdin (window-size packets are ignored: there is no pty)."""
    try:
        while True:
            kind, length = struct.unpack("<BI", stream.read(5))
            data = stream.read(length) if length else b""
            if kind == ID_CLOSE_STDIN:
                return
            if kind == ID_STDIN and data:
                yield data
    except ConnectionClosed:
        return


def _root(stream: Stream, device, wanted: bool) -> None:
    if device.profile.root:
        text = "adbd is already running as root\n" if wanted else "adbd not running as root\n"
    else:
        text = "adbd cannot run as root in production builds\n"
    stream.write(text.encode())


# -- sync -------------------------------------------------------------------------------------
def _sync(stream: Stream, device) -> None:
    fs = device.fs
    while True:
        request, length = struct.unpack("<4sI", stream.read(8))
        if length > 1024:
            _fail(stream, "path too long")
            return
        path = stream.read(length).decode(errors="replace")
        kind = request.decode(errors="replace")
        if kind == "STAT":
            _stat_v1(stream, fs, path)
        elif kind in ("STA2", "LST2"):
            _stat_v2(stream, fs, path)
        elif kind in ("LIST", "LIS2"):
            _list(stream, fs, path, v2=kind == "LIS2")
        elif kind == "SEND":
            if not _send(stream, fs, path):
                return
        elif kind == "RECV":
            if not _recv(stream, fs, path):
                return
        elif kind == "QUIT":
            return
        else:
            _fail(stream, f"unknown command {struct.unpack('<I', request)[0]:08x}")
            return


def _fail(stream: Stream, reason: str) -> None:
    stream.write(b"FAIL" + struct.pack("<I", len(reason.encode())) + reason.encode())


def _stat_v1(stream: Stream, fs, path: str) -> None:
    try:
        info = fs.stat(fs.normalize(path))
        values = (info.mode, info.size & 0xFFFFFFFF, info.mtime)
    except OSError:
        values = (0, 0, 0)  # lstat failed: adbd sends zeros, the client reads "does not exist"
    stream.write(b"STAT" + struct.pack("<III", *values))


def _stat_v2(stream: Stream, fs, path: str) -> None:
    try:
        i = fs.stat(fs.normalize(path))
        message = _STAT_V2.pack(b"STA2", 0, 0xFD00, i.ino, i.mode, i.nlink, i.uid, i.gid, i.size,
                                i.atime, i.mtime, i.ctime)
    except OSError as exc:
        message = _STAT_V2.pack(b"STA2", exc.errno or errno.ENOENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    stream.write(message)


def _list(stream: Stream, fs, path: str, v2: bool) -> None:
    directory = fs.normalize(path)
    try:
        names = [".", ".."] + fs.listdir(directory)
    except OSError:
        names = []
    out = []
    for name in names:
        try:
            i = fs.stat(fs.normalize(name, directory))
        except OSError:
            continue
        raw = name.encode()
        if v2:
            out.append(_DENT_V2.pack(b"DNT2", 0, 0xFD00, i.ino, i.mode, i.nlink, i.uid, i.gid,
                                     i.size, i.atime, i.mtime, i.ctime, len(raw)) + raw)
        else:
            out.append(_DENT_V1.pack(b"DENT", i.mode, i.size & 0xFFFFFFFF, i.mtime, len(raw)) + raw)
    done = _DENT_V2.pack(b"DONE", *[0] * 12) if v2 else _DENT_V1.pack(b"DONE", 0, 0, 0, 0)
    stream.write(b"".join(out) + done)


def _strtoul(text: str) -> int:
    """C strtoul(text, nullptr, 0): 0x.. hex, 0.. octal, else decimal."""
    text = text.strip()
    if text.lower().startswith("0x"):
        return int(text, 16)
    if text.startswith("0") and len(text) > 1:
        return int(text, 8)
    return int(text)


def _send(stream: Stream, fs, spec: str) -> bool:
    """SEND "path,mode" + DATA... + DONE(mtime): OKAY, or FAIL then drain to DONE and stop."""
    path_text, comma, mode_text = spec.rpartition(",")
    if not comma:
        _fail(stream, "missing , in ID_SEND_V1")
        return False
    try:
        mode = _strtoul(mode_text)
    except ValueError:
        _fail(stream, "bad mode")
        return False
    if stat.S_ISLNK(mode):
        return _refuse(stream, "symlink failed: Operation not permitted")
    mode &= 0o777
    mode |= (mode >> 3) & 0o070  # adbd copies the owner's bits to group and other
    mode |= (mode >> 3) & 0o007
    path = fs.normalize(path_text)
    try:
        writer = fs.open_push(path, mode)
    except OSError as exc:
        return _refuse(stream, f"couldn't create file: {exc.strerror}")
    try:
        while True:
            kind, size = struct.unpack("<4sI", stream.read(8))
            if kind == b"DATA":
                data = stream.read(size)
                try:
                    writer.write(data)
                except OSError as exc:
                    writer.abort()
                    return _refuse(stream, f"write failed: {exc.strerror}")
            elif kind == b"DONE":
                writer.close(mtime=size)
                stream.write(b"OKAY" + struct.pack("<I", 0))
                return True
            else:
                writer.abort()
                _fail(stream, "invalid data message")
                return False
    except ConnectionClosed:
        writer.abort()  # the host went away mid-push: no half file left behind
        raise


def _refuse(stream: Stream, reason: str) -> bool:
    _fail(stream, reason)
    while True:  # like adbd: swallow the DATA the host already sent, up to its DONE
        kind, size = struct.unpack("<4sI", stream.read(8))
        if kind != b"DATA":
            return False
        stream.read(size)


def _recv(stream: Stream, fs, path_text: str) -> bool:
    path = fs.normalize(path_text)
    try:
        if fs.is_dir(path):
            raise OSError(errno.EISDIR, "Is a directory")
        handle = open(fs.host_path(path), "rb") if path != "/dev/null" else None
    except OSError as exc:
        _fail(stream, f"open failed: {exc.strerror}")
        return False
    batch = bytearray()  # several DATA messages per WRTE: one OKAY round trip per max payload
    with handle or open("/dev/null", "rb") as fh:
        while chunk := fh.read(SYNC_DATA_MAX):
            batch += b"DATA" + struct.pack("<I", len(chunk)) + chunk
            if len(batch) + SYNC_DATA_MAX + 8 > stream.conn.max_payload:
                stream.write(bytes(batch))
                batch.clear()
    stream.write(bytes(batch) + b"DONE" + struct.pack("<I", 0))
    return True
