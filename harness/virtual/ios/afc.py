"""house_arrest and the AFC protocol behind it: an installed app's container on the virtual iPhone.

``com.apple.mobile.house_arrest`` takes one plist command (``VendContainer`` / ``VendDocuments``
with the app's bundle id): an app that is not installed is ``ApplicationLookupFailed``;
otherwise ``{"Status": "Complete"}`` and the connection speaks AFC, rooted at the container (or
its Documents). AFC packets: a 40-byte little-endian header (magic ``CFA6LPAA``, entire length,
this length, packet number, operation) and a payload; answers carry the request's packet number
and are STATUS (a u64 AFC error code), DATA, or FILE_OPEN_RES (a u64 handle), as pymobiledevice3's
services/afc.py reads them. The container is a host directory that lives as long as the stand-in;
paths never leave it.
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
from pathlib import Path

from .lockdownd import read_plist, write_plist
from .wire import read_exact

HOUSE_ARREST = "com.apple.mobile.house_arrest"
MAGIC = b"CFA6LPAA"
HEADER = struct.Struct("<8sQQQQ")
OP_STATUS, OP_DATA, OP_READ_DIR, OP_REMOVE_PATH, OP_MAKE_DIR = 0x01, 0x02, 0x03, 0x08, 0x09
OP_GET_FILE_INFO, OP_FILE_OPEN, OP_FILE_OPEN_RES, OP_READ, OP_WRITE, OP_FILE_CLOSE = (
    0x0A, 0x0D, 0x0E, 0x0F, 0x10, 0x14)
OK, UNKNOWN_PACKET_TYPE, INVALID_ARG, NOT_FOUND, IS_DIR, PERM_DENIED, DIR_NOT_EMPTY = (
    0, 6, 7, 8, 9, 10, 33)
READ_MODES = {1}  # RDONLY; every other fopen mode may create (AfcFopenMode)
_TRUNCATING = {3, 4}  # w, w+


class Containers:
    """App containers by bundle id; ``Documents/`` made like iOS makes it at install."""

    def __init__(self, bundle_ids: list[str]):
        self._root = Path(tempfile.mkdtemp(prefix="edgelab-virtual-iphone-"))
        self.media = self._root / "Media"  # com.apple.afc's root (/var/mobile/Media on a phone)
        self.media.mkdir()
        self.by_bundle: dict[str, Path] = {}
        for bundle in bundle_ids:
            self.add(bundle)

    def add(self, bundle: str) -> Path:
        """A container for a newly installed app (kept, with its files, on reinstall)."""
        if bundle not in self.by_bundle:
            folder = self._root / f"container-{len(self.by_bundle)}"
            (folder / "Documents").mkdir(parents=True)
            self.by_bundle[bundle] = folder
        return self.by_bundle[bundle]

    def cleanup(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)


class HouseArrest:
    def __init__(self, containers: Containers):
        self.containers = containers

    def serve(self, sock: socket.socket) -> None:
        message = read_plist(sock)
        if message is None:
            return
        command, bundle = message.get("Command"), message.get("Identifier")
        if command not in ("VendContainer", "VendDocuments"):
            write_plist(sock, {"Error": "UnknownCommand"})
            return
        folder = self.containers.by_bundle.get(bundle)
        if folder is None:
            write_plist(sock, {"Error": "ApplicationLookupFailed"})
            return
        write_plist(sock, {"Status": "Complete"})
        Afc(folder / "Documents" if command == "VendDocuments" else folder).serve(sock)


class Afc:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.handles: dict[int, object] = {}
        self._next_handle = 1

    def serve(self, sock: socket.socket) -> None:
        while True:
            header = read_exact(sock, HEADER.size)
            if header is None:
                return
            magic, entire, _this, number, operation = HEADER.unpack(header)
            if magic != MAGIC or entire < HEADER.size:
                return  # not AFC: end the connection as the daemon does
            payload = read_exact(sock, entire - HEADER.size) if entire > HEADER.size else b""
            if payload is None:
                return
            op, data = self.answer(operation, payload)
            sock.sendall(HEADER.pack(MAGIC, HEADER.size + len(data), HEADER.size + len(data),
                                     number, op) + data)

    def answer(self, operation: int, payload: bytes) -> tuple[int, bytes]:
        try:
            if operation == OP_GET_FILE_INFO:
                return OP_DATA, self._file_info(self._path(payload))
            if operation == OP_READ_DIR:
                path = self._path(payload)
                if not path.is_dir():
                    return _status(NOT_FOUND if not path.exists() else INVALID_ARG)
                names = [".", ".."] + sorted(os.listdir(path))
                return OP_DATA, b"".join(n.encode() + b"\0" for n in names)
            if operation == OP_MAKE_DIR:
                self._path(payload).mkdir(parents=True, exist_ok=True)
                return _status(OK)
            if operation == OP_REMOVE_PATH:
                return self._remove(self._path(payload))
            if operation == OP_FILE_OPEN:
                return self._open(struct.unpack_from("<Q", payload)[0], self._path(payload[8:]))
            if operation == OP_READ:
                handle, size = struct.unpack_from("<QQ", payload)
                return OP_DATA, self.handles[handle].read(size)
            if operation == OP_WRITE:
                (handle,) = struct.unpack_from("<Q", payload)
                self.handles[handle].write(payload[8:])
                return _status(OK)
            if operation == OP_FILE_CLOSE:
                (handle,) = struct.unpack_from("<Q", payload)
                self.handles.pop(handle).close()
                return _status(OK)
        except FileNotFoundError:
            return _status(NOT_FOUND)
        except (KeyError, ValueError, struct.error):
            return _status(INVALID_ARG)
        except PermissionError:
            return _status(PERM_DENIED)
        return _status(UNKNOWN_PACKET_TYPE)

    def _path(self, payload: bytes) -> Path:
        name = payload.split(b"\0", 1)[0].decode()
        path = (self.root / name.lstrip("/")).resolve()
        if path != self.root and self.root not in path.parents:
            raise PermissionError(name)  # the sandbox: nothing outside the container
        return path

    def _file_info(self, path: Path) -> bytes:
        info = path.stat()
        kind = "S_IFDIR" if path.is_dir() else "S_IFREG"
        fields = {"st_size": info.st_size, "st_blocks": info.st_blocks, "st_nlink": info.st_nlink,
                  "st_ifmt": kind, "st_mtime": info.st_mtime_ns,
                  "st_birthtime": info.st_mtime_ns}
        return b"".join(f"{k}\0{v}\0".encode() for k, v in fields.items())

    def _remove(self, path: Path) -> tuple[int, bytes]:
        if path.is_dir():
            if any(path.iterdir()):
                return _status(DIR_NOT_EMPTY)
            path.rmdir()
        else:
            path.unlink()
        return _status(OK)

    def _open(self, mode: int, path: Path) -> tuple[int, bytes]:
        if path.is_dir():
            return _status(IS_DIR)
        if mode in READ_MODES:
            handle_file = path.open("rb")
        else:
            if not path.parent.is_dir():
                return _status(NOT_FOUND)
            handle_file = path.open("wb" if mode in _TRUNCATING else "ab")
        handle = self._next_handle
        self._next_handle += 1
        self.handles[handle] = handle_file
        return OP_FILE_OPEN_RES, struct.pack("<Q", handle)


def _status(code: int) -> tuple[int, bytes]:
    return OP_STATUS, struct.pack("<Q", code)


