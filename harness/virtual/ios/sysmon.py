"""Instruments' system monitor as the virtual iPhone plays it: the ``deviceinfo`` answers a host
asks before sampling, and the ``sysmontap`` tap's samples (instruments.py serves the channels).

The shape follows what real phones push, from three public sources (reference only):

- the Instruments server's own sampler, ``DTSysmonTapLocalDelegate`` (class dumps/decompilations
  of DTXConnectionServices in public repositories): for a system sample it sets ``Type``,
  ``StartMachAbsTime``, ``EndMachAbsTime``, ``System`` (the values of the requested
  ``sysAttrs``), and when the config asks ``cpuUsage``: ``CPUCount`` (host_processor_info's
  processor count), ``EnabledCPUs`` (processors that ticked since the last sample),
  ``PerCPUUsage`` (one {CPU_TotalLoad, CPU_UserLoad -1, CPU_SystemLoad -1, CPU_NiceLoad} per
  processor, each 0..100, built last-first) and ``SystemCPUUsage`` whose ``CPU_TotalLoad`` is the
  SUM of the per-processor loads (0..100 x CPUCount), ``Type |= 0x20``. A process sample is
  ``Type``, the two times and ``Processes`` {pid: values of the requested ``procAttrs``}. The
  first sample of a session also carries ``ProcessesAttributes`` / ``SystemAttributes``.
  Samples go out as one archived array per fetch, a DATA message on the tap's channel;
- py-ios-device's README capture of one push (iPhone, 2 processors): a ``Type`` 33 system row
  with PerCPUUsage 11.88 and 17.0 and SystemCPUUsage CPU_TotalLoad 28.88 (their sum), and a
  ``Type`` 5 process row; tidevice's docstring capture has the same shape (13 + 31 = 44), and
  tidevice takes sysmontap's messages as payload type 1 (DATA) on the negated channel code;
- pymobiledevice3's client: ``Tap`` drops the first message after ``start`` ("kind of an ack"),
  and its ``sysmon system`` command skips the first SystemCPUUsage it sees ("always gives an
  incorrect value - 100 or 0"): the first system sample after start covers almost no ticks.

The stand-in samples at each push (every ``ur`` ms of the config, at least ``MIN_PUSH_MS``), not
every ``sampleInterval``. At ``start`` it pushes an empty array at once (the ack: what a phone's
holds is not known, pymobiledevice3 drops it unread), one ``ur`` later the first samples, whose
system sample covers almost no ticks (loads 0, EnabledCPUs 0: the "100 or 0" a client must
skip) and which carry the attribute names, then a sample array every ``ur``. CPU load is a
MODEL, not a measurement: each launched virtual EdgelabRunner that is alive keeps one processor
about 97 % busy (the stand-in's "iteration" sleeps, but a Core ML loop on a real phone keeps a
core busy); the others idle at a few percent. Values outside the CPU fields (memory, disk,
network counters) are plausible constants, labelled by nothing on the wire: do not read them as a
phone's. Not reproduced: the attributes sample's own ``Type`` bit (its value is not in the
sources), heartbeat and status memos, and ``sampleInterval`` apart from ``ur``.
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable

from . import dtx

DEVICE_INFO = "com.apple.instruments.server.services.deviceinfo"
SYSMONTAP = "com.apple.instruments.server.services.sysmontap"
DEFAULT_CPU_COUNT = 6      # every iPhone since the A11 (2 performance + 4 efficiency cores)
MIN_PUSH_MS = 10           # the stand-in's floor for ``ur`` (pymobiledevice3 allows 1 ms)
DEFAULT_PUSH_MS = 500      # pymobiledevice3's default interval, when a config names none
SYSTEM_TYPE, PROCESS_TYPE, CPU_TYPE = 1, 5, 0x20   # 33 = system + CPU, as the captures show
BUSY_CORE_PCT = 97.0
IDLE_CORE_PCT = (1.0, 7.0)

# sysmonProcessAttributes / sysmonSystemAttributes: the names pymobiledevice3's `sysmon` prints
# for real iPhones (pymobiledevice3 issues #25, #889, PR #1359/#1360); the order is not known
PROCESS_ATTRIBUTES = [
    "pid", "name", "comm", "execName", "ppid", "pgid", "tpgid", "uid", "gid", "ruid", "rgid",
    "svuid", "svgid", "pjobc", "procStatus", "procFlags", "procXstatus", "procAge",
    "startAbsTime", "uniqueID", "parentUniqueID", "responsiblePID", "responsibleUniqueID",
    "coalitionID", "cpuUsage", "cpuTotalUser", "cpuTotalSystem", "threadsUser", "threadsSystem",
    "threadCount", "numRunning", "priority", "nice", "policy", "latencyQosTier",
    "throughputQosTier", "ctxSwitch", "intWakeups", "platIdleWakeups", "timerWakeBin1",
    "timerWakeBin2", "powerScore", "avgPowerScore", "totalEnergyScore", "physFootprint",
    "memResidentSize", "memVirtualSize", "memAnon", "memAnonPeak", "memCompressed",
    "memPurgeable", "memRPrvt", "memRShrd", "wiredSize", "vmPageIns", "faults", "cowFaults",
    "diskBytesRead", "diskBytesWritten", "sysCallsUnix", "sysCallsMach", "msgSent", "msgRecv",
    "machPortCount", "nfiles", "wqState", "wqNumThreads", "wqRunThreads", "wqBlockedThreads",
    "appSleep", "__arch", "__sandbox", "__restricted", "__suddenTerm",
]
SYSTEM_ATTRIBUTES = [
    "vmExtPageCount", "vmFreeCount", "vmPurgeableCount", "vmSpeculativeCount", "vmWireCount",
    "vmActiveCount", "vmInactiveCount", "vmThrottledCount", "vmIntPageCount", "vmUsedCount",
    "vmCompressorPageCount", "vmTotalUncompPagesInComp", "vmPageIns", "vmPageOuts", "vmFaults",
    "vmCowFaults", "vmZeroFillCount", "vmReactivations", "vmPurges", "vmLookups", "vmHits",
    "vmCompressions", "vmDecompressions", "vmSwapIns", "vmSwapOuts", "vmSize", "__vmSwapUsage",
    "physMemSize", "threadCount", "diskReadOps", "diskWriteOps", "diskBytesRead",
    "diskBytesWritten", "netPacketsIn", "netPacketsOut", "netBytesIn", "netBytesOut",
]
_SYSTEM_VALUES = {  # 16 KiB pages; a 6 GB phone at rest (constants, see the module docstring)
    "vmFreeCount": 18_000, "vmActiveCount": 120_000, "vmInactiveCount": 110_000,
    "vmWireCount": 60_000, "vmSpeculativeCount": 4_000, "vmPurgeableCount": 3_000,
    "vmExtPageCount": 70_000, "vmIntPageCount": 160_000, "vmUsedCount": 290_000,
    "vmCompressorPageCount": 30_000, "physMemSize": 6 * 2 ** 30, "threadCount": 2_100,
    "vmSize": 1_500_000,
}
# the processes every phone runs, as (pid, name, executable)
_SYSTEM_PROCESSES = [(0, "kernel_task", ""), (1, "launchd", "/sbin/launchd"),
                     (60, "SpringBoard", "/System/Library/CoreServices/SpringBoard.app/"
                                         "SpringBoard")]
RUNNER_EXEC = ("/private/var/containers/Bundle/Application/EDGELAB-VIRTUAL/EdgelabRunner.app/"
               "EdgelabRunner")


def mach_ticks() -> int:
    """mach_absolute_time of an A-series phone: 24 MHz ticks (timebase 125/3 ns)."""
    return time.monotonic_ns() * 3 // 125


def per_core_loads(cpu_count: int, busy_apps: int, rng: random.Random) -> list[float]:
    """Each processor's load 0..100 over one interval: ``busy_apps`` processors busy."""
    loads = []
    for core in range(cpu_count):
        if core < busy_apps:
            loads.append(round(BUSY_CORE_PCT + rng.uniform(-2.0, 2.0), 3))
        else:
            loads.append(round(rng.uniform(*IDLE_CORE_PCT), 3))
    return loads


def cpu_fields(loads: list[float], ticked: int) -> dict[str, Any]:
    """The keys ``_addCPUUsageToSample`` adds to a system sample."""
    def usage(total: float, nice: float = 0.0) -> dict[str, float]:
        return {"CPU_TotalLoad": float(total), "CPU_UserLoad": -1.0, "CPU_SystemLoad": -1.0,
                "CPU_NiceLoad": float(nice)}

    per_cpu: list[dict[str, float]] = []
    for load in loads:
        per_cpu.insert(0, usage(load))  # the phone inserts each at index 0
    return {"CPUCount": len(loads), "EnabledCPUs": ticked, "PerCPUUsage": per_cpu,
            "SystemCPUUsage": usage(sum(loads))}


class SysmonTap:
    """One sysmontap channel of one DTX connection: its config, and when it pushes next.
    ``apps()`` lists the virtual apps alive now as (pid, name); ``push(bytes)`` sends a DATA
    message on the channel. Driven by the connection's own thread (instruments.py)."""

    def __init__(self, apps: Callable[[], list[tuple[int, str]]], cpu_count: int,
                 seed: int | None = None):
        self.apps = apps
        self.cpu_count = cpu_count
        self.config: dict[str, Any] = {}
        self.running = False
        self.due = 0.0            # time.monotonic() of the next push
        self.pushes = 0
        self._rng = random.Random(seed)
        self._first = True
        self._last_ticks = 0

    @property
    def push_s(self) -> float:
        try:
            ms = float(self.config.get("ur") or DEFAULT_PUSH_MS)
        except (TypeError, ValueError):
            ms = DEFAULT_PUSH_MS
        return max(MIN_PUSH_MS, ms) / 1000

    def configure(self, config: Any) -> None:
        self.config = dict(config) if isinstance(config, dict) else {}

    def start(self) -> None:
        self.running, self._first, self.pushes = True, True, 0
        self.due = time.monotonic()  # the ack goes out at once
        self._last_ticks = mach_ticks()

    def stop(self) -> None:
        self.running = False

    def push_due(self, push: Callable[[bytes], None], now: float | None = None) -> None:
        """Push one array of samples when it is time (and schedule the next)."""
        now = time.monotonic() if now is None else now
        if not self.running or now < self.due:
            return
        if self.pushes == 0:
            push(dtx.archive([]))  # the ack
            self._last_ticks = mach_ticks()  # the first sample covers (almost) nothing
        else:
            push(dtx.archive(self.samples()))
        self.pushes += 1
        self.due += self.push_s
        if self.due < now:  # the host stalled this thread: no burst to catch up
            self.due = now + self.push_s

    def samples(self) -> list[dict[str, Any]]:
        start, end = self._last_ticks, mach_ticks()
        self._last_ticks = end
        apps = self.apps()
        system: dict[str, Any] = {"Type": SYSTEM_TYPE, "StartMachAbsTime": start,
                                  "EndMachAbsTime": end}
        system_attributes = [str(a) for a in self.config.get("sysAttrs") or []]
        if system_attributes:
            system["System"] = [_SYSTEM_VALUES.get(a, 0) for a in system_attributes]
        if self.config.get("cpuUsage"):
            if self._first:  # no processor ticked since start: what the phone's first shows
                system.update(cpu_fields([0.0] * self.cpu_count, 0))
            else:
                system.update(cpu_fields(per_core_loads(self.cpu_count, len(apps), self._rng),
                                         self.cpu_count))
            system["Type"] |= CPU_TYPE
        rows = [system]
        process_attributes = [str(a) for a in self.config.get("procAttrs") or []]
        if process_attributes:
            rows.append({"Type": PROCESS_TYPE, "StartMachAbsTime": start, "EndMachAbsTime": end,
                         "Processes": self._processes(process_attributes, apps)})
        if self._first:
            if process_attributes:
                rows[0]["ProcessesAttributes"] = process_attributes
            if system_attributes:
                rows[0]["SystemAttributes"] = system_attributes
            self._first = False
        return rows

    def _processes(self, attributes: list[str],
                   apps: list[tuple[int, str]]) -> dict[int, list[Any]]:
        table = {}
        busy = {pid for pid, _ in apps}
        for pid, name, path in _SYSTEM_PROCESSES + [(pid, name, RUNNER_EXEC)
                                                    for pid, name in apps]:
            cpu = (BUSY_CORE_PCT if pid in busy else 0.5) if not self._first else 0.0
            known = {"pid": pid, "name": name, "comm": name[:16], "execName": path,
                     "ppid": 0 if pid <= 1 else 1, "pgid": pid, "uid": 0 if pid < 60 else 501,
                     "gid": 0 if pid < 60 else 501, "cpuUsage": cpu, "threadCount": 8,
                     "physFootprint": 40 * 2 ** 20, "memResidentSize": 80 * 2 ** 20,
                     "memVirtualSize": 400 * 2 ** 30, "memAnon": 30 * 2 ** 20,
                     "__arch": 16777228, "__sandbox": pid >= 60, "__restricted": pid < 60,
                     "__suddenTerm": False, "appSleep": False, "priority": 31}
            table[pid] = [known.get(a, 0) for a in attributes]
        return table


def device_info(selector: str, args: list[Any], cpu_count: int,
                apps: Callable[[], list[tuple[int, str]]]) -> tuple[bool, Any]:
    """(known, value) for a ``deviceinfo`` selector; (False, None) when it is not served."""
    if selector == "sysmonProcessAttributes":
        return True, list(PROCESS_ATTRIBUTES)
    if selector == "sysmonSystemAttributes":
        return True, list(SYSTEM_ATTRIBUTES)
    if selector == "hardwareInformation":  # tidevice's capture of an iPhone's answer, widened
        return True, {"numberOfPhysicalCpus": cpu_count, "numberOfCpus": cpu_count,
                      "hwCPUtype": 16777228, "hwCPUsubtype": 2, "hwCPU64BitCapable": 1,
                      "speedOfCpus": 0}
    if selector == "isRunningPid:":
        pid = int(args[0]) if args else -1
        return True, pid in {p for p, _, _ in _SYSTEM_PROCESSES} | {p for p, _ in apps()}
    if selector == "execnameForPid:":
        pid = int(args[0]) if args else -1
        names = {p: path for p, _, path in _SYSTEM_PROCESSES}
        names.update({p: RUNNER_EXEC for p, _ in apps()})
        return True, names.get(pid)
    return False, None
