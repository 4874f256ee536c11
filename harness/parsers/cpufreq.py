"""Parse cpufreq sysfs dumps: one ``path: value`` line per file.

The input is what ``grep . /sys/devices/system/cpu/cpu*/cpufreq/*`` (``path:value``)
or a ``for f in ...; do echo "$f: $(cat $f)"; done`` loop prints; paths may be
absolute or relative to ``/sys/devices/system/cpu``.

Returned keys:

- ``cpus``: ``{"cpuN": {...}}`` with ``governor``, ``available_governors``
  (list), ``cur_freq_khz``, ``min_freq_khz``, ``max_freq_khz`` (scaling limits),
  ``hw_min_freq_khz``, ``hw_max_freq_khz`` (``cpuinfo_*``),
  ``available_frequencies_khz`` (ascending list; from ``stats/time_in_state``
  when ``scaling_available_frequencies`` is absent), ``related_cpus``,
  ``affected_cpus`` (lists of ints), ``driver``, ``transition_latency_ns``,
  ``time_in_state_10ms`` (``{khz: time in 10 ms units}``, when dumped), ``online`` (bool or
  None).  Missing files give None / [].
- ``policies``: ``{"policyN": {...same fields..., "cpus": [...]}}`` -- one per
  frequency domain, N = first related CPU (kernel naming).  Values from
  ``cpufreq/policyN/`` paths apply to all of its CPUs.
- ``online``, ``possible``, ``present``, ``offline``: lists of CPU numbers
  ("0-3,6" ranges expanded); ``kernel_max``: int.
- ``governors``: sorted list of governors in use.
- ``files``: raw ``{path: value}`` as read.
- ``error``: when no cpufreq path was found.

Quirks: multi-line files (``time_in_state``) appear either as continuation
lines without a path or as repeated ``path:value`` lines -- both are joined
with newlines; values have trailing spaces ("324000 610000 ").
"""

from __future__ import annotations

import re

from ._text import clean_lines, int_list, to_int

_PER_CPU = re.compile(r"(?:^|/)cpu(\d+)/cpufreq/(?:stats/)?(\w+)$")
_PER_POLICY = re.compile(r"(?:^|/)cpufreq/policy(\d+)/(?:stats/)?(\w+)$")
_CPU_ONLINE = re.compile(r"(?:^|/)cpu(\d+)/online$")
_GLOBAL = re.compile(r"(?:^|/)(?:devices/system/cpu/)?(online|offline|possible|present|kernel_max)$")
_PATH_LINE = re.compile(r"^\s*((?:/|\.?/?cpu\d|cpufreq/)[^\s:]*)\s*:\s?(.*)$")


def _files(lines: list[str]) -> dict[str, str]:
    files: dict[str, str] = {}
    last = None
    for line in lines:
        match = _PATH_LINE.match(line)
        if match:
            path, value = match.group(1), match.group(2).strip()
            files[path] = f"{files[path]}\n{value}" if path in files else value
            last = path
        elif last is not None and line.strip():
            files[last] += "\n" + line.strip()  # continuation of a multi-line file
    return files


def _entry(attrs: dict[str, str], online: bool | None) -> dict:
    def khz(name: str) -> int | None:
        return to_int(attrs.get(name))
    stats = _time_in_state(attrs.get("time_in_state", ""))
    freqs = int_list(attrs.get("scaling_available_frequencies")) or list(stats)
    return {
        "governor": attrs.get("scaling_governor") or None,
        "available_governors": (attrs.get("scaling_available_governors") or "").split(),
        "cur_freq_khz": khz("scaling_cur_freq" if "scaling_cur_freq" in attrs else "cpuinfo_cur_freq"),
        "min_freq_khz": khz("scaling_min_freq"),
        "max_freq_khz": khz("scaling_max_freq"),
        "hw_min_freq_khz": khz("cpuinfo_min_freq"),
        "hw_max_freq_khz": khz("cpuinfo_max_freq"),
        "available_frequencies_khz": sorted(set(freqs)),
        "related_cpus": int_list(attrs.get("related_cpus")),
        "affected_cpus": int_list(attrs.get("affected_cpus")),
        "driver": attrs.get("scaling_driver") or None,
        "transition_latency_ns": khz("cpuinfo_transition_latency"),
        "time_in_state_10ms": stats or None,
        "online": online,
    }


def _time_in_state(raw: str) -> dict[int, int]:
    pairs = (line.split() for line in raw.splitlines())
    return {int(p[0]): int(p[1]) for p in pairs if len(p) == 2 and p[0].isdigit() and p[1].isdigit()}


def _sort_files(files: dict[str, str]) -> tuple[dict, dict, dict, dict]:
    per_cpu: dict[int, dict] = {}
    per_policy: dict[int, dict] = {}
    online: dict[int, bool] = {}
    glob: dict[str, str] = {}
    for path, value in files.items():
        if (m := _PER_POLICY.search(path)):
            per_policy.setdefault(int(m.group(1)), {})[m.group(2)] = value
        elif (m := _PER_CPU.search(path)):
            per_cpu.setdefault(int(m.group(1)), {})[m.group(2)] = value
        elif (m := _CPU_ONLINE.search(path)):
            online[int(m.group(1))] = value.strip() == "1"
        elif (m := _GLOBAL.search(path)):
            glob[m.group(1)] = value
    return per_cpu, per_policy, online, glob


def _policies(cpus: dict[str, dict]) -> dict[str, dict]:
    """Group CPUs by related_cpus; each field takes the first member that has it
    (sysfs often omits a file on one CPU of a domain, e.g. scaling_max_freq)."""
    policies: dict[int, dict] = {}
    for name, entry in cpus.items():
        members = entry["related_cpus"] or [int(name[3:])]
        policy = policies.setdefault(members[0], {**entry, "cpus": members})
        for key, value in entry.items():
            if policy.get(key) in (None, []):
                policy[key] = value
    return {f"policy{n}": policies[n] for n in sorted(policies)}


def parse(text: str) -> dict:
    files = _files(clean_lines(text))
    per_cpu, per_policy, online, glob = _sort_files(files)
    online_list = int_list(glob.get("online")) if "online" in glob else None
    # policyN values belong to every CPU the policy lists (or at least CPU N).
    for number, attrs in per_policy.items():
        for cpu in int_list(attrs.get("related_cpus")) or [number]:
            per_cpu[cpu] = {**attrs, **per_cpu.get(cpu, {})}

    def is_online(cpu: int) -> bool | None:
        if cpu in online:
            return online[cpu]
        return None if online_list is None else cpu in online_list
    cpus = {f"cpu{n}": _entry(per_cpu[n], is_online(n)) for n in sorted(per_cpu)}
    result = {
        "cpus": cpus,
        "policies": _policies(cpus),
        "online": online_list, "offline": int_list(glob.get("offline")) if "offline" in glob else None,
        "possible": int_list(glob.get("possible")) if "possible" in glob else None,
        "present": int_list(glob.get("present")) if "present" in glob else None,
        "kernel_max": to_int(glob.get("kernel_max")),
        "governors": sorted({e["governor"] for e in cpus.values() if e["governor"]}),
        "files": files,
    }
    if not cpus:
        result["error"] = "no '/sys/devices/system/cpu/cpuN/cpufreq/...: value' lines"
    return result
