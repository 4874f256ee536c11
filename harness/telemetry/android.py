"""The streaming sampler of an Android phone: one sh loop on its own adb stream per measurement.

    sampler = StreamingSampler(transport).start()   # probes (once), pushes the script (once)
    with sampler.window("idle") as idle:
        time.sleep(2)
    with sampler.window("timed") as timed:
        run_the_tool()
    sampler.stop()
    idle.samples, timed.samples, timed.lost        # lost: None, or why the stream died

The script (script.py) is pushed to /data/local/tmp/edgelab/ under a name made of its content,
so a phone gets it once. The stream is adbutils' ``shell(cmd, stream=True)`` connection, read
line by line on a thread and parsed by harness.parsers.sampler_stream. Closing the stream ends
the loop on the phone (its next write fails; the virtual phone cancels it at once), and where the
phone has toybox ``timeout`` the loop is also bounded by ``max_duration_s`` in case the host
vanishes. Nothing here raises into the measurement: a probe, push or stream that fails leaves
``lost`` with the reason, and windows return what was sampled until then.
"""
from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Protocol

from .. import parsers
from ..devices.adb_transport import Raw, compose
from ..devices.base import ExecResult
from ..devices.probe import CPUFREQ_GLOBS, THERMAL_GLOBS, SysfsReader
from ..parsers.sampler_stream import SamplerStream
from .sample import LoggedSampler, Sample, SampleLog
from .script import BATTERY_DIR, BATTERY_FILES, SamplerPlan, build_script, plan_from_probe, \
    script_path

ENERGY_GLOB = Raw("/sys/bus/iio/devices/iio:device*/energy_value")
HELPERS = Raw("sleep 0.01 2>/dev/null && echo sleep-fraction; "
              "timeout 5 true >/dev/null 2>&1 && echo timeout; true")
THERMAL_STATUS = Raw("dumpsys thermalservice 2>/dev/null | grep 'Thermal Status:'; true")


class Transport(Protocol):
    """What the sampler needs of a device (``harness.devices.adb_transport.AdbTransport``)."""
    serial: str
    address: tuple[str, int]

    def command(self, command: str, timeout: float | None = None) -> ExecResult: ...

    def shell(self, argv: list[str], timeout: float | None = None) -> ExecResult: ...

    def push_file(self, local: Path, remote: str) -> int: ...


def probe_plan(sh: Transport) -> SamplerPlan:
    """Ask the phone which files it has (five or six shell calls; cache the plan per device)."""
    sysfs = SysfsReader(sh)
    freq = parsers.parse("cpufreq", sysfs.read(CPUFREQ_GLOBS))
    thermal = parsers.parse("thermal", sysfs.read(THERMAL_GLOBS))
    battery = sysfs.read(tuple(Raw(f"{BATTERY_DIR}/{name}") for _, _, _, name in BATTERY_FILES))
    energy = [path for path in sysfs.paths((ENERGY_GLOB,))
              if "CH" in sh.shell(["cat", path]).stdout]  # readable and in the ODPM format
    status = sh.command(THERMAL_STATUS).stdout
    helpers = set(sh.command(HELPERS).stdout.split())
    return plan_from_probe(freq, thermal, battery, energy, status, helpers)


def adb_stream_opener(transport: Transport) -> Callable[[str], object]:
    """Open ``command`` on its own adb shell stream: adbutils' socket-like AdbConnection."""
    def open_stream(command: str):
        from ..devices.adb_transport import make_client

        device = make_client(transport.address).device(serial=transport.serial)
        return device.shell(command, stream=True)
    return open_stream


class StreamingSampler(LoggedSampler):
    """``interval_s`` is the sleep between samples; a sample also takes the time to read its
    files (a few ms on a phone), so the rate is a little under ``1 / interval_s``. The default
    aims at 20 Hz or more. ``stall_s``: no line for that long means the stream is dead."""

    def __init__(self, transport: Transport, plan: SamplerPlan | None = None,
                 interval_s: float = 0.04, thermal_every: int = 20,
                 max_duration_s: int = 3600, stall_s: float | None = None,
                 opener: Callable[[str], object] | None = None):
        self.transport, self.plan = transport, plan
        self.interval_s, self.thermal_every = interval_s, thermal_every
        self.max_duration_s = max_duration_s
        # a phone busy with a benchmark can be late, not seconds late: then the stream is dead
        self.stall_s = stall_s if stall_s is not None else max(5.0, 40 * interval_s)
        self.opener = opener or adb_stream_opener(transport)
        self.log = SampleLog(f"android:{transport.serial}", settle_s=max(1.0, 10 * interval_s))
        self._conn = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.last_ignored: str | None = None  # the last line the parser did not know
        self.cpu_s = 0.0  # host CPU time the reading thread used (what streaming costs the host)

    # -- public -----------------------------------------------------------------------------
    def start(self) -> "StreamingSampler":
        try:
            self.plan = self.plan or probe_plan(self.transport)
            command = self._install()
            self._conn = self.opener(command)
        except Exception as exc:  # whatever adb or the phone did: telemetry is lost, not the run
            self.log.mark_lost(f"sampler did not start: {type(exc).__name__}: {exc}")
            return self
        self._thread = threading.Thread(target=self._read_loop, name="edgelab-android-sampler",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._conn is not None:
            try:
                self._conn.close()  # the phone's loop dies with its stream
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "StreamingSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- setup ------------------------------------------------------------------------------
    def _install(self) -> str:
        """Push the script unless the phone has it; the command line that runs it."""
        script = build_script(self.plan, self.interval_s, self.thermal_every)
        remote = script_path(script)
        if self.transport.shell(["test", "-f", remote]).rc != 0:
            with tempfile.TemporaryDirectory(prefix="edgelab-sampler-") as tmp:
                local = Path(tmp, remote.rsplit("/", 1)[-1])
                local.write_text(script)
                self.transport.push_file(local, remote)
        bound = [["timeout", str(int(self.max_duration_s))]] if self.plan.timeout else []
        return compose(*bound, ["sh", remote])

    # -- the stream -------------------------------------------------------------------------
    def _read_loop(self) -> None:
        parser, buffer, cpu_start = SamplerStream(), b"", time.thread_time()
        try:
            sock = self._conn.conn
            sock.settimeout(self.stall_s)
            while not self._stopping.is_set():
                chunk = sock.recv(65536)
                if not chunk:
                    raise EOFError("the phone closed the sampler stream")
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                self._take(parser, lines, time.monotonic())
                self.cpu_s = time.thread_time() - cpu_start
        except socket.timeout:
            self._lose(f"no sample for {self.stall_s:g} s: the sampler stream stalled")
        except Exception as exc:  # EOF, reset, adb errors: the stream is gone
            self._lose(f"{type(exc).__name__}: {exc}")

    def _take(self, parser: SamplerStream, lines: list[bytes], arrived: float) -> None:
        for raw in lines:
            line = raw.decode(errors="replace")
            before = parser.ignored_lines
            parsed = parser.feed(line)
            if parser.ignored_lines != before:
                self.last_ignored = line.strip()[:200]
            if parsed is not None:
                self.log.add(Sample.from_parsed(parsed, arrived))

    def _lose(self, reason: str) -> None:
        if self._stopping.is_set():
            return  # we closed it ourselves
        if self.last_ignored:
            reason += f" (last unparsed line: {self.last_ignored!r})"
        self.log.mark_lost(f"sampler stream lost after {len(self.log.samples())} samples: {reason}")
