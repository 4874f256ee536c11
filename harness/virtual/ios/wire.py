"""Byte-exact reads on the virtual iPhone's sockets (usbmuxd, lockdownd, AFC all frame their
messages by a length header)."""
from __future__ import annotations

import socket


def read_exact(sock: socket.socket, count: int) -> bytes | None:
    """Exactly ``count`` bytes, or None when the peer closed first (a client hanging up between
    messages is normal: every service loop ends there)."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data
