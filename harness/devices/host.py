"""The machine pytest runs on, measured like any other device.

Governors and thermal zones come from sysfs when the kernel exposes them (bare metal, many ARM
boards); in VMs and containers they usually do not exist and the profile says "unavailable"
rather than inventing a value.
"""
from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

from ..errors import Unsupported
from . import cpufreq_control as cpufreq
from .base import DeviceInfo, ExecResult
from .journal import Journal
from .operations import Operation, prepared

SYSFS_CPU = Path("/sys/devices/system/cpu")
SYSFS_THERMAL = Path("/sys/class/thermal")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_model_name() -> str:
    text = _read(Path("/proc/cpuinfo")) or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "Model"):
            return value.strip()
    return platform.processor() or platform.machine()


def governors() -> dict[str, Any]:
    policies = sorted(SYSFS_CPU.glob("cpufreq/policy*")) or sorted(SYSFS_CPU.glob("cpu[0-9]*/cpufreq"))
    if not policies:
        return {"available": False, "reason": "no cpufreq in sysfs (VM or container)"}
    per_policy = {}
    for policy in policies:
        per_policy[policy.name if policy.name.startswith("policy") else policy.parent.name] = {
            "governor": _read(policy / "scaling_governor"),
            "available_governors": (_read(policy / "scaling_available_governors") or "").split(),
            "cur_freq_khz": _int_or_none(_read(policy / "scaling_cur_freq")),
        }
    return {"available": True, "policies": per_policy}


def thermal_zones() -> list[dict[str, Any]]:
    zones = []
    for zone in sorted(SYSFS_THERMAL.glob("thermal_zone*")):
        millideg = _int_or_none(_read(zone / "temp"))
        zones.append({"name": _read(zone / "type") or zone.name,
                      "temp_c": millideg / 1000.0 if millideg is not None else None})
    return zones


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class HostDevice:
    """The local machine. ``exec`` runs a local process; ``push`` needs no copy."""

    def __init__(self, info: DeviceInfo | None = None, timeout_s: float | None = None):
        self.info = info or host_info()
        self.timeout_s = timeout_s  # exec's default limit; None: wait as long as it takes
        self.policy_files = HostPolicyFiles(SYSFS_CPU)

    @cached_property
    def _profile(self) -> dict[str, Any]:
        import psutil

        mem = psutil.virtual_memory()
        gov = governors()
        return {
            "kind": "host", "model": cpu_model_name(), "arch": platform.machine(),
            "abis": [platform.machine()], "os": platform.platform(),
            "python": sys.version.split()[0],
            "cores_logical": psutil.cpu_count(logical=True),
            "cores_physical": psutil.cpu_count(logical=False),
            "mem_total_mb": round(mem.total / 2**20),
            "governors": gov if gov["available"] else "unavailable",
            "governors_reason": None if gov["available"] else gov["reason"],
            "thermal_zones": [z["name"] for z in thermal_zones()] or "unavailable",
        }

    def profile(self) -> dict[str, Any]:
        return dict(self._profile)

    def exec(self, argv: list[str], timeout: float | None = None) -> ExecResult:
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=self.timeout_s if timeout is None else timeout)
        return ExecResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)

    def push(self, local: Path, remote_dir: str) -> str:
        return str(Path(local).resolve())

    def pull(self, remote: str, local: Path) -> Path:
        if Path(remote).resolve() != Path(local).resolve():
            shutil.copyfile(remote, local)
        return Path(local)

    def run_engine(self, engine, artifact, spec, settings):
        """A child process on this machine (engines/hostrun.py): isolation and a clean peak
        memory per run."""
        from ..engines.hostrun import run_on_host

        return run_on_host(engine, artifact.path, spec.input, settings)

    def operations(self) -> list[Operation]:
        # governors first: fixed-performance is refused here, after any governor restore
        return [cpufreq.GovernorOperation(self.policy_files), NoFixedPerformance()]

    def prepare(self, conditions: dict[str, Any]):
        """Apply ``conditions["governor"]`` when cpufreq sysfs is writable (root on bare
        metal), journaled and restored on exit; yields the requested and observed governors."""
        return _observing(prepared(self.operations(), conditions, Journal(self.info.as_dict()),
                                   "python -m harness devices --restore host"), self.policy_files)

    def sample(self) -> dict[str, Any]:
        import psutil

        zones = [z for z in thermal_zones() if z["temp_c"] is not None]
        freq = psutil.cpu_freq()
        battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
        gov = governors()
        first_policy = next(iter(gov.get("policies", {}).values()), {})
        return {
            "governor": first_policy.get("governor") or "unavailable",
            "temp_c": max((z["temp_c"] for z in zones), default=None),
            "cpu_freq_mhz": round(freq.current) if freq else None,
            "loadavg_1m": os.getloadavg()[0],
            "charging": battery.power_plugged if battery else None,
            "battery_pct": battery.percent if battery else None,
        }


class HostPolicyFiles:
    """cpufreq policies of this machine, read and written directly in sysfs."""
    where = "host"
    FILES = ("scaling_governor", "scaling_available_governors", "scaling_min_freq",
             "scaling_max_freq", "cpuinfo_min_freq", "cpuinfo_max_freq", "related_cpus")

    def __init__(self, root: Path):
        self.root = root

    def read(self) -> dict[str, cpufreq.Policy]:
        lines = []
        for directory in sorted(self.root.glob("cpu[0-9]*/cpufreq")):
            for name in self.FILES:
                value = _read(directory / name)
                if value is not None:
                    lines.append(f"{directory / name}: {value}")
        return cpufreq.policies_from_dump("\n".join(lines))

    def write(self, writes: list[tuple[str, str]]) -> str:
        errors = []
        for path, value in writes:
            try:
                Path(path).write_text(value)
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
        return "; ".join(errors)

    def cannot_write(self) -> str | None:
        target = next(iter(sorted(self.root.glob("cpu[0-9]*/cpufreq/scaling_governor"))), None)
        if target is None:
            return "no cpufreq in sysfs (VM or container)"
        if os.access(target, os.W_OK):
            return None
        try:
            read_only = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        why = "sysfs is mounted read-only (a container)" if read_only else \
            f"permission denied for uid {os.getuid()} (root may write it)"
        return f"cpufreq sysfs is not writable here: {target}: {why}"


class NoFixedPerformance(Operation):
    name = "fixed_performance"

    def wants(self, conditions: dict[str, Any]) -> bool:
        return conditions.get("governor") == "fixed-performance"

    def check(self, conditions: dict[str, Any]) -> None:
        raise Unsupported("fixed-performance is an Android power mode (cmd power "
                          "set-fixed-performance-mode-enabled); the host has none")


@contextlib.contextmanager
def _observing(inner, files) -> Iterator[dict[str, Any]]:
    """``inner``'s state plus the governor of every policy as it is once applied."""
    with inner as state:
        if "governors_observed" not in state:
            state["governors_observed"] = cpufreq.observed_governors(files)
        yield state


def host_info() -> DeviceInfo:
    return DeviceInfo(id="host", kind="host", serial=platform.node() or "localhost",
                      model=cpu_model_name(), details={"arch": platform.machine()})


def discover(notes: list[str] | None = None, **_ignored) -> list[DeviceInfo]:
    return [host_info()]
