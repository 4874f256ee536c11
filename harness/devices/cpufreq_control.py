"""Governors and frequency limits of cpufreq policies: snapshot, apply, verify, restore.

The same logic drives the host (local sysfs) and phones (sysfs through adb, as root): both give a
``PolicyFiles`` that reads every policy and writes ``(cpu, attribute, value)`` triples.

A governor cell runs its policies over their whole hardware range (``cpuinfo_min_freq`` ..
``cpuinfo_max_freq``) under the named governor, so ``performance`` means the top frequency and
``powersave`` the bottom one, whatever limits a vendor daemon or an earlier tool left behind.
Limits are touched only on a policy whose ``scaling_min_freq`` and ``scaling_max_freq`` are both
readable; ``default`` touches nothing. Every value written is read back: a device that refuses a
write, or silently keeps another value, makes the cell ``unsupported`` with what was read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import parsers
from ..errors import InfraError, Unsupported
from .operations import Operation

LIMITS = ("scaling_min_freq", "scaling_max_freq")


@dataclass(frozen=True)
class Policy:
    name: str                  # policyN, N = its first CPU (the kernel's naming)
    governor: str | None
    available: tuple[str, ...]
    min_khz: int | None
    max_khz: int | None
    hw_min_khz: int | None
    hw_max_khz: int | None
    paths: dict[str, str] = field(default_factory=dict)  # attribute -> a file that exists

    @property
    def has_limits(self) -> bool:
        return all(a in self.paths for a in LIMITS) and None not in (self.min_khz, self.max_khz)


class PolicyFiles(Protocol):
    where: str  # "host" or the serial, for messages

    def read(self) -> dict[str, Policy]: ...

    def write(self, writes: list[tuple[str, str]]) -> str:
        """Write ``(path, value)`` in order; return what the device said about failures."""

    def cannot_write(self) -> str | None:
        """None when this process may write cpufreq files, else why not (one line)."""


def policies_from_dump(text: str) -> dict[str, Policy]:
    """``path: value`` lines (the cpufreq parser's input) -> policies, with the file to write
    for each attribute: the first CPU of the policy that has it (captures and old kernels
    omit some files on some CPUs; on current kernels every cpuN/cpufreq is the same policy)."""
    parsed = parsers.parse("cpufreq", text)
    files = parsed.get("files") or {}
    out = {}
    for name, p in (parsed.get("policies") or {}).items():
        paths = {}
        for cpu in p.get("cpus") or [int(name[6:])]:
            for path in files:
                attribute = path.rsplit("/", 1)[-1]
                if f"/cpu{cpu}/cpufreq/" in path and attribute not in paths:
                    paths[attribute] = path
        out[name] = Policy(name, p.get("governor"), tuple(p.get("available_governors") or ()),
                           p.get("min_freq_khz"), p.get("max_freq_khz"), p.get("hw_min_freq_khz"),
                           p.get("hw_max_freq_khz"), paths)
    return out


def snapshot(policies: dict[str, Policy]) -> dict[str, dict[str, Any]]:
    """What restore puts back, JSON-able (it goes into the restore journal)."""
    return {name: {"governor": p.governor, "min_freq_khz": p.min_khz if p.has_limits else None,
                   "max_freq_khz": p.max_khz if p.has_limits else None}
            for name, p in policies.items()}


def limit_writes(policy: Policy, low: int, high: int) -> list[tuple[str, str]]:
    """Writes that move the policy's limits from (min, max) now to (low, high).

    Order matters: the kernel keeps min <= max, so a new min above the current max is refused
    (EINVAL on older kernels; newer ones with freq QoS keep the request but clamp it, so the
    read-back differs). Raising the range means max first, then min; lowering it means min
    first. Max-first is safe whenever the new max is not below the current min, else min-first
    is (then the new min is below the new max, which is below the current min <= max). A
    restore from a state a killed run left (e.g. pinned low) needs the same care.
    """
    if not policy.has_limits:
        return []
    writes = []
    if high != policy.max_khz:
        writes.append(("max", high))
    if low != policy.min_khz:
        writes.append(("min", low))
    if high < policy.min_khz:  # the new max is below the current min: lower min first
        writes.reverse()
    return [(policy.paths[f"scaling_{edge}_freq"], str(value)) for edge, value in writes]


def check_governor(policies: dict[str, Policy], governor: str, where: str) -> None:
    """Unsupported unless every policy offers ``governor`` (a policy listing none: the
    write and its read-back decide)."""
    if not policies:
        raise Unsupported(f"{where}: no cpufreq policies to set a governor on")
    missing = {n: p.available for n, p in policies.items() if p.available and governor not in p.available}
    if missing:
        offered = "; ".join(f"{n}: {', '.join(a)}" for n, a in missing.items())
        raise Unsupported(f"governor {governor} is not offered by {where} ({offered})")


def apply_governor(files: PolicyFiles, policies: dict[str, Policy], governor: str) -> dict[str, Any]:
    """Set ``governor`` over each policy's hardware range; read back; Unsupported if refused."""
    writes: list[tuple[str, str]] = []
    wanted: dict[str, dict[str, Any]] = {}
    for name, p in policies.items():
        if "scaling_governor" not in p.paths:
            raise Unsupported(f"{files.where} {name}: no scaling_governor file to write")
        want = {"governor": governor}
        if p.has_limits and p.hw_min_khz and p.hw_max_khz:
            writes += limit_writes(p, p.hw_min_khz, p.hw_max_khz)
            want.update(min_freq_khz=p.hw_min_khz, max_freq_khz=p.hw_max_khz)
        # the governor after the limits: performance/powersave start at the final edge
        writes.append((p.paths["scaling_governor"], governor))
        wanted[name] = want
    said = files.write(writes)
    observed = files.read()
    differs = _differences(observed, wanted)
    if differs:
        raise Unsupported(f"{files.where} refused governor {governor}: read back {differs}"
                          + (f" ({_tail(said)})" if said.strip() else ""))
    return {"governors_observed": {n: p.governor for n, p in observed.items()},
            "freq_limits_khz": {n: [p.min_khz, p.max_khz] for n, p in observed.items()
                                if p.has_limits}}


def restore_policies(files: PolicyFiles, before: dict[str, dict[str, Any]]) -> None:
    """Put every policy back to ``before`` (a ``snapshot``), from whatever state it is in now."""
    current = files.read()
    writes: list[tuple[str, str]] = []
    wanted: dict[str, dict[str, Any]] = {}
    for name, want in before.items():
        p = current.get(name)
        if p is None:
            continue  # an offline CPU's policy disappears from sysfs; nothing to write to
        if want.get("min_freq_khz") is not None and want.get("max_freq_khz") is not None:
            writes += limit_writes(p, int(want["min_freq_khz"]), int(want["max_freq_khz"]))
        if want.get("governor") and "scaling_governor" in p.paths and p.governor != want["governor"]:
            writes.append((p.paths["scaling_governor"], want["governor"]))
        wanted[name] = {k: v for k, v in want.items() if v is not None}
    said = files.write(writes) if writes else ""
    differs = _differences(files.read() if writes else current, wanted)
    if differs:
        raise InfraError(f"{files.where}: restore incomplete, read back {differs}"
                         + (f" ({_tail(said)})" if said.strip() else ""))


def _differences(observed: dict[str, Policy], wanted: dict[str, dict[str, Any]]) -> str:
    problems = []
    for name, want in wanted.items():
        p = observed.get(name)
        if p is None:
            continue
        got = {"governor": p.governor, "min_freq_khz": p.min_khz, "max_freq_khz": p.max_khz}
        for key, value in want.items():
            if got[key] != value:
                problems.append(f"{name} {key.replace('_freq_khz', '')} {got[key]} (wrote {value})")
    return ", ".join(problems)


def _tail(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]


class GovernorOperation(Operation):
    """The governor axis as an operation (see operations.py): one per device, over its
    ``PolicyFiles``. ``offers`` names what a device without write access still offers."""
    name = "governors"
    PSEUDO = ("default", "fixed-performance")  # axis values that are no cpufreq governor

    def __init__(self, files: PolicyFiles, offers: str = ""):
        self.files = files
        self.offers = offers
        self._policies: dict[str, Policy] | None = None

    def wants(self, conditions: dict[str, Any]) -> bool:
        return (conditions.get("governor") or "default") not in self.PSEUDO

    def check(self, conditions: dict[str, Any]) -> None:
        self._policies = self.files.read()
        check_governor(self._policies, conditions["governor"], self.files.where)
        refused = self.files.cannot_write()
        if refused:
            raise Unsupported(f"governor {conditions['governor']}: {refused}"
                              + (f"; {self.offers}" if self.offers else ""))

    def read(self) -> dict[str, dict[str, Any]]:
        return snapshot(self._policies if self._policies is not None else self.files.read())

    def apply(self, conditions: dict[str, Any], before: Any) -> dict[str, Any]:
        policies, self._policies = self._policies or self.files.read(), None
        return apply_governor(self.files, policies, conditions["governor"])

    def restore(self, before: dict[str, dict[str, Any]]) -> None:
        restore_policies(self.files, before)


def observed_governors(files: PolicyFiles) -> dict[str, str | None]:
    """{policy: governor} as it is now ({} without cpufreq)."""
    return {name: p.governor for name, p in files.read().items()}
