"""ELF header checks: class/machine against the ABI, PT_LOAD alignment against the page size."""
from __future__ import annotations

import pytest

from harness.engines.elf import ElfError, abi_mismatch, page_size_warning, read_elf

from android_elf_factory import make_elf


@pytest.mark.parametrize("abi, bits, machine", [("arm64-v8a", 64, "aarch64"),
                                                ("armeabi-v7a", 32, "arm"),
                                                ("x86_64", 64, "x86_64"), ("x86", 32, "x86")])
def test_reads_class_and_machine(abi, bits, machine):
    info = read_elf(make_elf(abi))
    assert (info.bits, info.machine_name) == (bits, machine)
    assert abi_mismatch(info, abi) is None


def test_wrong_abi_names_both_sides():
    problem = abi_mismatch(read_elf(make_elf("arm64-v8a")), "armeabi-v7a")
    assert "ELF64 aarch64" in problem and "armeabi-v7a needs ELF32 arm" in problem


def test_armeabi_accepts_32bit_arm_and_unknown_abi_is_named():
    info = read_elf(make_elf("armeabi-v7a"))
    assert abi_mismatch(info, "armeabi") is None
    assert "unknown ABI" in abi_mismatch(info, "mips")


@pytest.mark.parametrize("data, message", [(b"#!/bin/sh\necho hi\n", "not an ELF"),
                                           (b"\x7fELF", "not an ELF"),
                                           (b"\x7fELF\x02\x02" + b"\x00" * 60, "big-endian")])
def test_non_elf_input_is_an_error(data, message):
    with pytest.raises(ElfError, match=message):
        read_elf(data)


@pytest.mark.parametrize("abi", ["arm64-v8a", "armeabi-v7a"])
def test_load_alignment_and_16k_page_warning(abi):
    old = read_elf(make_elf(abi, aligns=(0x1000, 0x1000)))
    new = read_elf(make_elf(abi, aligns=(0x4000, 0x4000)))
    assert old.min_load_alignment == 4096 and new.min_load_alignment == 16384
    warning = page_size_warning("benchmark_model", old, 16384)
    assert "4096 < device page size 16384" in warning and "max-page-size=16384" in warning
    assert page_size_warning("benchmark_model", new, 16384) is None
    assert page_size_warning("benchmark_model", old, 4096) is None
    assert page_size_warning("benchmark_model", old, None) is None


def test_header_without_program_headers_has_unknown_alignment():
    info = read_elf(make_elf("arm64-v8a", aligns=()))
    assert info.min_load_alignment is None
    assert page_size_warning("stub", info, 16384) is None
