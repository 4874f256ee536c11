"""Executing a file on the virtual phone: the ELF ABI check, and edgelab's virtual tool stubs.

CI has no ARM builds of benchmark_model & co., so virtual devices get *stubs*: a minimal valid ELF
header for the wanted ABI plus a note ``EDGELAB-VIRTUAL-TOOL:<tool>``. Executed on a device that
can run that ABI, a stub runs the real engine on the host CPU and prints what the real tool prints
(see toolcli.py). Everything else fails like mksh on a phone:

- missing file -> ``X: inaccessible or not found`` (127); no x bit -> ``X: can't execute:
  Permission denied`` (126);
- ELF for an ABI the phone lacks -> ``X: not executable: 64-bit ELF file`` (rc 1; mksh's
  scriptexec after the kernel's ENOEXEC, as captured in shared/device-data/adb/);
- known binary magics (gzip, MZ, ...) -> ``X: not executable: magic 1F8B`` (rc 1);
- anything else is run as a shell script, as mksh does.
A real ARM binary of a runnable ABI cannot run here and says so (rc 126) instead of faking it.
"""
from __future__ import annotations

import re
import stat
import struct
from dataclasses import dataclass

STUB_MARKER = b"EDGELAB-VIRTUAL-TOOL:"
KNOWN_TOOLS = ("benchmark_model", "onnxruntime_perf_test", "benchncnn", "benchmark.out")
# (EI_CLASS, e_machine) -> Android ABI name
_ELF_ABIS = {(2, 183): "arm64-v8a", (1, 40): "armeabi-v7a", (2, 62): "x86_64", (1, 3): "x86"}
_ABI_ELF = {abi: key for key, abi in _ELF_ABIS.items()}
# mksh exec.c scriptexec(): first two octets that mean "a binary, not a script"
_MAGICS = {0o407, 0o410, 0o413, 0o314, 0x4C01, 0x0150, 0x5001, 0x0500, 0x0005, 0x425A, 0x4D5A,
           0x4E45, 0x4C58, 0x0B13, 0x4C5A, 0x377A, 0x1F8B, 0x1F9D}


@dataclass(frozen=True)
class ElfInfo:
    bits: int          # 32 or 64 (EI_CLASS)
    machine: int       # e_machine
    abi: str | None    # Android ABI name, None for other machines


def elf_info(head: bytes) -> ElfInfo | None:
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] not in (1, 2):
        return None
    endian = "<" if head[5] != 2 else ">"
    machine = struct.unpack_from(endian + "H", head, 18)[0]
    return ElfInfo(bits=32 * head[4], machine=machine, abi=_ELF_ABIS.get((head[4], machine)))


def make_tool_stub(tool_name: str, abi: str) -> bytes:
    """A minimal valid ELF (ET_DYN, one PT_NOTE) for ``abi`` whose note names ``tool_name``.

    Used ONLY for virtual devices: a real phone would refuse to run it (no PT_LOAD).
    """
    if abi not in _ABI_ELF:
        raise ValueError(f"unknown ABI {abi!r}; valid: {sorted(_ABI_ELF)}")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", tool_name):
        raise ValueError(f"bad tool name {tool_name!r}")
    elf_class, machine = _ABI_ELF[abi]
    wide = elf_class == 2
    header_size, phent_size = (64, 56) if wide else (52, 32)
    desc = STUB_MARKER + tool_name.encode() + b"\0"
    desc += b"\0" * (-len(desc) % 4)
    name = b"EDGELAB\0"
    note = struct.pack("<III", len(name), len(desc), 1) + name + desc
    note_offset = header_size + phent_size
    flags = 0x05000000 if machine == 40 else 0  # ARM EABI version 5, as NDK armv7 binaries carry
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + b"\0" * 8
    if wide:
        header = ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, header_size, 0, flags,
                                     header_size, phent_size, 1, 64, 0, 0)
        program = struct.pack("<IIQQQQQQ", 4, 4, note_offset, 0, 0, len(note), len(note), 4)
    else:
        header = ident + struct.pack("<HHIIIIIHHHHHH", 3, machine, 1, 0, header_size, 0, flags,
                                     header_size, phent_size, 1, 40, 0, 0)
        program = struct.pack("<IIIIIIII", 4, note_offset, 0, 0, len(note), len(note), 4, 4)
    return header + program + note


def stub_tool_name(data: bytes) -> str | None:
    start = data.find(STUB_MARKER)
    if start < 0:
        return None
    end = data.find(b"\0", start)
    return data[start + len(STUB_MARKER):end if end >= 0 else None].decode(errors="replace")


def runnable_abis(device_abis: tuple[str, ...]) -> set[str]:
    abis = set(device_abis)
    if "armeabi" in abis:  # old phones list armeabi (ARMv5) next to armeabi-v7a
        abis.add("armeabi-v7a")
    return abis


def execute_file(shell, name: str, argv: list[str], io) -> int:
    fs = shell.fs
    path = fs.normalize(name, shell.cwd)
    try:
        info = fs.stat(path)
    except OSError:
        shell.warn(io, f"{name}: inaccessible or not found")
        return 127
    if stat.S_ISDIR(info.mode):
        shell.warn(io, f"{name}: can't execute: Is a directory")
        return 126
    if not info.mode & 0o111:
        shell.warn(io, f"{name}: can't execute: Permission denied")
        return 126
    with open(fs.host_path(path), "rb") as fh:
        head = fh.read(4096)
    elf = elf_info(head)
    if elf is not None:
        if elf.abi not in runnable_abis(shell.device.profile.abis):
            shell.warn(io, f"{name}: not executable: {elf.bits}-bit ELF file")
            return 1
        tool = stub_tool_name(head)
        if tool is None:
            shell.warn(io, f"{name}: can't execute: a real {elf.abi} binary cannot run on a "
                           "virtual device (it runs edgelab tool stubs only)")
            return 126
        from . import toolcli

        return toolcli.run_tool(tool, shell, path, argv, io)
    if head.startswith(b"#!"):
        interpreter = head[2:].split(b"\n", 1)[0].strip().split(b" ")[0].decode(errors="replace")
        if not interpreter.endswith("/sh"):
            shell.warn(io, f"{name}: {interpreter}: inaccessible or not found")
            return 127
    elif len(head) >= 5 and (head[0] << 8 | head[1]) in _MAGICS:
        shell.warn(io, f"{name}: not executable: magic {head[0] << 8 | head[1]:04X}")
        return 1
    script = fs.read_bytes(path).split(b"\0", 1)[0].decode(errors="replace")
    return shell.child().run_script(script, io)
