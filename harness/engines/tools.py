"""The cache of engine benchmark tools per ABI: ``$EDGELAB_CACHE/tools/<engine>/<abi>/``.

Phones run each engine's own official benchmark tool (``tools/manifest.toml`` says where each
comes from). A user registers the file with ``python -m harness tools add ENGINE ABI PATH``:
its ELF class and machine must fit the ABI (a wrong build is refused here, not discovered as a
cryptic "not executable: 64-bit ELF file" on the phone), and its sha256 is kept with it.

``add-virtual`` registers stand-ins made by ``harness.virtual.tools.make_tool_stub``: on a
virtual device they run the real engine on the host and print the real tool's format. They are
marked ``virtual`` and are never pushed to a real phone.
"""
from __future__ import annotations

import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .elf import ElfError, abi_mismatch, read_elf, read_elf_file
from ..errors import Unsupported, UsageError
from ..models.manifest import sha256_file

MANIFEST = Path(__file__).resolve().parents[1] / "tools" / "manifest.toml"
# best first: a 64-bit build is preferred where the phone runs both (it is what apps ship)
ABI_PREFERENCE = ("arm64-v8a", "armeabi-v7a", "x86_64", "x86")
VIRTUAL_ABIS = ("arm64-v8a", "armeabi-v7a")


@dataclass(frozen=True)
class ToolSpec:
    engine: str
    file: str    # the tool's own file name, kept on the device
    parser: str  # harness.parsers tool name for its output


TOOL_SPECS: dict[str, ToolSpec] = {
    "tflite": ToolSpec("tflite", "benchmark_model", "tflite_benchmark_model"),
    "onnxruntime": ToolSpec("onnxruntime", "onnxruntime_perf_test", "onnxruntime_perf_test"),
    "ncnn": ToolSpec("ncnn", "benchncnn", "benchncnn"),
    "mnn": ToolSpec("mnn", "benchmark.out", "mnn_benchmark"),
}


@dataclass(frozen=True)
class Tool:
    engine: str
    abi: str
    path: Path
    sha256: str
    bytes: int
    virtual: bool = False
    libs: tuple[Path, ...] = ()
    version: str | None = None
    source: str | None = None

    @property
    def spec(self) -> ToolSpec:
        return TOOL_SPECS[self.engine]

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "abi": self.abi, "file": self.path.name,
                "sha256": self.sha256, "bytes": self.bytes, "virtual": self.virtual,
                "libs": [p.name for p in self.libs], "version": self.version,
                "source": self.source}


def default_tools_dir() -> Path:
    from ..models.fetch import default_cache_dir

    return default_cache_dir() / "tools"


def spec_for(engine: str) -> ToolSpec:
    if engine not in TOOL_SPECS:
        raise UsageError(f"unknown engine {engine!r} for device tools; valid: "
                         f"{', '.join(TOOL_SPECS)}")
    return TOOL_SPECS[engine]


def add_hint(engine: str, abi: str) -> str:
    return (f"download the official tool (see tools/manifest.toml) and run "
            f"`python -m harness tools add {engine} {abi} PATH`")


class ToolCache:
    """Registered tools on disk; ``tool.json`` is written last, so a half-copied tool is absent."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else default_tools_dir()

    def _dir(self, engine: str, abi: str) -> Path:
        return self.root / engine / abi

    def get(self, engine: str, abi: str) -> Tool | None:
        meta = self._dir(engine, abi) / "tool.json"
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        folder = meta.parent
        return Tool(engine, abi, folder / data["file"], data["sha256"], data["bytes"],
                    bool(data.get("virtual")), tuple(folder / name for name in data.get("libs", [])),
                    data.get("version"), data.get("source"))

    def tools(self, engine: str | None = None) -> list[Tool]:
        engines = [engine] if engine else list(TOOL_SPECS)
        found = (self.get(e, abi) for e in engines for abi in ABI_PREFERENCE)
        return [t for t in found if t is not None]

    def by_abi(self, engine: str) -> dict[str, Tool]:
        return {t.abi: t for t in self.tools(engine)}

    def add(self, engine: str, abi: str, path: Path, libs: tuple[Path, ...] = (),
            version: str | None = None, source: str | None = None) -> Tool:
        spec = spec_for(engine)
        files = [Path(path)] + [Path(p) for p in libs]
        for file in files:
            _check_elf_file(file, abi)
        digest = sha256_file(files[0])
        pinned = pinned_sha256(engine, abi)
        if pinned and pinned != digest:
            raise UsageError(f"{path}: sha256 {digest} differs from the one pinned for {engine} "
                             f"{abi} in {MANIFEST} ({pinned}); update the pin if the new tool "
                             f"is intended")
        folder = self._fresh_dir(engine, abi)
        shutil.copyfile(files[0], folder / spec.file)
        for lib in files[1:]:
            shutil.copyfile(lib, folder / lib.name)
        return self._register(engine, abi, folder, spec.file, digest, [p.name for p in files[1:]],
                              virtual=False, version=version, source=source or str(path))

    def add_virtual(self, engines: tuple[str, ...] = (), abis: tuple[str, ...] = ()) -> list[Tool]:
        from ..virtual.tools import make_tool_stub

        added = []
        for engine in engines or tuple(TOOL_SPECS):
            spec = spec_for(engine)
            for abi in abis or VIRTUAL_ABIS:
                data = make_tool_stub(spec.file, abi)
                _check_elf_bytes(data, abi, f"virtual {spec.file}")
                folder = self._fresh_dir(engine, abi)
                (folder / spec.file).write_bytes(data)
                added.append(self._register(engine, abi, folder, spec.file, sha256_bytes(data), [],
                                            virtual=True, version=None,
                                            source="harness.virtual.tools.make_tool_stub"))
        return added

    def remove(self, engine: str, abi: str) -> bool:
        folder = self._dir(engine, abi)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True

    def _fresh_dir(self, engine: str, abi: str) -> Path:
        folder = self._dir(engine, abi)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def _register(self, engine, abi, folder: Path, file: str, digest: str, libs: list[str], *,
                  virtual: bool, version: str | None, source: str | None) -> Tool:
        (folder / file).chmod(0o755)
        meta = {"file": file, "sha256": digest, "bytes": (folder / file).stat().st_size,
                "virtual": virtual, "libs": libs, "version": version, "source": source}
        tmp = folder / "tool.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, folder / "tool.json")
        tool = self.get(engine, abi)
        assert tool is not None
        return tool


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _check_elf_file(path: Path, abi: str) -> None:
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        info = read_elf_file(path)
    except ElfError as exc:
        raise UsageError(f"{path}: {exc}; expected an Android {abi} executable") from None
    problem = abi_mismatch(info, abi)
    if problem:
        raise UsageError(f"{path}: {problem}; register it under the ABI it was built for")


def _check_elf_bytes(data: bytes, abi: str, name: str) -> None:
    problem = abi_mismatch(read_elf(data), abi)
    if problem:
        raise UsageError(f"{name}: {problem}")


def official_sources(path: Path = MANIFEST) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None


def pinned_sha256(engine: str, abi: str) -> str | None:
    entry = official_sources().get(engine, {}).get("abi", {}).get(abi, {})
    return (entry.get("sha256") or "").lower() or None


# -- which tool a device gets ---------------------------------------------------------------
def describe_abis(abis: list[str]) -> str:
    if "arm64-v8a" in abis:
        kind = "arm64 device"
    elif "armeabi-v7a" in abis:
        kind = "ARMv7-only device"
    elif any(a.startswith("x86") for a in abis):
        kind = "x86 device"
    else:
        kind = "device"
    return f"{kind} (abis {', '.join(abis) or 'unknown'})"


def choose_tool(engine: str, device_abis: list[str], registered: dict[str, Tool],
                device_virtual: bool) -> Tool:
    """The registered tool to run on a device, or Unsupported saying exactly why not."""
    spec = spec_for(engine)
    usable = [abi for abi in ABI_PREFERENCE if abi in device_abis]
    virtual_only = None
    for abi in usable:
        tool = registered.get(abi)
        if tool is None:
            continue
        if tool.virtual and not device_virtual:
            virtual_only = virtual_only or abi
            continue
        return tool
    if virtual_only:
        raise Unsupported(f"only a virtual stand-in of {spec.file} is registered; "
                          f"{add_hint(engine, virtual_only)}")
    if not registered:
        want = usable[0] if usable else "ABI"
        raise Unsupported(f"no {spec.file} registered for {engine}; {add_hint(engine, want)}")
    return _no_abi_match(engine, spec, device_abis, usable, registered)


def _no_abi_match(engine, spec, device_abis, usable, registered) -> Tool:
    have = ", ".join(a for a in ABI_PREFERENCE if a in registered)
    fix = f"; {add_hint(engine, usable[0])}" if usable else ""
    raise Unsupported(f"{spec.file} has no build for this {describe_abis(device_abis)}; "
                      f"registered {engine} tools: {have}{fix}")
