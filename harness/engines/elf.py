"""Read the few ELF header fields that decide whether a native tool can run on a phone.

A benchmark tool built for the wrong ABI fails on the device with a cryptic "not executable:
64-bit ELF file" or "Exec format error"; checking class and machine when the tool is registered
turns that into a clear message before anything is pushed. PT_LOAD alignment matters on
16 KB-page devices (Android 15+): a binary or library whose segments are aligned to 4 KB cannot
be mapped there, so such files are flagged in the record instead of failing mysteriously.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
PT_LOAD = 1

# e_machine values (ELF spec / Linux elf-em.h)
MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64"}

# Android ABI -> (ELF class bits, e_machine)
ABI_ELF = {
    "arm64-v8a": (64, 183),
    "armeabi-v7a": (32, 40),
    "armeabi": (32, 40),
    "x86_64": (64, 62),
    "x86": (32, 3),
}


class ElfError(ValueError):
    """The file is not an ELF file we can read (too short, wrong magic, big-endian, ...)."""


@dataclass(frozen=True)
class ElfInfo:
    bits: int                    # 32 or 64 (ELFCLASS32 / ELFCLASS64)
    machine: int                 # e_machine
    load_alignments: tuple[int, ...]  # p_align of each PT_LOAD segment, in file order

    @property
    def machine_name(self) -> str:
        return MACHINES.get(self.machine, f"machine {self.machine}")

    @property
    def min_load_alignment(self) -> int | None:
        """The smallest PT_LOAD alignment: the one that decides 16 KB-page compatibility."""
        return min(self.load_alignments) if self.load_alignments else None

    def describe(self) -> str:
        return f"ELF{self.bits} {self.machine_name}"

    def as_dict(self) -> dict:
        return {"bits": self.bits, "machine": self.machine_name,
                "min_load_alignment": self.min_load_alignment}


def read_elf(data: bytes) -> ElfInfo:
    """Parse the ELF header and program headers of ``data`` (the whole file, or its start)."""
    if len(data) < 20 or data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    klass, endian = data[4], data[5]
    if klass not in (1, 2):
        raise ElfError(f"unknown ELF class {klass}")
    if endian != 1:  # every Android ABI is little-endian
        raise ElfError("big-endian ELF: no Android ABI uses it")
    bits = 64 if klass == 2 else 32
    machine = struct.unpack_from("<H", data, 18)[0]
    return ElfInfo(bits, machine, tuple(_load_alignments(data, bits)))


def _load_alignments(data: bytes, bits: int) -> list[int]:
    # Program headers may be absent (a stub, a truncated read): alignment is then unknown,
    # which is reported as None rather than guessed.
    if bits == 64:
        if len(data) < 64:
            return []
        phoff = struct.unpack_from("<Q", data, 32)[0]
        phentsize, phnum = struct.unpack_from("<HH", data, 54)
        fmt, align_at = "<I", 48  # p_type at 0, p_align at 48
    else:
        if len(data) < 52:
            return []
        phoff = struct.unpack_from("<I", data, 28)[0]
        phentsize, phnum = struct.unpack_from("<HH", data, 42)
        fmt, align_at = "<I", 28
    out = []
    for index in range(phnum):
        start = phoff + index * phentsize
        if phentsize == 0 or start + align_at + (8 if bits == 64 else 4) > len(data):
            break
        p_type = struct.unpack_from(fmt, data, start)[0]
        if p_type == PT_LOAD:
            out.append(struct.unpack_from("<Q" if bits == 64 else "<I", data, start + align_at)[0])
    return out


def read_elf_file(path: Path) -> ElfInfo:
    # program headers sit near the start; 64 KB covers every real layout without reading
    # a 30 MB tool into memory
    with open(path, "rb") as fh:
        return read_elf(fh.read(1 << 16))


def abi_mismatch(info: ElfInfo, abi: str) -> str | None:
    """None when ``info`` fits ``abi``, else a one-line reason naming both."""
    if abi not in ABI_ELF:
        return f"unknown ABI {abi!r}; valid: {', '.join(ABI_ELF)}"
    want_bits, want_machine = ABI_ELF[abi]
    if (info.bits, info.machine) == (want_bits, want_machine):
        return None
    return (f"file is {info.describe()}, but {abi} needs "
            f"ELF{want_bits} {MACHINES[want_machine]}")


def page_size_warning(name: str, info: ElfInfo, page_size: int | None) -> str | None:
    """A warning when a PT_LOAD segment is aligned below the device page size (16 KB pages)."""
    align = info.min_load_alignment
    if not page_size or align is None or align >= page_size:
        return None
    return (f"{name}: PT_LOAD alignment {align} < device page size {page_size}; rebuild with "
            f"-Wl,-z,max-page-size={page_size} (it may fail to load on this device)")
