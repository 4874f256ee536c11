"""Parse ``/proc/cpuinfo`` (ARM phones first; x86 and RISC-V best effort).

Returned keys:

- ``processors``: int, number of ``processor`` entries (1 for old single-core
  kernels that print no ``processor`` line at all).
- ``cores``: list of ``{processor, implementer, part, variant, revision,
  architecture, name, model_name}``; ``implementer`` / ``part`` are lowercase
  hex strings ("0x41", "0xd05"), ``variant`` / ``revision`` ints,
  ``architecture`` int (7, 8) or the printed string ("AArch64"), ``name`` the
  known core name ("Cortex-A55") or None.
- ``core_clusters``: one entry per distinct (implementer, part), in order of
  first appearance: ``{implementer, part, name, count, processors}``.
- ``features``: sorted list of every flag in ``Features`` (or x86 ``flags``).
- ``hardware`` (``Hardware``), ``model_name`` (first ``model name``, else
  the old global ``Processor`` line), ``board_revision`` (``Revision``).
- ``arch``: "armv6", "armv7", "armv8", "x86", "x86_64", "riscv64" or None.
  ARMv9 cores still print "CPU architecture: 8", so they report "armv8".
- ``is_32bit_view``: True when an ARMv8 CPU shows ARMv7 feature names (``half
  thumb fastmult vfp edsp``): a 64-bit kernel answering a 32-bit process.
- ``neon``, ``asimd``, ``fp16`` (asimdhp), ``dotprod`` (asimddp), ``i8mm``,
  ``bf16``, ``sve``, ``sve2``: bools.  ``asimd`` is also True for "neon" on an
  ARMv8 core, because Advanced SIMD is mandatory there (32-bit view).
- ``error``: when no cpuinfo field was found.

Quirks: old ARMv7 kernels print ``processor : N`` lines first and the CPU
fields (Features, CPU part, ...) once, after a blank line, for all cores --
those global fields fill in every core that lacks its own.
"""

from __future__ import annotations

import re

from ._text import clean_lines, to_hex, to_int

_ARM = {
    0xb02: "ARM11 MPCore", 0xb36: "ARM1136", 0xb76: "ARM1176", 0xc05: "Cortex-A5",
    0xc07: "Cortex-A7", 0xc08: "Cortex-A8", 0xc09: "Cortex-A9", 0xc0d: "Cortex-A12",
    0xc0e: "Cortex-A17", 0xc0f: "Cortex-A15", 0xd01: "Cortex-A32", 0xd02: "Cortex-A34",
    0xd03: "Cortex-A53", 0xd04: "Cortex-A35", 0xd05: "Cortex-A55", 0xd06: "Cortex-A65",
    0xd07: "Cortex-A57", 0xd08: "Cortex-A72", 0xd09: "Cortex-A73", 0xd0a: "Cortex-A75",
    0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1", 0xd0d: "Cortex-A77", 0xd0e: "Cortex-A76AE",
    0xd40: "Neoverse-V1", 0xd41: "Cortex-A78", 0xd42: "Cortex-A78AE", 0xd44: "Cortex-X1",
    0xd46: "Cortex-A510", 0xd47: "Cortex-A710", 0xd48: "Cortex-X2", 0xd49: "Neoverse-N2",
    0xd4b: "Cortex-A78C", 0xd4c: "Cortex-X1C", 0xd4d: "Cortex-A715", 0xd4e: "Cortex-X3",
    0xd4f: "Neoverse-V2", 0xd80: "Cortex-A520", 0xd81: "Cortex-A720", 0xd82: "Cortex-X4",
    0xd85: "Cortex-X925", 0xd87: "Cortex-A725",
}
_QUALCOMM = {
    0x00f: "Scorpion", 0x02d: "Scorpion", 0x04d: "Krait", 0x06f: "Krait",
    0x201: "Kryo Silver", 0x205: "Kryo Gold", 0x211: "Kryo Gold",
    0x800: "Kryo 280 Gold (Cortex-A73)", 0x801: "Kryo 280 Silver (Cortex-A53)",
    0x802: "Kryo 385 Gold (Cortex-A75)", 0x803: "Kryo 385 Silver (Cortex-A55)",
    0x804: "Kryo 485 Gold (Cortex-A76)", 0x805: "Kryo 485 Silver (Cortex-A55)",
    0xc00: "Falkor", 0xc01: "Saphira", 0x001: "Oryon",
}
# implementer -> part -> name.  Huawei's 0x48/0xd40 is the Kirin 980's
# Cortex-A76 (it reports its own implementer code).
PART_NAMES = {
    0x41: _ARM, 0x51: _QUALCOMM,
    0x53: {0x001: "Exynos M1/M2", 0x002: "Exynos M3", 0x003: "Exynos M4", 0x004: "Exynos M5"},
    0x48: {0xd01: "TaiShan v110", 0xd40: "Cortex-A76 (HiSilicon)"},
    0x4e: {0x000: "Denver", 0x003: "Denver 2", 0x004: "Carmel"},
    0x56: {0x581: "PJ4/PJ4b", 0x584: "PJ4B-MP"},
}
_V7_NAMES = {"half", "thumb", "fastmult", "vfp", "edsp"}
_KNOWN_KEYS = {"Processor", "CPU implementer", "CPU part", "CPU architecture", "Features",
               "BogoMIPS", "Hardware", "model name", "vendor_id", "flags", "isa"}


def _blocks(lines: list[str]) -> tuple[list[dict], dict]:
    """Per-``processor`` dicts plus the global fields outside any of them."""
    cores: list[dict] = []
    glob: dict[str, str] = {}
    current: dict | None = None
    for line in lines:
        if not line.strip():
            current = None  # a blank line ends the processor block
            continue
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        if key == "processor" and value.isdigit():
            current = {"processor": value}
            cores.append(current)
        elif current is not None:
            current.setdefault(key, value)
        else:
            glob.setdefault(key, value)
    return cores, glob


def _core(fields: dict, glob: dict) -> dict:
    def get(key: str) -> str | None:
        return fields.get(key, glob.get(key))
    implementer, part = to_hex(get("CPU implementer")), to_hex(get("CPU part"))
    arch_raw = get("CPU architecture")
    return {
        "processor": to_int(fields.get("processor")) or 0,
        "implementer": None if implementer is None else f"0x{implementer:02x}",
        "part": None if part is None else f"0x{part:03x}",
        "variant": to_hex(get("CPU variant")),
        "revision": to_int(get("CPU revision")),
        "architecture": to_int(arch_raw) if to_int(arch_raw) is not None else arch_raw,
        "name": PART_NAMES.get(implementer, {}).get(part) if part is not None else None,
        "model_name": get("model name"),
    }


def _clusters(cores: list[dict]) -> list[dict]:
    clusters: dict[tuple, dict] = {}
    for core in cores:
        key = (core["implementer"], core["part"])
        entry = clusters.setdefault(key, {"implementer": key[0], "part": key[1],
                                          "name": core["name"], "count": 0, "processors": []})
        entry["count"] += 1
        entry["processors"].append(core["processor"])
    return list(clusters.values())


def _arch(cores: list[dict], glob: dict, features: set[str]) -> str | None:
    archs = {str(core["architecture"]).lower() for core in cores}
    if archs & {"8", "aarch64"} or "asimd" in features:
        return "armv8"
    if "7" in archs:
        return "armv7"
    if "6" in archs or "armv6" in glob.get("Processor", "").lower():
        return "armv6"
    if "vendor_id" in glob or "flags" in glob:
        return "x86_64" if "lm" in features else "x86"
    isa = glob.get("isa", "")
    return "riscv64" if isa.startswith("rv64") else ("riscv32" if isa.startswith("rv32") else None)


def parse(text: str) -> dict:
    blocks, glob = _blocks(clean_lines(text))
    # x86/RISC-V put everything inside processor blocks: use the first block
    # for the machine-wide fields too.
    first = blocks[0] if blocks else {}
    if not blocks and ("CPU part" in glob or "Features" in glob):
        blocks = [{"processor": "0"}]  # single-core kernels omit "processor"
    cores = [_core(fields, glob) for fields in blocks]
    features: set[str] = set()
    for fields in blocks + [glob]:
        features.update(re.split(r"\s+", (fields.get("Features") or fields.get("flags") or "").strip()))
    features.discard("")
    merged = {**first, **glob}
    arch = _arch(cores, merged, features)
    is_32bit_view = arch == "armv8" and bool(features & _V7_NAMES)
    model_name = next((c["model_name"] for c in cores if c["model_name"]), None)
    result = {
        "processors": len(cores), "cores": cores, "core_clusters": _clusters(cores),
        "features": sorted(features), "hardware": glob.get("Hardware"),
        "model_name": model_name or glob.get("Processor"),
        "board_revision": glob.get("Revision"), "arch": arch, "is_32bit_view": is_32bit_view,
        "neon": bool(features & {"neon", "asimd"}),
        "asimd": "asimd" in features or (arch == "armv8" and "neon" in features),
        "fp16": "asimdhp" in features, "dotprod": "asimddp" in features,
        "i8mm": "i8mm" in features, "bf16": bool(features & {"bf16", "asimdbf16"}),
        "sve": "sve" in features, "sve2": "sve2" in features,
    }
    if not cores and not set(glob) & _KNOWN_KEYS:
        result["error"] = "no 'processor'/'CPU part'/'Features' lines: not /proc/cpuinfo"
    return result
