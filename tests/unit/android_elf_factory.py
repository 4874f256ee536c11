"""Build minimal ELF images (header + PT_LOAD program headers) for the Android unit tests."""
from __future__ import annotations

import struct

MACHINE = {"arm64-v8a": (64, 183), "armeabi-v7a": (32, 40), "x86_64": (64, 62), "x86": (32, 3)}


def make_elf(abi: str, aligns: tuple[int, ...] = (0x4000,)) -> bytes:
    bits, machine = MACHINE[abi]
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1, 1]) + b"\x00" * 9
    if bits == 64:
        ehsize, phentsize = 64, 56
        header = ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, ehsize, 0, 0, ehsize,
                                     phentsize, len(aligns), 0, 0, 0)
        phdrs = b"".join(struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, 0, 0, a) for a in aligns)
    else:
        ehsize, phentsize = 52, 32
        header = ident + struct.pack("<HHIIIIIHHHHHH", 3, machine, 1, 0, ehsize, 0, 0, ehsize,
                                     phentsize, len(aligns), 0, 0, 0)
        phdrs = b"".join(struct.pack("<IIIIIIII", 1, 0, 0, 0, 0, 0, 5, a) for a in aligns)
    return header + phdrs + b"\x00" * 64
