"""The iPhone sampler: the battery over one diagnostics_relay session, CPU load over sysmontap.

Same shape as the host's and the phone's (``window(name)`` -> ``Window`` of ``Sample``s;
``lost``), on the host's monotonic clock: an iPhone's IORegistry gives no timestamp, so each
reading is placed at the middle of its request's round trip.

- battery (every ``interval_s``, default 0.5 s): ``IORegistry`` of class IOPMPowerSource
  (AppleSmartBattery) over one diagnostics_relay session kept open for the sampler's life (a
  session per reading would cost a lockdown handshake each), mapped by parsers/ios_battery.py
  onto the fields Android samples carry: ``current_raw`` (InstantAmperage, mA, negative while
  discharging), ``voltage_raw`` (mV), ``temp_c``, ``status``; the battery temperature is also
  the sample's one temperature zone, ``battery`` (an iPhone tells a host no SoC temperature);
- CPU: system-wide load from Instruments' sysmontap (devices/ios_sysmontap.py) as ``cpu_pct``
  (% of all cores), where the developer services answer; without them the battery still counts
  and ``notes`` says why there is no CPU series.

Thermal state is not sampled here: the runner app reads ProcessInfo.thermalState around its
timed loop (engines/coreml_ios.py). Checked against the virtual iPhone with the real
pymobiledevice3 client only: NOT RUN ON A REAL iPHONE (how often a real AppleSmartBattery
refreshes InstantAmperage is not known here; the record's window summary says how many readings
fell in the loop).
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from ..devices import ios_states
from .sample import LoggedSampler, Sample, SampleLog

START_TIMEOUT_S = 10.0     # the first battery reading, or the sampler does not start
READ_TIMEOUT_S = 5.0       # one IORegistry request; longer is a phone that stopped answering


class IOSSampler(LoggedSampler):
    def __init__(self, udid: str, address: str | None, major: int | None,
                 interval_s: float = 0.5, cpu_stream=None):
        self.udid, self.address, self.major = udid, address, major
        self.interval_s = interval_s
        # a window's end waits for the reading after it: one interval and one round trip
        self.log = SampleLog(f"ios:{udid}", settle_s=interval_s + 1.0)
        self.battery_unavailable: str | None = "no battery reading yet"
        self._cpu_stream = cpu_stream  # factory: tests may hand in None to sample the battery only
        self._cpu = None
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_device(cls, device) -> "IOSSampler":
        return cls(device.info.serial, device.info.details.get("usbmux_address"),
                   ios_states.major_version(device.info.details.get("product_version")),
                   cpu_stream=_sysmon_stream)

    @property
    def notes(self) -> tuple[str, ...]:
        cpu = self._cpu
        if cpu is None:
            return ("CPU load: not sampled (no sysmontap stream)",)
        if cpu.lost:
            return (f"CPU load: sysmontap stopped: {cpu.lost}",)
        return ()

    def start(self) -> "IOSSampler":
        """Start reading; returns once the first battery reading arrived, raises RuntimeError
        with the phone's answer when it did not (a locked phone, a refused service)."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._battery_loop()),
                                        name=f"edgelab-ios-sampler-{self.udid[:8]}", daemon=True)
        self._thread.start()
        if not self._first.wait(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"no battery reading from iPhone {self.udid} within "
                               f"{START_TIMEOUT_S:g} s")
        if self.log.lost and not self.log.samples():
            self.stop()
            raise RuntimeError(self.log.lost)
        if self._cpu_stream is not None:
            try:
                self._cpu = self._cpu_stream(self.udid, self.address, self.major,
                                             self.interval_s, self._on_cpu).start()
            except Exception as exc:  # CPU load is a bonus: the battery still counts
                self._cpu = _Failed(f"{type(exc).__name__}: {exc}")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._cpu is not None and not isinstance(self._cpu, _Failed):
            self._cpu.stop()  # kept: its ``lost`` still tells the notes what happened
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _on_cpu(self, host_s: float, reading: dict[str, Any]) -> None:
        pct = reading.get("cpu_pct")
        if isinstance(pct, (int, float)):
            self.log.add(Sample(t_s=host_s, host_s=host_s, cpu_pct=float(pct)))

    async def _battery_loop(self) -> None:
        from pymobiledevice3.lockdown import create_using_usbmux
        from pymobiledevice3.services.diagnostics import DiagnosticsService

        lockdown = None
        try:
            lockdown = await asyncio.wait_for(create_using_usbmux(
                self.udid, autopair=False, usbmux_address=self.address), READ_TIMEOUT_S)
            async with DiagnosticsService(lockdown) as diagnostics:
                while not self._stop.is_set():
                    asked = time.monotonic()
                    entry = await asyncio.wait_for(diagnostics.get_battery(), READ_TIMEOUT_S)
                    answered = time.monotonic()
                    sample = battery_sample(entry, (asked + answered) / 2, answered)
                    if sample is not None:
                        self.log.add(sample)
                        self.battery_unavailable = None
                    else:
                        self.battery_unavailable = ("the IORegistry battery entry has no "
                                                    "InstantAmperage and Voltage")
                    self._first.set()
                    await self._pause(self.interval_s - (time.monotonic() - asked))
        except Exception as exc:  # whatever it was, the measurement goes on without it
            reason = _reason(exc)
            self.battery_unavailable = self.battery_unavailable or reason
            self.log.mark_lost(f"iPhone battery readings stopped: {reason}")
        finally:
            self._first.set()
            if lockdown is not None:
                try:
                    await lockdown.close()
                except Exception:
                    pass

    async def _pause(self, seconds: float) -> None:
        until = time.monotonic() + max(0.0, seconds)
        while not self._stop.is_set() and time.monotonic() < until:
            await asyncio.sleep(min(0.05, max(0.0, until - time.monotonic())))


def _sysmon_stream(*args, **kwargs):
    from ..devices.ios_sysmontap import SysmonStream

    return SysmonStream(*args, **kwargs)


class _Failed:
    """A CPU stream that could not start or stopped: only its reason is kept."""

    def __init__(self, lost: str):
        self.lost = lost


def battery_sample(entry: dict[str, Any] | None, t_s: float, host_s: float) -> Sample | None:
    """One IORegistry battery entry as a Sample; None without both current and voltage."""
    from ..parsers import ios_battery

    fields = ios_battery.sample_fields(entry)
    if fields["current_raw"] is None or fields["voltage_raw"] is None:
        return None
    temps = {"battery": fields["temp_c"]} if fields["temp_c"] is not None else {}
    return Sample(t_s=t_s, host_s=host_s, temp_c=temps, battery=fields)


def _reason(exc: BaseException) -> str:
    """What went wrong, with the person's fix where one is known (a phone locked or unpaired
    since discovery, a service refused)."""
    from ..devices.ios import fix_for_error

    name = type(exc).__name__
    fix = fix_for_error(name)
    text = f"{name}: {str(exc).rstrip('.')}" if str(exc) else name
    return f"{text}; {fix}" if fix else text
