"""System-wide CPU load of an iPhone, streamed from Instruments' sysmontap.

The developer services' DTX channel ``com.apple.instruments.server.services.sysmontap``, read
with pymobiledevice3's own client: ``DvtProvider`` over lockdown before iOS 17, through the
RemoteXPC tunnel (``tunneld``) from iOS 17 (ios_process._provider_source), ``Sysmontap.create``
(which asks ``deviceinfo`` for the attribute names first), then the tap pushes an array of
samples every interval. ``SysmonStream`` runs that on its own event loop in a daemon thread and
hands each system sample's CPU load to a callback, stamped with the host's monotonic clock when
it arrived; when the stream ends early, ``lost`` says why in one sentence with the fix.

What a sample means (``system_cpu``): the phone's ``SystemCPUUsage.CPU_TotalLoad`` is the SUM of
its processors' loads (each 0..100), so 0..600 on a 6-core iPhone: the Instruments server adds
them up (``DTSysmonTapLocalDelegate._addCPUUsageToSample``), and public captures agree (py-ios-
device's README: per-core 11.88 and 17.0, total 28.88 on 2 cores; tidevice: 13 + 31 = 44).
``cpu_pct`` divides it by ``CPUCount`` (all processors, which the sum runs over): % of all
cores, the meaning of ``Sample.cpu_pct`` on every device kind. The phone reports user and system
load as -1 (not measured): only the total is used. The first system sample after ``start``
covers almost no time ("100 or 0", pymobiledevice3's ``sysmon system`` skips it too): dropped.

Verified against the virtual iPhone (harness/virtual/ios/instruments.py + sysmon.py: a
DTX server sending the payload shape above) with the real pymobiledevice3 client, iOS 13 and
iOS 16 profiles: the load rises while the virtual runner runs, a phone without the developer
disk image ends the stream with the fix instead of hanging. NOT RUN ON A REAL iPHONE: the
sample cadence, the first samples and the iOS 17+ tunnel path are unchecked on hardware.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0   # lockdown, the developer services, the tap's first message
SILENCE_MIN_S = 10.0       # the tap sends nothing for this long (or 20 intervals): lost
STOP_JOIN_S = 5.0
SKIP_FIRST = 1             # system samples dropped after start (the first covers ~no ticks)
SOURCE = "sysmontap"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 1 else None


def system_cpu(row: Any, cpu_count: int | None = None) -> dict[str, Any] | None:
    """One decoded sysmontap row -> the CPU reading, or None when the row is not a system CPU
    sample (a process row, a memo) or says nothing usable (no CPU_TotalLoad, no processor
    count, a negative "not measured" load, or no processor ticked: ``EnabledCPUs`` 0).

    ``cpu_count`` is used only when the row names no count. Keys: ``cpu_pct`` (0..100, % of
    all cores), ``cpu_total_load`` (the phone's sum, 0..100 x cores), ``cpu_count``,
    ``cpu_count_from`` (the row key it came from, or "given"), ``cpu_enabled`` and
    ``cpu_per_core_pct`` (processor order) when the row has them, ``source``.
    """
    if not isinstance(row, dict):
        return None
    usage = row.get("SystemCPUUsage")
    if not isinstance(usage, dict):
        return None
    total = _number(usage.get("CPU_TotalLoad"))
    if total is None or total < 0:
        return None
    per_core_raw = row.get("PerCPUUsage")
    per_core = None
    if isinstance(per_core_raw, list):
        loads = [_number(c.get("CPU_TotalLoad")) if isinstance(c, dict) else None
                 for c in per_core_raw]
        if loads and all(v is not None for v in loads):
            per_core = [round(v, 3) for v in reversed(loads)]  # the phone lists them last-first
    count, origin = None, None
    for key, value in (("CPUCount", row.get("CPUCount")), ("EnabledCPUs", row.get("EnabledCPUs")),
                       ("PerCPUUsage", len(per_core) if per_core else None),
                       ("given", cpu_count)):
        count = _count(value)
        if count is not None:
            origin = key
            break
    if count is None:
        return None
    enabled = _number(row.get("EnabledCPUs"))
    if enabled is not None and enabled <= 0:
        return None  # no processor ticked since the last sample: a sample of nothing
    reading: dict[str, Any] = {
        "cpu_pct": round(min(100.0, total / count), 3),
        "cpu_total_load": total, "cpu_count": count, "cpu_count_from": origin,
    }
    if enabled is not None:
        reading["cpu_enabled"] = int(enabled)
    if per_core is not None:
        reading["cpu_per_core_pct"] = per_core
    reading["source"] = SOURCE
    return reading


def lost_reason(exc: BaseException, stage: str, major: int | None = None) -> str:
    """Why a stream ended early, in one sentence naming the fix (pymobiledevice3's exceptions
    are told apart by class name: this module does not import pymobiledevice3 eagerly)."""
    from . import ios_states

    name = type(exc).__name__
    text = f"{name}: {exc}" if str(exc) else name
    if type(exc) in (TimeoutError, asyncio.TimeoutError):
        return (f"the iPhone did not answer ({stage}) within {CONNECT_TIMEOUT_S:g} s; fix: "
                f"{ios_states.fix_for(ios_states.NOT_ANSWERING)}")
    if name in ("InvalidServiceError", "StartServiceError"):
        mode = (" (or Developer Mode is off: "
                f"{ios_states.fix_for(ios_states.DEVELOPER_MODE_OFF)})"
                if major is not None and major >= 16 else "")
        return (f"lockdownd would not start the developer services ({text}): the developer disk "
                f"image is not mounted{mode}; fix: "
                f"{ios_states.fix_for(ios_states.DDI_NOT_MOUNTED)}")
    if name == "PasswordRequiredError":
        return f"the iPhone is locked ({name}); fix: {ios_states.fix_for(ios_states.LOCKED)}"
    if name in ("NotPairedError", "InvalidHostIDError", "PairingError", "NotTrustedError"):
        return (f"the iPhone does not trust this computer ({text}); fix: "
                f"{ios_states.fix_for(ios_states.NOT_PAIRED)}")
    if name == "TunneldConnectionError" or "tunneld" in str(getattr(exc, "fix", "") or ""):
        return (f"no RemoteXPC tunnel to the iPhone ({text}); fix: "
                f"{ios_states.fix_for(ios_states.TUNNEL_NOT_RUNNING)}")
    if name in ("DeviceNotFoundError", "ConnectionFailedError", "ConnectionFailedToUsbmuxdError",
                "NoDeviceConnectedError", "BadDevError"):
        return (f"the iPhone is not reachable over usbmux ({text}); fix: "
                f"{ios_states.fix_for(ios_states.NOT_ANSWERING)}")
    if name in ("DTXNsError", "UnrecognizedSelectorError", "DTXProtocolError"):
        return (f"the developer services refused sysmontap ({stage}: {text}); fix: unlock the "
                f"iPhone and replug it; if it stays, reboot it")
    if name in ("ConnectionTerminatedError", "StreamClosedError", "QueueShutDown",
                "IncompleteReadError", "ConnectionResetError", "BrokenPipeError", "EOFError",
                "ConnectionAbortedError") or isinstance(exc, OSError):
        return (f"the connection to the iPhone broke ({stage}: {text}); fix: "
                f"{ios_states.fix_for(ios_states.NOT_ANSWERING)}")
    return f"sysmontap failed ({stage}: {text})"


class SysmonStream:
    """System CPU load from an iPhone's sysmontap, pushed to ``on_sample(host_monotonic_s,
    reading)`` (``system_cpu``'s dict) from the stream's own thread, about every
    ``interval_s``. ``start()`` returns at once; ``stop()`` ends it (idempotent, joins within
    ~5 s). ``lost`` is None while it runs and after a requested stop, else why it ended."""

    def __init__(self, udid: str, address: str | None, major: int | None, interval_s: float,
                 on_sample: Callable[[float, dict[str, Any]], None]):
        self.udid = udid
        self.address = address
        self.major = major
        self.interval_s = max(0.001, float(interval_s))
        self.on_sample = on_sample
        self.lost: str | None = None
        self.samples = 0            # readings handed to on_sample
        self.stage = "not started"  # where the stream is (the lost reason names it)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "SysmonStream":
        if self._thread is None:
            self._thread = threading.Thread(target=self._target, daemon=True,
                                            name=f"edgelab-sysmontap-{self.udid[:8]}")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop already closed: the stream ended by itself
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_JOIN_S)

    def _target(self) -> None:
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass  # stop()
        except BaseException as exc:  # never an unhandled exception in a thread
            if not self._stopping.is_set():
                self.lost = self.lost or lost_reason(exc, self.stage, self.major)

    async def _main(self) -> None:
        with self._lock:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stopping.is_set():
            return
        try:
            await self._stream()
            if not self._stopping.is_set():  # the tap stopped by itself
                self.lost = self.lost or (f"sysmontap ended ({self.stage}); fix: "
                                          f"replug the iPhone and unlock it")
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                self.lost = self.lost or f"sysmontap was cancelled ({self.stage})"
        except Exception as exc:
            if not self._stopping.is_set():
                self.lost = lost_reason(exc, self.stage, self.major)
                log.debug("sysmontap of %s ended: %s", self.udid, self.lost, exc_info=exc)

    async def _stream(self) -> None:
        from pymobiledevice3.lockdown import create_using_usbmux
        from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
        from pymobiledevice3.services.dvt.instruments.sysmontap import Sysmontap

        from .ios_process import _provider_source

        self.stage = "lockdown over usbmux"
        lockdown = await asyncio.wait_for(create_using_usbmux(
            self.udid, autopair=False, usbmux_address=self.address), CONNECT_TIMEOUT_S)
        source = provider = sysmon = None
        try:
            self.stage = "the developer services"
            source = await asyncio.wait_for(_provider_source(self.udid, lockdown, self.major),
                                            CONNECT_TIMEOUT_S)
            provider = DvtProvider(source)
            await asyncio.wait_for(provider.connect(), CONNECT_TIMEOUT_S)
            self.stage = "opening sysmontap"
            interval_ms = max(1, round(self.interval_s * 1000))
            sysmon = await asyncio.wait_for(Sysmontap.create(provider, interval=interval_ms),
                                            CONNECT_TIMEOUT_S)
            await asyncio.wait_for(sysmon.__aenter__(), CONNECT_TIMEOUT_S)  # config, start, ack
            self.stage = "streaming"
            await self._receive(sysmon)
        finally:
            await self._close(sysmon, provider, source, lockdown)

    async def _receive(self, sysmon) -> None:
        silence_s = max(SILENCE_MIN_S, 20 * self.interval_s)
        skip = SKIP_FIRST
        while True:
            try:
                rows = await asyncio.wait_for(sysmon.channel.receive_plist(), silence_s)
            except asyncio.TimeoutError:
                self.lost = (f"sysmontap sent nothing for {silence_s:g} s (the phone stopped "
                             f"sampling or the connection stalled); fix: "
                             f"replug the iPhone and unlock it")
                return
            received = time.monotonic()
            for row in rows if isinstance(rows, list) else []:
                if not isinstance(row, dict) or "SystemCPUUsage" not in row:
                    continue
                if skip > 0:
                    skip -= 1
                    continue
                reading = system_cpu(row)
                if reading is None:
                    continue
                try:
                    self.on_sample(received, reading)
                except Exception as exc:  # the consumer's bug: said, not swallowed
                    self.lost = f"on_sample raised {type(exc).__name__}: {exc}"
                    return
                self.samples += 1

    @staticmethod
    async def _close(sysmon, provider, source, lockdown) -> None:
        """Stop the tap and close what was opened, each step bounded: a phone that went away
        must not hold stop() past its join."""
        async def quietly(coro) -> None:
            try:
                await asyncio.wait_for(coro, 2.0)
            except BaseException:  # closing what broke: nothing more to say
                pass

        if sysmon is not None:
            await quietly(sysmon.__aexit__(None, None, None))  # ``stop`` on the channel
        if provider is not None:
            await quietly(provider.close())
        if source is not None and source is not lockdown and hasattr(source, "close"):
            await quietly(source.close())
        await quietly(lockdown.close())
