"""What a run may change on a phone: governors (with root) and fixed-performance mode (without).

Root, first that works: adbd itself runs as root (``id`` says uid=0: rooted lab phones, ``adb
root`` done beforehand, emulators); ``su -c CMD`` (Magisk, SuperSU); ``su 0 CMD`` (AOSP's su on
userdebug builds). ``adb root`` restarts adbd, dropping every connection to the phone (other
tools' too), so edgelab does not do it on its own: on a build that allows it (``ro.debuggable=1``)
the reason says to run it first. Each probe of ``su`` runs under the phone's own ``timeout``
where it has one: a root manager's grant prompt must not hang the run.

Without root, governors are ``unsupported`` with the reason and what the phone still offers:
``fixed-performance`` (``cmd power set-fixed-performance-mode-enabled true``, Android 11+ with a
power HAL; no root needed), restored to false afterwards (Android has no getter for it, so the
snapshot is "off", which is its boot default).
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import InfraError, Unsupported
from .adb_transport import Raw, compose
from .cpufreq_control import Policy, policies_from_dump
from .operations import Operation

CPUFREQ_DIR = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/"
POLICY_FILES = ("scaling_governor", "scaling_available_governors", "scaling_min_freq",
                "scaling_max_freq", "cpuinfo_min_freq", "cpuinfo_max_freq", "related_cpus")
POLICY_GLOBS = tuple(Raw(CPUFREQ_DIR + name) for name in POLICY_FILES)
FIXED_PERFORMANCE = ["cmd", "power", "set-fixed-performance-mode-enabled"]
OFFER = ("without root this phone offers --governor=fixed-performance (cmd power "
         "set-fixed-performance-mode-enabled true)")


class RootAccess:
    """How this phone runs a command as root, found once: ``method`` None means no way."""

    def __init__(self, sh, props: Callable[[], dict[str, str]], has_timeout: Callable[[], bool]):
        self.sh, self._props, self._has_timeout = sh, props, has_timeout  # asked when needed
        self._found: tuple[str | None, str] | None = None

    @property
    def method(self) -> str | None:
        return self._detect()[0]

    @property
    def why_not(self) -> str:
        return self._detect()[1]

    def wrap(self, script: str) -> str:
        method = self.method
        if method == "su -c":
            return compose(["su", "-c", script])
        if method == "su 0":
            return compose(["su", "0", "sh", "-c", script])
        return script  # adbd is root

    def _detect(self) -> tuple[str | None, str]:
        if self._found is None:
            self._found = self._probe()
        return self._found

    def _probe(self) -> tuple[str | None, str]:
        said = self.sh.shell(["id"]).stdout.strip()
        if "uid=0(" in said:
            return "adbd", "adbd runs as root"
        reasons = [f"adbd runs as {said.split()[0] if said else 'an unknown user'}"]
        for method, argv in (("su -c", ["su", "-c", "id"]), ("su 0", ["su", "0", "id"])):
            result = self.sh.shell((["timeout", "5"] if self._has_timeout() else []) + argv)
            text = " ".join((result.stdout + result.stderr).split())
            if result.rc == 0 and "uid=0(" in text:
                return method, f"root through {method}"
            if result.rc == 127 or "not found" in text or "No such file" in text:
                reasons.append("no su")
                break  # no su binary: the second form cannot work either
            reasons.append(f"`{' '.join(argv)}` gave rc {result.rc}: {text[:120] or 'nothing'}")
        props = self._props()
        debuggable = props.get("ro.debuggable") == "1"
        build = props.get("ro.build.type") or "unknown"
        reasons.append("adb root is allowed on this build: run `adb root` first (it restarts "
                       "adbd)" if debuggable else
                       f"adb root is refused on a {build} build (ro.debuggable="
                       f"{props.get('ro.debuggable') or '?'})")
        return None, "setting governors needs root: " + "; ".join(reasons)


class AndroidPolicyFiles:
    """cpufreq policies through adb: read as the shell user, written as root in one command."""

    def __init__(self, sh, sysfs, root: RootAccess, where: str):
        self.sh, self.sysfs, self.root, self.where = sh, sysfs, root, where
        self._paths: list[str] | None = None  # after the first read: one file per attribute

    def read(self) -> dict[str, Policy]:
        if self._paths is None:
            policies = policies_from_dump(self.sysfs.read(POLICY_GLOBS))
            self._paths = sorted({path for p in policies.values() for path in p.paths.values()})
            return policies
        return policies_from_dump(self._cat(self._paths))

    def write(self, writes: list[tuple[str, str]]) -> str:
        if not writes:
            return ""
        parts: list = []
        for path, value in writes:
            parts += [["echo", value], Raw(">"), [path], Raw(";")]
        result = self.sh.command(self.root.wrap(compose(*parts[:-1])), label="cpufreq-write")
        return (result.stdout + result.stderr).strip()

    def cannot_write(self) -> str | None:
        return None if self.root.method else self.root.why_not

    def _cat(self, paths: list[str]) -> str:
        parts: list = []
        for path in paths:
            parts += [Raw("echo"), ["-n", f"{path}: "], Raw(";"), ["cat", path],
                      Raw("2>/dev/null ||"), ["echo"], Raw(";")]
        return self.sh.command(compose(*parts), label="cpufreq-read").stdout


class FixedPerformanceOperation(Operation):
    """``--governor=fixed-performance``: Android's fixed performance mode, no root needed."""
    name = "fixed_performance"

    def __init__(self, sh, where: str):
        self.sh, self.where = sh, where
        self._refused = False

    def wants(self, conditions: dict[str, Any]) -> bool:
        return conditions.get("governor") == "fixed-performance"

    def check(self, conditions: dict[str, Any]) -> None:
        result = self.sh.shell(["cmd", "power", "help"])
        text = result.stdout + result.stderr
        if result.rc == 127 or "not found" in text:
            raise Unsupported(f"{self.where}: fixed-performance needs `cmd power` (Android 7+): "
                              f"`cmd` is not found")
        if FIXED_PERFORMANCE[2] not in text:
            raise Unsupported(f"{self.where}: fixed-performance is not offered: `cmd power help` "
                              f"does not list {FIXED_PERFORMANCE[2]} (Android 11+)")

    def read(self) -> dict[str, Any]:
        return {"enabled": False}  # no getter: the boot default, restored to false

    def apply(self, conditions: dict[str, Any], before: Any) -> dict[str, Any]:
        result = self.sh.shell(FIXED_PERFORMANCE + ["true"])
        said = " ".join((result.stdout + result.stderr).split())
        if result.rc != 0 or "Failed" in said or "Unknown" in said:
            self._refused = True  # nothing changed: restore has nothing to undo
            raise Unsupported(f"{self.where} refused fixed-performance: rc {result.rc}: "
                              f"{said[:200] or 'no output'}")
        return {"fixed_performance": True}

    def restore(self, before: dict[str, Any]) -> None:
        if self._refused:
            self._refused = False
            return
        value = "true" if before.get("enabled") else "false"
        result = self.sh.shell(FIXED_PERFORMANCE + [value])
        if result.rc != 0:
            raise InfraError(f"{self.where}: {' '.join(FIXED_PERFORMANCE)} {value} gave rc "
                             f"{result.rc}: {(result.stdout + result.stderr).strip()[:200]}")
