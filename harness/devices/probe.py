"""What an Android device is: one probe of getprop, /proc, sysfs and the shell's tools.

Every text the device prints goes through ``harness.parsers``; this module only decides what to
ask and how to combine the answers. Commands stay within plain sh (see ``compose``). A probe that fails (no cpufreq on an emulator, no `getconf`
on Android 5) gives "unavailable" or None in the profile instead of a guess, and never fails the
whole profile. Device-profile matching (``device_profiles/*.toml`` ``[match]`` tables) also
lives here so that ``profile()`` is one call.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Protocol

from .. import parsers
from ..errors import UsageError
from .adb_transport import Raw, compose
from .base import ExecResult

PROFILES_DIR = Path(__file__).resolve().parents[2] / "device_profiles"
TMP_DIR = "/data/local/tmp"

CPUFREQ_FILES = ("scaling_governor", "scaling_available_governors", "scaling_cur_freq",
                 "scaling_min_freq", "scaling_max_freq", "cpuinfo_min_freq", "cpuinfo_max_freq",
                 "related_cpus", "affected_cpus", "scaling_available_frequencies", "scaling_driver")
CPUFREQ_GLOBS = tuple(Raw(f"/sys/devices/system/cpu/cpu[0-9]*/cpufreq/{name}")
                      for name in CPUFREQ_FILES) + (Raw("/sys/devices/system/cpu/online"),
                                                    Raw("/sys/devices/system/cpu/possible"))
SAMPLE_GLOBS = (Raw("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"),
                Raw("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"))
GOVERNOR_GLOBS = (Raw("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"),
                  Raw("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/related_cpus"))
THERMAL_GLOBS = (Raw("/sys/class/thermal/thermal_zone*/type"),
                 Raw("/sys/class/thermal/thermal_zone*/temp"))
# which helpers the shell has: `timeout` (toybox, Android 6+) and `sha256sum` (push dedupe)
HELPERS = Raw("timeout 5 true >/dev/null 2>&1 && echo timeout; "
              "echo | sha256sum >/dev/null 2>&1 && echo sha256sum; true")
# Android <= 6 adbd takes at most 4 KB per shell request: file reads go in batches below that
_COMMAND_BUDGET = 3000


class Shell(Protocol):
    """``AdbTransport``: without a timeout a call waits the housekeeping bound
    (``quick_timeout``), which every probe command fits."""

    def shell(self, argv: list[str], timeout: float | None = None) -> ExecResult: ...

    def command(self, command: str, timeout: float | None = None) -> ExecResult: ...


class SysfsReader:
    """Reads sysfs files as ``path: value`` lines, the format the cpufreq/thermal parsers take.

    Globs are expanded once by the device's own shell (``echo PATTERN``) and remembered:
    the set of files does not change during a run, only their values.
    """

    def __init__(self, sh: Shell):
        self.sh = sh
        self._paths: dict[tuple[str, ...], list[str]] = {}

    def paths(self, globs: tuple[Raw, ...]) -> list[str]:
        if globs not in self._paths:
            listed = self.sh.command(compose(Raw("echo"), *globs)).stdout.split()
            # an unmatched pattern is echoed back literally
            self._paths[globs] = [p for p in listed if not set("*?[") & set(p)]
        return self._paths[globs]

    def read(self, globs: tuple[Raw, ...]) -> str:
        out, parts, size = [], [], 0
        for path in self.paths(globs):
            piece = [Raw("echo"), ["-n", f"{path}: "], Raw(";"), ["cat", path],
                     Raw("2>/dev/null ||"), ["echo"], Raw(";")]
            length = len(compose(*piece))
            if parts and size + length > _COMMAND_BUDGET:
                out.append(self.sh.command(compose(*parts)).stdout)
                parts, size = [], 0
            parts += piece
            size += length + 1
        if parts:
            out.append(self.sh.command(compose(*parts)).stdout)
        return "".join(out)


def _ok_text(result: ExecResult) -> str:
    return result.stdout if result.rc == 0 else ""


def probe(sh: Shell, sysfs: SysfsReader | None = None) -> dict[str, Any]:
    """Ask the device everything the profile holds (about a dozen shell calls, once a session)."""
    sysfs = sysfs or SysfsReader(sh)
    props = parsers.parse("getprop", _ok_text(sh.shell(["getprop"])))
    cpu = parsers.parse("cpuinfo", _ok_text(sh.shell(["cat", "/proc/cpuinfo"])))
    mem = parsers.parse("meminfo", _ok_text(sh.shell(["cat", "/proc/meminfo"])))
    freq = parsers.parse("cpufreq", sysfs.read(CPUFREQ_GLOBS))
    thermal = parsers.parse("thermal", sysfs.read(THERMAL_GLOBS))
    helpers = set(sh.command(HELPERS).stdout.split())
    page = _int(_ok_text(sh.shell(["getconf", "PAGESIZE"])).strip())
    df = sh.shell(["df", TMP_DIR])
    return build_profile(props, cpu, mem, freq, thermal, helpers,
                         page or props.get("page_size"), free_storage_mb(_ok_text(df) or df.stdout))


def build_profile(props: dict, cpu: dict, mem: dict, freq: dict, thermal: dict,
                  helpers: set[str], page_size: int | None, free_mb: float | None) -> dict:
    sdk, release = props.get("sdk"), props.get("release")
    zones = [z["name"] for z in thermal.get("zones", []) if z.get("temp_c") is not None]
    governors = _governors(freq)
    mem_kb = mem.get("mem_total_kb")
    return {
        "kind": "android", "model": props.get("model") or "", "manufacturer": props.get("manufacturer"),
        "brand": props.get("brand"), "device": props.get("device"),
        "os": f"Android {release} (SDK {sdk})" if release else "Android (unknown release)",
        "release": release, "sdk": sdk, "build_id": props.get("build_id"),
        "fingerprint": props.get("fingerprint"),
        "abis": list(props.get("abis") or []),
        "arch": cpu.get("arch"), "soc": props.get("soc"),
        "soc_manufacturer": props.get("soc_manufacturer"),
        "cores_logical": cpu.get("processors"),
        "cpu": {"hardware": cpu.get("hardware"),
                "clusters": [{k: c.get(k) for k in ("name", "part", "count")}
                             for c in cpu.get("core_clusters", [])],
                **{flag: cpu.get(flag) for flag in ("neon", "asimd", "fp16", "dotprod", "i8mm")}},
        "mem_total_mb": round(mem_kb / 1024) if mem_kb else None,
        "governors": governors or "unavailable",
        "governors_reason": None if governors else "no readable cpufreq in sysfs",
        "thermal_zones": zones or "unavailable",
        "page_size": page_size,
        "free_storage_mb": free_mb,
        "shell": {"timeout": "timeout" in helpers, "sha256sum": "sha256sum" in helpers},
        "virtual": props.get("props", {}).get("ro.edgelab.virtual") == "1",
        "props": _selected_props(props.get("props", {})),
    }


def _governors(freq: dict) -> dict[str, Any]:
    out = {}
    for name, policy in (freq.get("policies") or {}).items():
        if policy.get("governor") or policy.get("available_governors"):
            out[name] = {"governor": policy["governor"], "cpus": policy.get("cpus"),
                         "available_governors": policy.get("available_governors") or [],
                         "min_freq_khz": policy.get("min_freq_khz"),
                         "max_freq_khz": policy.get("max_freq_khz")}
    return out


def _selected_props(props: dict[str, str]) -> dict[str, str]:
    # the whole getprop dump is ~1000 lines and holds serials: keep what profiles match on
    keys = ("ro.product.model", "ro.product.manufacturer", "ro.product.device", "ro.hardware",
            "ro.board.platform", "ro.soc.model", "ro.soc.manufacturer", "ro.product.board",
            "ro.product.cpu.abilist", "ro.build.version.sdk", "ro.edgelab.virtual",
            "ro.edgelab.profile")
    return {k: props[k] for k in keys if k in props}


def sample(sh: Shell, sysfs: SysfsReader | None = None) -> dict[str, Any]:
    """One telemetry sample: battery, thermal zones, current frequencies."""
    sysfs = sysfs or SysfsReader(sh)
    battery = parsers.parse("battery", _ok_text(sh.shell(["dumpsys", "battery"])))
    thermal = parsers.parse("thermal", sysfs.read(THERMAL_GLOBS))
    freq = parsers.parse("cpufreq", sysfs.read(SAMPLE_GLOBS))
    cpus = freq.get("cpus") or {}
    freqs = [c["cur_freq_khz"] for c in cpus.values() if c.get("cur_freq_khz")]
    governors = sorted({c["governor"] for c in cpus.values() if c.get("governor")})
    return {
        "governor": ",".join(governors) or "unavailable",
        "temp_c": thermal.get("max_temp_c"),
        "temps_c": thermal.get("temps_c") or {},
        "cpu_freq_mhz": round(max(freqs) / 1000) if freqs else None,
        "cpu_freqs_mhz": {name: round(c["cur_freq_khz"] / 1000) for name, c in cpus.items()
                          if c.get("cur_freq_khz")},
        "charging": battery.get("charging"),
        "battery_pct": battery.get("level_pct"),
        "battery_temp_c": battery.get("temperature_c"),
        "battery_faked": battery.get("updates_stopped"),
    }


def read_governors(sysfs: SysfsReader) -> dict[str, str | None]:
    """The governor of each cpufreq policy as it is now (the snapshot restore would go back to)."""
    freq = parsers.parse("cpufreq", sysfs.read(GOVERNOR_GLOBS))
    return {name: policy.get("governor") for name, policy in (freq.get("policies") or {}).items()}


def free_storage_mb(text: str) -> float | None:
    """Free space from `df DIR`: toybox prints 1K blocks ("Available"), Android <= 5 toolbox
    prints sizes with units ("Free", e.g. 11.5G). df has no parser module of its own because
    only this probe reads it, and only one number."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    header, row = lines[0], lines[-1]
    if len(row) < 4 and len(lines) > 2:  # a long device name wrapped onto its own line
        row = lines[-2] + row
    for column, unit_kb in (("Available", 1.0), ("Avail", 1.0), ("Free", None)):
        if column in header and header.index(column) < len(row):
            return _size_mb(row[header.index(column)], unit_kb)
    return None


def _size_mb(text: str, unit_kb: float | None) -> float | None:
    factors = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 ** 2}
    try:
        if text and text[-1].upper() in factors:
            return round(float(text[:-1]) * factors[text[-1].upper()], 1)
        return round(float(text) * (unit_kb or 1.0) / 1024, 1)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


# -- device profiles ----------------------------------------------------------------------
def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, dict]:
    raw = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            raw[path.stem] = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"device profile {path} is not valid TOML: {exc}") from None
    return {name: _resolved(name, raw) for name in raw}


def _resolved(name: str, raw: dict[str, dict], depth: int = 0) -> dict:
    # `extends = "pixel8"`: a variant (same phone, 16 KB pages) inherits match and capabilities
    data = raw[name]
    parent = data.get("extends")
    if not parent or parent not in raw or depth > 5:
        return data
    base = _resolved(parent, raw, depth + 1)
    merged = {**base, **data}
    for table in ("match", "capabilities", "cooldown"):
        merged[table] = {**base.get(table, {}), **data.get(table, {})}
    return merged


def match_profile(profile: dict[str, Any], profiles: dict[str, dict]) -> str | None:
    """The profile whose ``[match]`` table fits best (every reported key equal, most keys wins).

    A key with a dot is a getprop property (``"ro.product.model" = ["Pixel 8"]``); other keys
    name profile fields (``model``, ``soc``, ``abis``). A list value means any of them. Between
    variants of one phone, the one whose ``page_size`` equals the probed one wins.
    """
    best, best_score = None, 0.0
    for name, data in profiles.items():
        # a property the phone does not report is skipped (older builds lack ro.soc.model);
        # one it reports with another value rules the profile out
        reported = {k: v for k, v in (data.get("match") or {}).items()
                    if _actual(profile, k) is not None}
        if not reported or not all(_fits(_actual(profile, k), v) for k, v in reported.items()):
            continue
        score = len(reported)
        if data.get("capabilities", {}).get("page_size") == profile.get("page_size"):
            score += 0.5
        if score > best_score:
            best, best_score = name, score
    return best


def _actual(profile: dict[str, Any], key: str) -> Any:
    if "." in key:
        return profile.get("props", {}).get(key)
    return profile.get(key)


def _fits(actual: Any, want: Any) -> bool:
    if actual is None:
        return False
    wanted = want if isinstance(want, list) else [want]
    if isinstance(actual, list):  # abis = "armeabi-v7a": the device lists it
        return any(str(w) in [str(a) for a in actual] for w in wanted)
    return any(str(actual).strip().lower() == str(w).strip().lower() for w in wanted)
