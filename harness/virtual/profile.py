"""Device profiles: ``device_profiles/<name>.toml``, one per phone model, built from captures.

A profile names the real captures it is made of (getprop, /proc/cpuinfo, cpufreq sysfs, dumpsys
battery, thermal) and adds what a capture cannot say (storage size, page size, root). The virtual
device serves the captures verbatim; the Android backend matches probed phones against ``[match]``.
The format is documented in device_profiles/README.md.

Capture paths are relative to the shared capture set (``<repo>/../shared/device-data``); when that
is absent the copies in ``device_profiles/captures/`` (same relative paths) are used, so the repo
works on its own.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .simulation import Simulation, load_simulation

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO_ROOT / "device_profiles"
SHARED_CAPTURES = REPO_ROOT.parent / "shared" / "device-data"
LOCAL_CAPTURES = PROFILE_DIR / "captures"
# captures from public sources that are not in ../shared (README there): looked up last
PUBLIC_CAPTURES = PROFILE_DIR / "captures-public"

KNOWN_ABIS = ("arm64-v8a", "armeabi-v7a", "armeabi", "x86_64", "x86")
CAPTURE_KINDS = ("getprop", "cpuinfo", "cpufreq", "battery", "thermalservice", "thermal_sysfs")
REQUIRED_CAPTURES = ("getprop", "cpuinfo", "cpufreq")
_TABLES = {"device", "captures", "sources", "capabilities", "props", "match", "extends",
           "simulation", "cooldown"}  # [cooldown]: the gate's limits (run/cooldown.py checks them)
_CAPABILITY_KEYS = {"abis", "page_size", "storage_total_bytes", "storage_free_bytes", "governors",
                    "default_governor", "root", "kernel_release", "cpu_speed_factor"}
_PROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    description: str
    props: dict[str, str]          # getprop capture + [props] overrides + ro.edgelab.virtual=1
    captures: dict[str, str]       # kind -> capture text
    capture_paths: dict[str, Path]  # kind -> file actually read
    abis: tuple[str, ...]
    page_size: int
    storage_total_bytes: int
    storage_free_bytes: int
    governors: tuple[str, ...]
    default_governor: str | None
    root: bool
    kernel_release: str
    match: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    cpu_speed_factor: float = 1.0  # the phone's speed relative to the host CPU at max frequency
    simulation: Simulation = field(default_factory=Simulation)  # physics constants, not measurements

    @property
    def model(self) -> str:
        return self.props.get("ro.product.model", "")

    @property
    def uname_machine(self) -> str:
        # what `uname -m` prints: the kernel's arch, i.e. the widest ABI the device runs
        if "arm64-v8a" in self.abis:
            return "aarch64"
        if "x86_64" in self.abis:
            return "x86_64"
        if "x86" in self.abis:
            return "i686"
        return "armv7l"

    def banner(self, features: list[str]) -> str:
        """The CNXN banner adbd sends (adb.cpp get_connection_string)."""
        fields = [f"{key}={self.props.get(key, '')}"
                  for key in ("ro.product.name", "ro.product.model", "ro.product.device")]
        fields.append("features=" + ",".join(features))
        return "device::" + ";".join(fields)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def find_profile(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate.resolve()
    path = PROFILE_DIR / f"{name_or_path}.toml"
    if path.is_file():
        return path
    raise UsageError(f"unknown device profile {name_or_path!r}; available: "
                     f"{', '.join(available_profiles()) or '(none)'} (or a path to a .toml file)")


def load_profile(name_or_path: str, **overrides: Any) -> Profile:
    """Load a profile by name (``pixel8``) or path; ``overrides`` replace [capabilities] keys."""
    path = find_profile(name_or_path)
    data = _read_toml(path)
    data = _apply_extends(data, path, seen={path})
    caps = {**data.get("capabilities", {}), **{k: v for k, v in overrides.items() if v is not None}}
    where = str(path)
    unknown = set(caps) - _CAPABILITY_KEYS
    if unknown:
        raise UsageError(f"{where} [capabilities]: unknown key(s) {sorted(unknown)}; "
                         f"valid: {sorted(_CAPABILITY_KEYS)}")
    captures, capture_paths = _load_captures(data.get("captures", {}), where)
    props = parse_getprop(captures["getprop"])
    props.update({str(k): str(v) for k, v in data.get("props", {}).items()})
    props["ro.edgelab.virtual"] = "1"  # the Android backend labels records virtual from this
    # temperatures, battery current and tool slowdown come from a model (simulation.py)
    props["ro.edgelab.simulated"] = "thermal,battery,cpu_speed"
    abis = tuple(caps.get("abis") or _abis_from_props(props))
    bad = [a for a in abis if a not in KNOWN_ABIS]
    if not abis or bad:
        raise UsageError(f"{where} [capabilities] abis {list(abis)!r}: use values from {KNOWN_ABIS}")
    page_size = caps.get("page_size", 4096)
    if page_size not in (4096, 16384, 65536):
        raise UsageError(f"{where}: page_size {page_size!r} must be 4096, 16384 or 65536")
    total = int(caps.get("storage_total_bytes", 16 << 30))
    free = int(caps.get("storage_free_bytes", total // 2))
    if not 0 <= free <= total:
        raise UsageError(f"{where}: storage_free_bytes must be between 0 and storage_total_bytes")
    speed = caps.get("cpu_speed_factor", 1.0)
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or speed <= 0:
        raise UsageError(f"{where}: cpu_speed_factor {speed!r} must be a number > 0")
    device = data.get("device", {})
    return Profile(
        name=str(device.get("name", path.stem)), path=path,
        description=str(device.get("description", "")), props=props, captures=captures,
        capture_paths=capture_paths, abis=abis, page_size=int(page_size),
        storage_total_bytes=total, storage_free_bytes=free,
        governors=tuple(caps.get("governors", ())), default_governor=caps.get("default_governor"),
        root=bool(caps.get("root", True)), kernel_release=str(caps.get("kernel_release", "")),
        match={str(k): [str(x) for x in (v if isinstance(v, list) else [v])]
               for k, v in data.get("match", {}).items()},
        sources={str(k): str(v) for k, v in data.get("sources", {}).items()},
        cpu_speed_factor=float(speed), simulation=load_simulation(data.get("simulation", {}), where))


def parse_getprop(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        found = _PROP_LINE.match(line.strip())
        if found:
            props[found.group(1)] = found.group(2)
    return props


def resolve_capture(relative: str) -> Path | None:
    """The shared capture if present (the source of truth), else the in-repo copy."""
    for base in (SHARED_CAPTURES, LOCAL_CAPTURES):
        path = base / relative
        if path.is_file():
            return path
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"device profile {path} is not valid TOML: {exc}") from None
    unknown = set(data) - _TABLES
    if unknown:
        raise UsageError(f"device profile {path}: unknown table(s) {sorted(unknown)}; "
                         f"valid: {sorted(_TABLES)}")
    return data


def _apply_extends(data: dict[str, Any], path: Path, seen: set[Path]) -> dict[str, Any]:
    """``extends = "pixel8"``: start from that profile, then replace keys table by table."""
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    base_path = find_profile(str(base_name))
    if base_path in seen:
        raise UsageError(f"device profile {path}: extends loop through {base_path}")
    base = _apply_extends(_read_toml(base_path), base_path, seen | {base_path})
    merged = {table: dict(values) for table, values in base.items()}
    for table, values in data.items():
        merged.setdefault(table, {}).update(values)
    return merged


def _load_captures(table: dict[str, Any], where: str) -> tuple[dict[str, str], dict[str, Path]]:
    unknown = set(table) - set(CAPTURE_KINDS)
    if unknown:
        raise UsageError(f"{where} [captures]: unknown kind(s) {sorted(unknown)}; "
                         f"valid: {list(CAPTURE_KINDS)}")
    missing = [kind for kind in REQUIRED_CAPTURES if kind not in table]
    if missing:
        raise UsageError(f"{where} [captures]: {missing} required")
    texts, paths = {}, {}
    for kind, relative in table.items():
        path = resolve_capture(str(relative))
        if path is None:
            raise UsageError(f"{where} [captures] {kind} = {relative!r}: not found in "
                             f"{SHARED_CAPTURES} nor {LOCAL_CAPTURES}")
        texts[kind] = path.read_text(errors="replace")
        paths[kind] = path
    return texts, paths


def _abis_from_props(props: dict[str, str]) -> list[str]:
    abilist = props.get("ro.product.cpu.abilist", "")
    if abilist:
        return [a for a in abilist.split(",") if a]
    return [a for a in (props.get("ro.product.cpu.abi"), props.get("ro.product.cpu.abi2")) if a]
