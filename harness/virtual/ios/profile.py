"""iPhone profiles: ``device_profiles/ios/<name>.toml``, built from captures of real iPhones.

A profile names one identity capture (``ideviceinfo`` lines, or the ``Properties`` of an iOS 17+
RemoteXPC/RSD handshake) and turns it into the values lockdownd answers to an untrusted host's
``GetValue``. What no capture holds is configuration in ``[lockdown]`` and says so; the pairing
state the stand-in plays is ``[state] pairing``. Captures resolve against ../shared/device-data,
else the copies in device_profiles/captures/ (same relative paths), like the Android profiles.

The iPhone profiles live in their own folder because the Android profile loader reads every
``device_profiles/*.toml`` as a phone with getprop/cpuinfo captures.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ..profile import LOCAL_CAPTURES, PROFILE_DIR, PUBLIC_CAPTURES, SHARED_CAPTURES

IOS_PROFILE_DIR = PROFILE_DIR / "ios"
CAPTURE_KINDS = ("ideviceinfo", "rsd_handshake")
# the RSD handshake a host gets over the iOS 17+ trusted tunnel (its Services table: the developer
# services among them); not an identity capture, so a profile names it beside one of the above
TUNNEL_CAPTURE = "rsd_handshake_trusted"
# what the stand-in can play: untrusted/locked/denied need a person before pairing
# (devices/ios_states.py); trusted has the pair record of an earlier pairing (trust.py), and
# [state] developer_mode / ddi_mounted say what a session then finds
PAIRING_STATES = ("untrusted", "locked", "denied", "trusted")
# what the virtual EdgelabRunner does when launched: runs the job, or plays a fault (runner.py)
from .runner import PLAYS as RUNNER_PLAYS  # noqa: E402 (kept beside the other states)
# the IORegistry battery entry when a profile has no [battery] table: CONFIGURATION (no capture of
# an iPhone's IORegistry is in device-data); units as iOS gives them (1/100 degC, mV, mA, %)
DEFAULT_BATTERY = {"Temperature": 3050, "Voltage": 4012, "InstantAmperage": -412,
                   "CurrentCapacity": 81, "IsCharging": False, "ExternalConnected": True}
# lockdownd's own name for the key, for capture keys that differ (RSD handshake properties)
_RSD_TO_LOCKDOWN = {"OSVersion": "ProductVersion", "HWModel": "HardwareModel"}
# the keys lockdownd gives a host it does not trust (no session): what `ideviceinfo -s` prints
UNTRUSTED_KEYS = ("BasebandVersion", "BoardId", "BuildVersion", "CPUArchitecture", "ChipID",
                  "DeviceClass", "DeviceColor", "DeviceName", "DevicePublicKey", "HardwareModel",
                  "HardwarePlatform", "ModelNumber", "ProductName", "ProductType",
                  "ProductVersion", "ProductionSOC", "ProtocolVersion", "RegionInfo",
                  "SerialNumber", "UniqueChipID", "UniqueDeviceID", "WiFiAddress")


@dataclass(frozen=True)
class IOSProfile:
    name: str
    description: str
    values: dict[str, Any]          # lockdownd's untrusted GetValue answer (before the key)
    udid: str                       # usbmuxd's SerialNumber for the device
    pairing: str                    # one of PAIRING_STATES
    sources: dict[str, str] = field(default_factory=dict)
    developer_mode: bool = True     # in a session: DeveloperModeStatus (iOS 16+)
    ddi_mounted: bool = True        # in a session: mobile_image_mounter LookupImage
    runner_installed: bool = False  # EdgelabRunner installed: house_arrest vends its container
    battery: dict[str, Any] = field(default_factory=dict)  # IORegistry battery entry (configured)
    runner_play: str = "ok"         # [runner] play: what the virtual EdgelabRunner does (runner.py)
    iteration_ms: float = 2.0       # [runner] iteration_ms: its stand-in "iteration" (a sleep)
    clock_offset_s: float = 0.0     # [state] clock_offset_s: the phone's wall clock - the host's
    tunnel: bool = False            # [state] tunnel: tunneld runs the iOS 17+ RemoteXPC tunnel
    trusted_handshake: dict[str, Any] = field(default_factory=dict)  # [captures] TUNNEL_CAPTURE
    configured: tuple[str, ...] = ()  # keys that came from [lockdown], not from a capture


def available_ios_profiles() -> list[str]:
    return sorted(p.stem for p in IOS_PROFILE_DIR.glob("*.toml") if p.stem != "chips")


def resolve_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path:
        if not path.is_file():
            raise UsageError(f"iPhone profile {name_or_path}: no such file; available: "
                             f"{', '.join(available_ios_profiles())} (device_profiles/ios/)")
        return path
    candidate = IOS_PROFILE_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise UsageError(f"unknown iPhone profile {name_or_path!r}; available: "
                         f"{', '.join(available_ios_profiles())} (device_profiles/ios/)")
    return candidate


def is_ios_profile(name_or_path: str) -> bool:
    """Whether a --profile names an iPhone profile (its [captures] is an iOS identity)."""
    try:
        path = resolve_path(name_or_path)
        data = _read_with_parents(path, str(path))
    except (UsageError, OSError):
        return False
    return bool(set(data.get("captures", {})) & set(CAPTURE_KINDS))


def load_ios_profile(name_or_path: str) -> IOSProfile:
    path = resolve_path(name_or_path)
    where = f"iPhone profile {path}"
    data = _read_with_parents(path, where)
    captures = data.get("captures", {})
    kinds = [k for k in captures if k in CAPTURE_KINDS]
    unknown = set(captures) - set(CAPTURE_KINDS) - {TUNNEL_CAPTURE}
    if unknown or len(kinds) != 1:
        raise UsageError(f"{where} [captures]: give exactly one of {', '.join(CAPTURE_KINDS)} "
                         f"(found {sorted(captures) or 'none'})")
    kind = kinds[0]
    text = _capture_text(captures[kind], where)
    values = _rsd_values(text, where) if kind == "rsd_handshake" else _ideviceinfo_values(text)
    configured = tuple(k for k in data.get("lockdown", {}) if k not in values)
    for key, value in data.get("lockdown", {}).items():
        values.setdefault(key, value)  # a capture wins over configuration
    # [override]: CONFIGURATION that replaces a captured value on purpose, to play a phone no
    # capture shows (the captured iPhone 14 Pro Max on the iOS 16 it shipped with); listed in
    # ``configured`` like [lockdown] keys
    override = data.get("override", {})
    values.update(override)
    configured += tuple(k for k in override if k not in configured)
    values = {k: values[k] for k in UNTRUSTED_KEYS if k in values}
    if "UniqueDeviceID" not in values:
        raise UsageError(f"{where}: no UniqueDeviceID in the capture; set one in [lockdown]")
    pairing = str(data.get("state", {}).get("pairing", "untrusted"))
    if pairing not in PAIRING_STATES:
        raise UsageError(f"{where} [state] pairing = {pairing!r}: use one of "
                         f"{', '.join(PAIRING_STATES)}")
    state = data.get("state", {})
    flags = {k: state.get(k, True) for k in ("developer_mode", "ddi_mounted")}
    flags["runner_installed"] = state.get("runner_installed", False)
    flags["tunnel"] = state.get("tunnel", False)
    wrong = [k for k, v in flags.items() if not isinstance(v, bool)]
    if wrong:
        raise UsageError(f"{where} [state] {wrong[0]} = {flags[wrong[0]]!r}: use true or false")
    offset = state.get("clock_offset_s", 0.0)
    if not isinstance(offset, (int, float)) or isinstance(offset, bool):
        raise UsageError(f"{where} [state] clock_offset_s = {offset!r}: give seconds (the phone's "
                         f"wall clock minus the host's)")
    trusted_handshake = (_trusted_handshake(captures[TUNNEL_CAPTURE], where)
                         if TUNNEL_CAPTURE in captures else {})
    if flags["tunnel"]:
        major = str(values.get("ProductVersion", "")).split(".")[0]
        if not (major.isdigit() and int(major) >= 17) or pairing != "trusted" \
                or not trusted_handshake:
            raise UsageError(f"{where} [state] tunnel = true: only an iOS 17+ phone that is "
                             f"paired (pairing = \"trusted\") has the RemoteXPC tunnel, and the "
                             f"profile needs [captures] {TUNNEL_CAPTURE} (its Services table)")
    battery = {**DEFAULT_BATTERY, **data.get("battery", {})}
    runner = data.get("runner", {})
    play = str(runner.get("play", "ok"))
    if play not in RUNNER_PLAYS:
        raise UsageError(f"{where} [runner] play = {play!r}: use one of {', '.join(RUNNER_PLAYS)}")
    iteration_ms = runner.get("iteration_ms", 2.0)
    if not isinstance(iteration_ms, (int, float)) or iteration_ms < 0:
        raise UsageError(f"{where} [runner] iteration_ms = {iteration_ms!r}: give milliseconds >= 0")
    device = data.get("device", {})
    return IOSProfile(battery=battery, name=str(device.get("name", path.stem)),
                      description=str(device.get("description", "")), values=values,
                      udid=str(values["UniqueDeviceID"]), pairing=pairing,
                      sources=dict(data.get("sources", {})), configured=configured,
                      runner_play=play, iteration_ms=float(iteration_ms),
                      clock_offset_s=float(offset), trusted_handshake=trusted_handshake,
                      **flags)


def _read_with_parents(path: Path, where: str, depth: int = 0) -> dict[str, Any]:
    """The profile's tables over those of the profile it ``extends`` (same folder), table by
    table: a variant (the same phone, another state) repeats none of its parent's captures."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where} is not valid TOML: {exc}") from None
    parent = data.pop("extends", None)
    if not parent:
        return data
    parent_path = path.parent / f"{parent}.toml"
    if depth > 5 or not parent_path.is_file():
        raise UsageError(f"{where}: extends = {parent!r}, but there is no {parent_path}")
    base = _read_with_parents(parent_path, where, depth + 1)
    merged = {**base, **data}
    for table in ("device", "captures", "sources", "lockdown", "override", "state", "battery",
                  "runner"):
        merged[table] = {**base.get(table, {}), **data.get(table, {})}
    return merged


def _capture_text(relative: str, where: str) -> str:
    for base in (SHARED_CAPTURES, LOCAL_CAPTURES, PUBLIC_CAPTURES):
        if (base / relative).is_file():
            return (base / relative).read_text(errors="replace")
    raise UsageError(f"{where}: capture {relative} is in none of {SHARED_CAPTURES}, "
                     f"{LOCAL_CAPTURES}, {PUBLIC_CAPTURES}")


def _rsd_values(text: str, where: str) -> dict[str, Any]:
    """Typed values from an RSD handshake's ``Properties``; the UDID is rebuilt in the real
    A12+ form ``<ChipID:08X>-<ECID:016X>`` from the capture's own ChipID and UniqueChipID
    (its UniqueDeviceID was anonymised to a bare number, which no device prints)."""
    try:
        props = json.loads(text)["Properties"]
    except (ValueError, KeyError) as exc:
        raise UsageError(f"{where}: the rsd_handshake capture is not handshake JSON ({exc})") \
            from None
    values = {_RSD_TO_LOCKDOWN.get(k, k): v for k, v in props.items()
              if not (k == "UniqueDeviceID" and "ChipID" in props)}
    if "ChipID" in props and "UniqueChipID" in props:
        values["UniqueDeviceID"] = f"{int(props['ChipID']):08X}-{int(props['UniqueChipID']):016X}"
    if "SerialNumber" in values:
        values["SerialNumber"] = str(values["SerialNumber"])  # lockdownd sends a string
    return values


def _trusted_handshake(relative: str, where: str) -> dict[str, Any]:
    """The whole RSD handshake a host gets over the trusted tunnel (Properties and Services)."""
    try:
        handshake = json.loads(_capture_text(relative, where))
    except ValueError as exc:
        raise UsageError(f"{where}: the {TUNNEL_CAPTURE} capture is not handshake JSON ({exc})") \
            from None
    if not isinstance(handshake, dict) or not isinstance(handshake.get("Services"), dict) \
            or not isinstance(handshake.get("Properties"), dict):
        raise UsageError(f"{where}: the {TUNNEL_CAPTURE} capture has no Properties/Services")
    return handshake


def _ideviceinfo_values(text: str) -> dict[str, Any]:
    from ...parsers import ios_info

    values: dict[str, Any] = {}
    for key, value in ios_info.parse(text).get("properties", {}).items():
        values[key] = {"true": True, "false": False}.get(value, value)
    return values
