"""Samples and windows: the shape both samplers (android.py, host.py) hand to the computations.

A sampler appends ``Sample``s as they come; ``window(name)`` marks a stretch of the measurement
(the idle window before a run, the timed window) on the host clock, and on exit gives the samples
inside it, placed by the device clock. The device clock maps to the host's through the offset
seen with the least delay (``min(host_s - t_s)``: a sample cannot arrive before it was taken, so
the smallest difference is the closest to the true offset). A sampler that died says why in
``lost`` and keeps what it had; a window never raises into the measurement.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass(frozen=True)
class Sample:
    t_s: float                            # device clock: phone /proc/uptime, host monotonic
    host_s: float                         # host time.monotonic() when the sample arrived
    freq_khz: dict[str, int] = field(default_factory=dict)     # cluster/cpu -> current kHz
    temp_c: dict[str, float] = field(default_factory=dict)     # zone name -> degC
    battery: dict[str, Any] | None = None  # current_raw, voltage_raw, temp_c, status (as read)
    energy_uj: dict[str, float] = field(default_factory=dict)  # cumulative counters, uJ
    thermal_status: int | None = None     # 0 NONE .. 6 SHUTDOWN, when read in this sample
    cpu_pct: float | None = None          # host only: CPU busy, % of all cores

    @classmethod
    def from_parsed(cls, parsed: dict, host_s: float) -> "Sample":
        """From one sample of harness.parsers.sampler_stream."""
        return cls(t_s=parsed["t_s"], host_s=host_s, freq_khz=parsed["freq_khz"],
                   temp_c=parsed["temp_c"], battery=parsed["battery"],
                   energy_uj=parsed["energy_uj"], thermal_status=parsed["thermal_status"])


@dataclass
class Window:
    name: str
    host_start_s: float
    host_end_s: float | None = None
    device_start_s: float | None = None
    device_end_s: float | None = None
    samples: list[Sample] = field(default_factory=list)
    lost: str | None = None               # why the sampler stopped early, if it did
    source: str = ""                      # "host" or "android:<serial>"
    energy_range_uj: dict[str, float] = field(default_factory=dict)  # counter wrap-around points

    @property
    def duration_s(self) -> float | None:
        if self.host_end_s is None:
            return None
        return self.host_end_s - self.host_start_s

    @property
    def rate_hz(self) -> float | None:
        if len(self.samples) < 2:
            return None
        span = self.samples[-1].t_s - self.samples[0].t_s
        return (len(self.samples) - 1) / span if span > 0 else None

    def summary(self) -> dict[str, Any]:
        """What a record keeps about the window itself (no samples)."""
        rate = self.rate_hz
        return {"name": self.name, "source": self.source, "duration_s": _round(self.duration_s),
                "samples": len(self.samples), "rate_hz": _round(rate), "lost": self.lost}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


class SampleLog:
    """Thread-safe sample list with window marks; one per sampler."""

    def __init__(self, source: str, settle_s: float):
        self.source = source
        self.settle_s = settle_s          # how long a window's end waits for its last sample
        self.lost: str | None = None
        self._lost_at: float | None = None
        self._samples: list[Sample] = []
        self._offset_s: float | None = None
        self._cond = threading.Condition()
        self.energy_range_uj: dict[str, float] = {}

    def add(self, sample: Sample) -> None:
        with self._cond:
            self._samples.append(sample)
            offset = sample.host_s - sample.t_s
            if self._offset_s is None or offset < self._offset_s:
                self._offset_s = offset
            self._cond.notify_all()

    def mark_lost(self, reason: str) -> None:
        with self._cond:
            if self.lost is None:
                self.lost, self._lost_at = reason, time.monotonic()
            self._cond.notify_all()

    def samples(self) -> list[Sample]:
        with self._cond:
            return list(self._samples)

    def to_host(self, device_s: float) -> float | None:
        with self._cond:
            return None if self._offset_s is None else device_s + self._offset_s

    def to_device(self, host_s: float) -> float | None:
        with self._cond:
            return None if self._offset_s is None else host_s - self._offset_s

    @contextmanager
    def window(self, name: str) -> Iterator[Window]:
        window = Window(name, time.monotonic(), source=self.source)
        try:
            yield window
        finally:
            self.close(window)

    def span(self, name: str, host_start_s: float, host_end_s: float) -> Window:
        """A window marked after the fact (a child process timed its loop on the same
        monotonic clock; a phone tool printed how long its loop took): closed at once."""
        window = Window(name, host_start_s, source=self.source)
        self.close(window, host_end_s)
        return window

    def forget_before(self, host_s: float) -> None:
        """Drop samples that arrived before ``host_s`` (a sampler kept open across a device's
        cells would otherwise grow by ~90,000 samples an hour); the clock offset is re-learnt
        from the samples kept, so a slow drift between the two clocks does not accumulate."""
        with self._cond:
            self._samples = [s for s in self._samples if s.host_s >= host_s]
            if self._samples:
                self._offset_s = min(s.host_s - s.t_s for s in self._samples)

    def close(self, window: Window, host_end_s: float | None = None) -> None:
        window.host_end_s = time.monotonic() if host_end_s is None else host_end_s
        self._wait_past(window.host_end_s)
        with self._cond:
            window.device_start_s = self.to_device(window.host_start_s)
            window.device_end_s = self.to_device(window.host_end_s)
            if window.device_start_s is not None:
                window.samples = [s for s in self._samples
                                  if window.device_start_s <= s.t_s <= window.device_end_s]
            if self.lost is not None and self._lost_at <= window.host_end_s + self.settle_s:
                window.lost = self.lost
            window.energy_range_uj = dict(self.energy_range_uj)

    def _wait_past(self, host_end_s: float) -> None:
        """Let the samples taken before the window's end arrive (they travel through adb)."""
        deadline = time.monotonic() + self.settle_s
        with self._cond:
            while self.lost is None:
                end = self.to_device(host_end_s)
                if end is not None and self._samples and self._samples[-1].t_s >= end:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)


class LoggedSampler:
    """What both samplers (phone stream, host thread) expose from their ``SampleLog``: a caller
    marks windows and reads samples the same way whichever device it measures."""
    log: SampleLog

    @property
    def lost(self) -> str | None:
        return self.log.lost

    def samples(self) -> list[Sample]:
        return self.log.samples()

    def window(self, name: str):
        return self.log.window(name)
