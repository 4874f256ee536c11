"""The host sampler: a thread reading psutil, the thermal zones and RAPL while a measurement runs.

Same shape as the phone's (``window(name)`` -> ``Window`` of ``Sample``s; ``lost``), on the host
clock (``time.monotonic()``), so the computations treat both alike:

- ``cpu_pct``: psutil's system-wide CPU busy since the previous sample (% of all cores);
- ``freq_khz``: per-CPU current frequency where psutil can read one (``cpu0`` ..);
- ``temp_c``: ``/sys/class/thermal/thermal_zone*/temp`` (millidegrees) by zone type;
- ``energy_uj``: RAPL ``/sys/class/powercap/intel-rapl:*/energy_uj`` counters, with each
  domain's ``max_energy_range_uj`` kept in ``Window.energy_range_uj`` for wrap-around. Where RAPL
  cannot be read, ``rapl_unavailable`` says why (absent in VMs and containers; root-only since
  Linux 5.10, the PLATYPUS fix for CVE-2020-8694).

The thread measures its own CPU time (``cpu_s``): what sampling costs the host.
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from .sample import LoggedSampler, Sample, SampleLog

_RAPL_ZONE = re.compile(r"^intel-rapl:\d+(?::\d+)?$")


class RaplReader:
    """The readable RAPL domains under ``root``/sys/class/powercap, or why there are none."""

    def __init__(self, root: Path = Path("/")):
        base = root / "sys/class/powercap"
        self.domains: dict[str, Path] = {}      # "package-0", "package-0/core", .. -> energy_uj
        self.range_uj: dict[str, float] = {}    # the same keys -> max_energy_range_uj
        self.unavailable: str | None = None
        if not base.is_dir():
            self.unavailable = ("no /sys/class/powercap: this kernel exposes no RAPL (usual in "
                                "VMs and containers)")
            return
        zones = sorted(p for p in base.iterdir() if _RAPL_ZONE.match(p.name))
        if not zones:
            self.unavailable = "no intel-rapl zone under /sys/class/powercap (no RAPL on this CPU/kernel)"
            return
        denied = []
        for zone in zones:
            name = _domain_name(base, zone)
            try:
                int((zone / "energy_uj").read_text())
            except PermissionError:
                denied.append(name)
                continue
            except (OSError, ValueError):
                continue
            self.domains[name] = zone / "energy_uj"
            self.range_uj[name] = _read_number(zone / "max_energy_range_uj") or 0.0
        if not self.domains:
            self.unavailable = (f"RAPL energy_uj not readable as uid {os.getuid()} (root only since "
                                f"Linux 5.10, CVE-2020-8694): {', '.join(denied) or 'no domain'}")

    def read(self) -> dict[str, float]:
        out = {}
        for name, path in self.domains.items():
            value = _read_number(path)
            if value is not None:
                out[name] = value
        return out


def _domain_name(base: Path, zone: Path) -> str:
    """"package-0", or "package-0/core" for a subzone, from the zones' own ``name`` files."""
    own = (zone / "name").read_text().strip() if (zone / "name").exists() else zone.name
    parts = zone.name.split(":")
    if len(parts) == 3:
        parent = base / ":".join(parts[:2])
        parent_name = (parent / "name").read_text().strip() if (parent / "name").exists() else parent.name
        return f"{parent_name}/{own}"
    return own


def _read_number(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


class HostSampler(LoggedSampler):
    def __init__(self, interval_s: float = 0.1, root: Path | str = "/"):
        self.interval_s = interval_s
        self.root = Path(root)
        self.log = SampleLog("host", settle_s=max(0.5, 3 * interval_s))
        self.rapl = RaplReader(self.root)
        self.log.energy_range_uj = dict(self.rapl.range_uj)
        self.zones = self._thermal_zones()
        self.cpu_s = 0.0          # CPU time the sampling thread used
        self.wall_s = 0.0         # how long it ran
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def rapl_unavailable(self) -> str | None:
        return self.rapl.unavailable

    def start(self) -> "HostSampler":
        self._thread = threading.Thread(target=self._run, name="edgelab-host-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "HostSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _thermal_zones(self) -> dict[str, Path]:
        zones = {}
        for zone in sorted((self.root / "sys/class/thermal").glob("thermal_zone*")):
            kind = _read_text(zone / "type") or zone.name
            zones[kind if kind not in zones else f"{kind}@{zone.name}"] = zone / "temp"
        return zones

    def _run(self) -> None:
        import psutil

        started, cpu_start = time.monotonic(), time.thread_time()
        psutil.cpu_percent(None)  # the first call only sets psutil's reference point
        try:
            while not self._stop.is_set():
                self.log.add(self._sample(psutil))
                self.cpu_s = time.thread_time() - cpu_start
                self.wall_s = time.monotonic() - started
                self._stop.wait(self.interval_s)
        except Exception as exc:  # a sampler must not take the measurement down with it
            self.log.mark_lost(f"host sampler stopped: {type(exc).__name__}: {exc}")

    def _sample(self, psutil) -> Sample:
        now = time.monotonic()
        freqs = {}
        try:
            for number, freq in enumerate(psutil.cpu_freq(percpu=True) or []):
                if freq.current:
                    freqs[f"cpu{number}"] = int(freq.current * 1000)  # psutil gives MHz
        except (OSError, NotImplementedError):
            pass
        temps = {}
        for name, path in self.zones.items():
            milli = _read_number(path)
            if milli is not None:
                temps[name] = round(milli / 1000.0, 3)
        return Sample(t_s=now, host_s=now, freq_khz=freqs, temp_c=temps,
                      energy_uj=self.rapl.read(), cpu_pct=psutil.cpu_percent(None))


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
