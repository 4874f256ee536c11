"""What changes on a virtual phone while tools run: heat, throttling, battery current (SIMULATED).

``Physics`` belongs to one ``DeviceState``. It is evaluated lazily: every read of a file it owns
(thermal zone temps, ``scaling_cur_freq``, the battery's sysfs files, ``/proc/uptime``,
``/proc/<pid>/status``) first advances the model to now, in steps of at most 0.25 s while a tool
runs (the load and the throttled frequency are constant within a step) and in one exact step when
idle. Tools register while they run (``start_tool``; toolcli.py does it), which is what makes the
phone busy. The constants come from the profile's ``[simulation]`` table (simulation.py); the
device says so in getprop ``ro.edgelab.simulated``.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .battery import SYSFS_DIR, BatteryModel
from .thermal import ThermalModel, make_zone

_CPUFREQ = re.compile(r"^/sys/devices/system/cpu/cpu\d+/cpufreq/scaling_cur_freq$")
_PROC_STATUS = re.compile(r"^/proc/(\d+)/status$")
_LEVEL = re.compile(r"^\s*level: (\d+)", re.M)
_HAL_ITEM = re.compile(r"(Temperature\{mValue=)[-\d.]+(, mType=-?\d+, mName=)([^,]+)(,)")
_STEP_S = 0.25
_RESOLUTION_S = 0.005
_COMM_LEN = 15  # the kernel's TASK_COMM_LEN - 1: what ps, pidof and /proc/PID/status show
_PINNED = ("powersave", "userspace")  # governors that do not raise the clock under load
SHELL_PID = 4242  # the parent a tool started in the foreground shows: the adb shell


@dataclass
class ToolProcess:
    pid: int                 # the host pid of the process running the engine (unique, real)
    name: str                # what the phone would call it: the executed file's name
    cores: int               # busy cores it stands for (its thread count, at least 1)
    started: float           # time.monotonic()
    ppid: int | None = None  # the virtual shell process that started it (a job's pid, jobs.py)
    speeds: list = field(default_factory=list)  # [(time.monotonic(), slowdown)], see toolspeed.py
    last_status: str = ""    # its /proc status when last read (served after the host process ends)


class Physics:
    def __init__(self, profile, fs, clock=time.monotonic):
        self.profile, self.fs, self.clock = profile, fs, clock
        self.constants = profile.simulation
        self.zone_files = {f"/sys/class/thermal/thermal_zone{n}/temp": make_zone(kind, raw)
                           for n, (kind, raw) in enumerate(fs._thermal_zones())}
        self.thermal = ThermalModel(list(self.zone_files.values()), self.constants)
        level = _LEVEL.search(profile.captures.get("battery", ""))
        self.battery = BatteryModel(self.constants, int(level.group(1)) if level else 80)
        self.tools: dict[int, ToolProcess] = {}
        self.cores = max(1, len(re.findall(r"^processor\s*:", profile.captures["cpuinfo"], re.M)))
        self._lock = threading.RLock()
        self._last = clock()
        self._hw: dict[str, tuple[int | None, list[int]]] = {}
        self._readers = {"/proc/uptime": self._uptime, f"{SYSFS_DIR}/current_now": self._current,
                         f"{SYSFS_DIR}/voltage_now": self._voltage,
                         f"{SYSFS_DIR}/temp": lambda: self.battery.temp_text(self.battery_temp_c()),
                         f"{SYSFS_DIR}/status": lambda: self.constants.battery_status}
        self._create_files()

    # -- files ----------------------------------------------------------------------------------
    def _create_files(self) -> None:
        put = self.fs._put  # the fs's own way of adding read-only kernel files (mode, owner)
        put("/proc/uptime", self._uptime() + "\n")
        static = {"present": "1", "technology": "Li-ion", "type": "Battery",
                  "capacity": str(self.battery.level_pct), "health": "Good"}
        for name, value in static.items():
            put(f"{SYSFS_DIR}/{name}", value + "\n")
        for path, reader in self._readers.items():
            if path.startswith(SYSFS_DIR):
                put(path, reader() + "\n")

    def read(self, path: str) -> bytes | None:
        """The bytes of a file the model owns (the fs calls this first), else None."""
        reader = self._readers.get(path)
        if reader is not None:
            return (reader() + "\n").encode()
        zone = self.zone_files.get(path)
        if zone is not None:
            self.update()
            return (zone.text(self.thermal.rise_c) + "\n").encode()
        if _CPUFREQ.match(path):
            return f"{self.cur_freq_khz(path.rsplit('/', 1)[0])}\n".encode()
        found = _PROC_STATUS.match(path)
        if found and int(found.group(1)) in self.tools:
            return self._proc_status(self.tools[int(found.group(1))])
        return None

    def _uptime(self) -> str:
        # the host's monotonic clock stands for the phone's boot clock: both only go forward
        now = self.clock()
        return f"{now:.2f} {now * self.cores * 0.9:.2f}"

    def _current(self) -> str:
        self.update()
        return self.battery.current_text(self.battery.current_ma(self.busy()))

    def _voltage(self) -> str:
        self.update()
        return self.battery.voltage_text(self.battery.voltage_mv(self.battery.current_ma(self.busy())))

    def dumpsys(self, service: str, capture: str) -> str:
        """``dumpsys battery|thermalservice``: the capture with the model's values put in."""
        if service == "battery":
            discharge = self.battery.current_ma(self.busy())
            return self.battery.dumpsys(capture, self.battery.voltage_mv(discharge),
                                        self.battery_temp_c())
        if service != "thermalservice":
            return capture
        self.update()
        temps = {zone.name: self.thermal.temp_c(zone) for zone in self.thermal.zones
                 if zone.coupling > 0}
        text = re.sub(r"^(\s*Thermal Status: )\d+", lambda m: f"{m.group(1)}{self.thermal.status}",
                      capture, count=1, flags=re.M)
        return _HAL_ITEM.sub(lambda m: _hal_item(m, temps, self.thermal.rise_c), text)

    def _proc_status(self, tool: ToolProcess) -> bytes:
        try:  # the real status of the host process that runs the engine, under the tool's name
            text = Path(f"/proc/{tool.pid}/status").read_text()
        except OSError:
            text = ""
        if "VmHWM:" in text:
            tool.last_status = text
        elif tool.last_status:
            # the host process is done (gone, or a zombie without Vm* lines), but a slower
            # phone's tool still runs while toolspeed.py waits out the simulated slowdown: it
            # stays visible, as it would, with its last status
            text = tool.last_status
        if not text:
            return b""
        text = re.sub(r"^PPid:\t.*$", f"PPid:\t{tool.ppid or SHELL_PID}", text, count=1, flags=re.M)
        return re.sub(r"^Name:\t.*$", f"Name:\t{tool.name[:_COMM_LEN]}", text, count=1,
                      flags=re.M).encode()

    # -- model ----------------------------------------------------------------------------------
    def update(self) -> None:
        """Advance heat and throttling to now (a sampler reads a dozen files per sample: they
        share one update)."""
        with self._lock:
            now = self.clock()
            if now - self._last < _RESOLUTION_S:
                return
            while self._last < now:
                busy = self.busy()
                step = min(_STEP_S, now - self._last) if busy else now - self._last
                self.thermal.step(step, self.thermal.steady_rise_c(busy))
                self._last += step

    def busy(self) -> list[tuple[int, float]]:
        """(cores, f / f_max) per running tool: the load the heat and current follow."""
        with self._lock:
            tools = list(self.tools.values())
        if not tools:
            return []
        ratio = self.speed_ratio()
        return [(tool.cores, ratio) for tool in tools]

    def battery_temp_c(self) -> float:
        self.update()
        zone = next((z for z in self.thermal.zones if z.name.lower() in ("battery", "bms")), None)
        return self.thermal.temp_c(zone) if zone else 25.0 + 0.25 * self.thermal.rise_c

    def thermal_status(self) -> int:
        self.update()
        return self.thermal.status

    # -- frequencies ----------------------------------------------------------------------------
    def cur_freq_khz(self, cpufreq: str) -> int:
        """scaling_cur_freq: the governor's pick (the policy's max while a tool runs, unless the
        governor pins the clock), capped by the thermal status."""
        read = self._read_int
        stored = read(f"{cpufreq}/scaling_cur_freq") or 0
        hw_max = self._hardware(cpufreq)[0] or stored
        soft_max = read(f"{cpufreq}/scaling_max_freq") or hw_max
        freq = stored
        if self.tools and self._read(f"{cpufreq}/scaling_governor") not in _PINNED:
            freq = soft_max
        with self._lock:
            ratio = self.thermal.throttle_ratio()
        if ratio < 1.0:
            freq = min(freq, self._snap_down(cpufreq, ratio * hw_max))
        return min(freq, soft_max) if soft_max else freq

    def speed_ratio(self) -> float:
        """f / f_max of the fastest cluster, where tools run (the big cores)."""
        best, best_max = None, 0
        for cpufreq in self._cpufreq_dirs():
            hw_max = self._hardware(cpufreq)[0] or 0
            if hw_max > best_max:
                best, best_max = cpufreq, hw_max
        if best is None:
            return 1.0
        return self.cur_freq_khz(best) / best_max

    def _hardware(self, cpufreq: str) -> tuple[int | None, list[int]]:
        """(cpuinfo_max_freq, available frequencies): read-only files, read once."""
        if cpufreq not in self._hw:
            levels = sorted(int(x) for x in self._read(f"{cpufreq}/scaling_available_frequencies")
                            .split() if x.isdigit())
            self._hw[cpufreq] = (self._read_int(f"{cpufreq}/cpuinfo_max_freq"), levels)
        return self._hw[cpufreq]

    def _snap_down(self, cpufreq: str, limit_khz: float) -> int:
        levels = self._hardware(cpufreq)[1]
        if not levels:
            return int(limit_khz)
        allowed = [f for f in levels if f <= limit_khz]
        return allowed[-1] if allowed else levels[0]

    def _cpufreq_dirs(self) -> list[str]:
        if not hasattr(self, "_dirs"):
            root = self.fs.host_path("/sys/devices/system/cpu")
            self._dirs = sorted("/" + str(p.relative_to(self.fs.root))
                                for p in root.glob("cpu[0-9]*/cpufreq") if p.is_dir())
        return self._dirs

    def _read(self, path: str) -> str:
        # the stored file, not fs.read_bytes: that would come back here
        try:
            return self.fs.host_path(path).read_text().strip()
        except OSError:
            return ""

    def _read_int(self, path: str) -> int | None:
        text = self._read(path)
        return int(text) if text.isdigit() else None

    # -- tools ----------------------------------------------------------------------------------
    def start_tool(self, pid: int, name: str, threads: int | None,
                   ppid: int | None = None) -> ToolProcess:
        self.update()  # the heat so far was made without this tool
        cores = min(self.cores, threads) if threads and threads > 0 else 1
        tool = ToolProcess(pid, name, cores, self.clock(), ppid)
        with self._lock:
            self.tools[pid] = tool
        self.fs._put(f"/proc/{pid}/status", "")  # ls and test -e see it; read() fills it
        return tool

    def end_tool(self, tool: ToolProcess) -> None:
        self.update()
        with self._lock:
            self.tools.pop(tool.pid, None)
        self.forget_proc(tool.pid)

    def forget_proc(self, pid: int) -> None:
        """Remove ``/proc/<pid>`` of a process that ended (a tool, or a shell job)."""
        for path in (f"/proc/{pid}/status", f"/proc/{pid}"):
            try:  # not fs.remove: /proc is read-only to the phone's shell, not to its kernel
                host = self.fs.host_path(path)
                host.unlink() if host.is_file() else host.rmdir()
            except OSError:
                pass
            self.fs._meta.pop(path, None)


def _hal_item(found: re.Match, temps: dict[str, float], rise_c: float) -> str:
    name = found.group(3)
    if name not in temps or rise_c == 0:
        return found.group(0)  # untouched: the captured text
    value = repr(round(temps[name], 6))  # Java's Float.toString keeps a ".0" as repr does
    return f"{found.group(1)}{value}{found.group(2)}{name}{found.group(4)}"
