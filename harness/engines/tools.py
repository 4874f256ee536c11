"""The cache of engine benchmark tools per ABI: ``$EDGELAB_CACHE/tools/<engine>/<abi>/``.

Phones run each engine's own official benchmark tool (``tools/manifest.toml`` says where each
comes from). A user registers the file with ``python -m harness tools add ENGINE ABI PATH``:
its ELF class and machine must fit the ABI (a wrong build is refused here, not discovered as a
cryptic "not executable: 64-bit ELF file" on the phone), and its sha256 is kept with it.

Virtual devices need no registration: with no stand-in registered for an engine, a virtual
phone gets the built-in stand-in (``stand_in``, made by ``harness.virtual.tools.make_tool_stub``)
for its preferred ABI; on a virtual device it runs the real engine on the host and prints the
real tool's format. ``add-virtual`` still registers stand-ins explicitly, for a lab (or a test)
that wants a virtual farm to have exactly the tool set of a real one (a missing ABI is then
``unsupported`` as on a phone). Stand-ins are marked ``virtual`` and never pushed to a real phone.
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

# the repository's tools/manifest.toml (harness/engines/tools.py -> parents[2] is the checkout);
# EDGELAB_TOOLS_MANIFEST (or `tools --manifest`) points at a lab's own copy
MANIFEST = Path(__file__).resolve().parents[2] / "tools" / "manifest.toml"
MANIFEST_ENV = "EDGELAB_TOOLS_MANIFEST"
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
    automatic: bool = False  # the built-in stand-in a virtual device got without registration

    @property
    def spec(self) -> ToolSpec:
        return TOOL_SPECS[self.engine]

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "abi": self.abi, "file": self.path.name,
                "sha256": self.sha256, "bytes": self.bytes, "virtual": self.virtual,
                "libs": [p.name for p in self.libs], "version": self.version,
                "source": self.source,
                "origin": ("built-in stand-in (virtual device, no registration)" if self.automatic
                           else "registered stand-in" if self.virtual else "registered")}


def default_tools_dir() -> Path:
    from ..models.fetch import default_cache_dir

    return default_cache_dir() / "tools"


def spec_for(engine: str) -> ToolSpec:
    if engine not in TOOL_SPECS:
        raise UsageError(f"unknown engine {engine!r} for device tools; valid: "
                         f"{', '.join(TOOL_SPECS)}")
    return TOOL_SPECS[engine]


def manifest_path() -> Path:
    override = os.environ.get(MANIFEST_ENV)
    return Path(override) if override else MANIFEST


def fetchable(engine: str, abi: str, manifest: Path | None = None) -> bool:
    """Whether the manifest names a file ``tools fetch`` can download for this engine and ABI:
    ``how = "prebuilt"`` (the engine's own, or the ABI entry's: a lab hosting its own build) and
    an http(s) url."""
    section = official_sources(manifest).get(engine, {})
    entry = section.get("abi", {}).get(abi, {})
    how = entry.get("how") or section.get("how")
    return how == "prebuilt" and str(entry.get("url", "")).startswith(("https://", "http://"))


def add_hint(engine: str, abi: str) -> str:
    """The one command that gets the missing tool (named in every `unsupported` reason)."""
    if fetchable(engine, abi):
        return f"run `python -m harness tools fetch {engine} {abi}`"
    return (f"no prebuilt official build to fetch: build it as tools/manifest.toml [{engine}] "
            f"says, then run `python -m harness tools add {engine} {abi} PATH`")


class ToolCache:
    """Registered tools on disk; ``tool.json`` is written last, so a half-copied tool is absent."""

    def __init__(self, root: Path | None = None, manifest: Path | None = None):
        self.root = Path(root) if root else default_tools_dir()
        self.manifest = manifest

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
        pinned = pinned_sha256(engine, abi, self.manifest)
        if pinned and pinned != digest:
            raise UsageError(f"{path}: sha256 {digest} differs from the one pinned for {engine} "
                             f"{abi} in {self.manifest or manifest_path()} ({pinned}); update the "
                             f"pin if the new tool is intended")
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

    def stand_in(self, engine: str, device_abis: list[str]) -> Tool:
        """The built-in stand-in for a virtual device: no registration, the device's preferred
        ABI. Written once under ``<root>/_stand-ins/`` (deterministic bytes; atomically, since
        xdist workers may race) because the device layer pushes files, not bytes."""
        from ..virtual.tools import make_tool_stub, runnable_abis

        spec = spec_for(engine)
        runnable = runnable_abis(tuple(device_abis))
        abi = next((a for a in ABI_PREFERENCE if a in runnable), None)
        if abi is None:
            raise Unsupported(f"no {spec.file} stand-in fits this virtual "
                              f"{describe_abis(device_abis)}")
        data = make_tool_stub(spec.file, abi)
        folder = self.root / "_stand-ins" / engine / abi
        path = folder / spec.file
        if not path.is_file() or path.read_bytes() != data:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{spec.file}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            tmp.chmod(0o755)
            os.replace(tmp, path)
        return Tool(engine, abi, path, sha256_bytes(data), len(data), virtual=True,
                    source="harness.virtual.tools.make_tool_stub", automatic=True)

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


def official_sources(path: Path | None = None) -> dict[str, Any]:
    path = path or manifest_path()
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        if path != MANIFEST:  # a manifest the user named must exist; the packaged one may not
            raise UsageError(f"tools manifest {path} does not exist; fix {MANIFEST_ENV} or "
                             f"--manifest") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None


def pinned_sha256(engine: str, abi: str, manifest: Path | None = None) -> str | None:
    entry = official_sources(manifest).get(engine, {}).get("abi", {}).get(abi, {})
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
                device_virtual: bool, cache: "ToolCache | None" = None) -> Tool:
    """The tool to run on a device, or Unsupported saying exactly why not.

    A virtual device with no stand-in registered for the engine gets the built-in one from
    ``cache`` (real ARM builds cannot run there anyway); registered stand-ins are honoured as
    registered, so a virtual farm can mirror a real one's tool set, ABI gaps included."""
    spec = spec_for(engine)
    if device_virtual and cache is not None and not any(t.virtual for t in registered.values()):
        return cache.stand_in(engine, device_abis)
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


def readiness(device_abis: list[str], device_virtual: bool,
              cache: ToolCache) -> dict[str, dict[str, str]]:
    """Per engine, whether a phone can measure with it now: ``ready`` (a registered tool for
    one of its ABIs), ``stand-in`` (a virtual device: built-in or registered stand-in), or
    ``missing`` with the reason the cells would get (which names the command that fixes it)."""
    out: dict[str, dict[str, str]] = {}
    for engine in TOOL_SPECS:
        registered = cache.by_abi(engine)
        try:
            if device_virtual and not any(t.virtual for t in registered.values()):
                # what the run would use (ToolCache.stand_in), without writing the file
                from ..virtual.tools import runnable_abis

                runnable = runnable_abis(tuple(device_abis))
                usable = [a for a in ABI_PREFERENCE if a in runnable]
                if not usable:
                    raise Unsupported(f"no stand-in fits this {describe_abis(device_abis)}")
                out[engine] = {"state": "stand-in", "abi": usable[0],
                               "detail": "built-in virtual stand-in"}
                continue
            tool = choose_tool(engine, device_abis, registered, device_virtual)
        except Unsupported as exc:
            out[engine] = {"state": "missing", "detail": exc.reason}
            continue
        out[engine] = {"state": "stand-in" if tool.virtual else "ready", "abi": tool.abi,
                       "detail": ("registered stand-in" if tool.virtual
                                  else f"sha256 {tool.sha256[:12]}")}
    return out
