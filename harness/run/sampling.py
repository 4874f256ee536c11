"""Telemetry around every measurement: one sampler per device, an idle window, the timed window.

For each latency cell the runner (measure.py) opens ``DeviceSamplers.cell(device_id, device)``
around the engine run:

1. the device's sampler, started at its first cell and kept open across its cells (a phone's
   probe, script push and stream cost ~6 adb calls; a host's is a thread), restarted when its
   stream died or its loop nears its time bound (``max_duration_s``, 1 h), and stopped by ``stop(device_id)`` when the device's cells end and at session end
   (``pytest_sessionfinish``, which also runs after Ctrl-C and SIGTERM: run/signals.py);
2. an idle window of ``idle_window_s`` (``[tool.edgelab] idle_window_s``,
   ``--edgelab-idle-window``; default 1 s per cell, 0 disables) just before the engine runs, taken
   only when the device has a power reading to subtract (battery or ODPM on phones, RAPL on hosts);
3. the run window around the engine run, and inside it the timed window that energy per inference
   divides among N inferences (``timed_window``):

   - host: the child process times only its invoke loop and reports the loop's start and end on
     ``time.monotonic()`` (CLOCK_MONOTONIC, system-wide: the host sampler's clock), so the timed
     window is that loop exactly; N = the invokes it timed;
   - iPhone: the runner app writes its timed loop's start and end on the phone's wall clock;
     they are placed on the host's monotonic clock through lockdown's TimeIntervalSince1970 read
     at launch (devices/ios_run.py: within half that read's round trip); N = the iterations it
     timed. Without those marks: the last sum-of-latencies before the results were seen;
   - phone: the official tools run load, warm-up and the timed iterations in one process and
     print a summary, so the window is marked from that summary: the last n x mean of the tool's
     life (the tools print right after their timed loop and exit), with n and mean as the tool
     printed them; N = n. Its end is the phone's own clock: the uptime at which the watcher that
     reads the tool's VmHWM (devices/toolmem.py) last saw it alive, within 0.2 s of its exit;
     without that reading, when the tool returned to the host (later by the watcher's last poll
     and the adb round trip, so the phone's idle tail would count as loop). Load and warm-up
     stay outside. Counting warm-up + iterations over the whole process instead would charge
     the model load to the inferences.

Compat cells (3 iterations, "does it run at all") are not sampled. Nothing here raises into the
measurement: a sampler that cannot start, dies, or a summary that fails leaves the record ok with
``conditions.telemetry_lost`` saying why.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from ..telemetry import HostSampler, StreamingSampler, summarize
from ..telemetry.sample import Window
from ..telemetry.summary import temps_summary
from ..telemetry.throttle import detect_throttle

PHONE_KINDS = ("android", "virtual-android")
HOST_WINDOW = ("the child's timed invoke loop, marked by the child on CLOCK_MONOTONIC (the host "
               "sampler's clock); N = the invokes it timed")
PHONE_WINDOW = ("the last n x mean of the tool's run, ending when the phone last saw the tool "
                "alive (its uptime at the VmHWM watcher's last reading, within 0.2 s of the "
                "exit; the tools print their summary right after the timed loop): n and mean "
                "as the tool printed them, so load and warm-up are outside; N = n")
PHONE_WINDOW_HOST = ("the last n x mean of the tool's run, ending when the tool returned to the "
                     "host (no reading of the phone's clock at its end): n and mean as the tool "
                     "printed them, so load and warm-up are outside; N = n")
IOS_WINDOW = ("the runner's timed loop, marked by the app on the iPhone's wall clock and placed "
              "on the host's monotonic clock through lockdown's TimeIntervalSince1970 read at "
              "launch; N = the iterations it timed")
IOS_WINDOW_SEEN = ("the last sum-of-latencies before the host saw the runner's results (no loop "
                   "marks from the runner): the loop's end is known within the last poll "
                   "interval; N = the iterations it timed")
PINNED = {"performance": 1, "powersave": 0}  # governor -> which end of [min, max] it holds
# a phone's loop ends by itself after max_duration_s (toybox timeout, in case the host vanishes):
# a sampler that old is renewed between cells rather than dying inside one
RENEW_BEFORE_S = 600.0


class DeviceSamplers:
    """One sampler per device for the session (per xdist worker: a device's cells share one)."""

    def __init__(self, idle_window_s: float = 1.0, host_sampler=HostSampler,
                 phone_sampler=StreamingSampler, ios_sampler=None):
        self.idle_window_s = idle_window_s
        # factories: tests hand in samplers on a fake sysfs tree or a fake stream
        self.host_sampler, self.phone_sampler = host_sampler, phone_sampler
        self.ios_sampler = ios_sampler or _ios_sampler
        self._samplers: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._plans: dict[str, Any] = {}  # a phone's SamplerPlan: probed once per run

    @contextlib.contextmanager
    def cell(self, device_id: str, device) -> Iterator["CellSampling"]:
        """Idle window, then the run window around the ``with`` body."""
        sampling = CellSampling(device.info.kind)
        try:
            sampler = sampling.sampler = self._sampler(device_id, device)
        except Exception as exc:  # whatever it was, telemetry is lost, not the measurement
            sampler, sampling.lost = None, f"sampler did not start: {type(exc).__name__}: {exc}"
        if sampler is None:
            sampling.lost = sampling.lost or (
                "not sampled: the device stopped answering earlier in this run"
                if device.info.kind in PHONE_KINDS else f"no sampler for a {device.info.kind} device")
            yield sampling
            return
        sampler.log.forget_before(time.monotonic() - 1.0)  # earlier cells' samples
        if self.idle_window_s > 0 and has_power(sampler):
            with sampler.window("idle") as sampling.idle:
                time.sleep(self.idle_window_s)
        with sampler.window("run") as sampling.run:
            yield sampling

    def stop(self, device_id: str | None = None) -> None:
        """Stop the device's sampler (its cells ended), or every one (session end)."""
        for held in [device_id] if device_id is not None else list(self._samplers):
            sampler = self._samplers.pop(held, None)
            if sampler is not None:
                with contextlib.suppress(Exception):
                    sampler.stop()

    def _sampler(self, device_id: str, device):
        sampler = self._samplers.get(device_id)
        bound = getattr(sampler, "max_duration_s", None)
        old = bound is not None and time.monotonic() - self._started[device_id] > bound - RENEW_BEFORE_S
        if sampler is not None and sampler.lost is None and not old:
            return sampler
        if sampler is not None:  # its stream died, or its loop is near its time bound: anew
            self.stop(device_id)
        if device.info.kind == "host":
            sampler = self.host_sampler().start()
        elif device.info.kind in PHONE_KINDS and not _hung(device):
            sampler = self.phone_sampler(device.transport, plan=self._plans.get(device_id)).start()
            if sampler.plan is not None:
                self._plans[device_id] = sampler.plan
        elif device.info.kind == "ios":
            sampler = self.ios_sampler(device).start()
        else:
            return None
        self._samplers[device_id] = sampler
        self._started[device_id] = time.monotonic()
        return sampler


def _ios_sampler(device):
    from ..telemetry.ios import IOSSampler  # pymobiledevice3 is loaded only for iPhones

    return IOSSampler.for_device(device)


def _hung(device) -> bool:
    """A phone that already timed out is asked nothing more (devices/hang.py)."""
    guard = getattr(device.transport, "guard", None)
    return getattr(guard, "hang", None) is not None


def has_power(sampler) -> bool:
    """Whether the sampler reads something an idle window could be subtracted from."""
    if isinstance(sampler, HostSampler):
        return sampler.rapl_unavailable is None
    if hasattr(sampler, "battery_unavailable"):  # an iPhone's (telemetry/ios.py)
        return sampler.battery_unavailable is None
    plan = getattr(sampler, "plan", None)
    return plan is not None and (bool(plan.energy_files) or
                                 {"current_now", "voltage_now"} <= set(plan.battery_files))


class CellSampling:
    """The windows of one cell; ``record_fields`` turns them into what its record keeps."""

    def __init__(self, kind: str):
        self.kind = kind
        self.sampler = None
        self.idle: Window | None = None
        self.run: Window | None = None
        self.lost: str | None = None

    def record_fields(self, raw, held: dict[str, Any] | None) -> dict[str, Any]:
        """{"power", "conditions", "extra"} for the record; never raises."""
        if self.lost is not None or self.run is None:
            lost = self.lost or "no run window"
            return {"power": {"source": None, "unavailable": f"telemetry lost: {lost}"},
                    "conditions": {"telemetry_lost": lost}, "extra": {}}
        try:
            return self._fields(raw, held or {})
        except Exception as exc:  # a bug here must not cost the latency record
            lost = f"telemetry summary failed: {type(exc).__name__}: {exc}"
            return {"power": {"source": None, "unavailable": f"telemetry lost: {lost}"},
                    "conditions": {"telemetry_lost": lost}, "extra": {}}

    def _fields(self, raw, held: dict[str, Any]) -> dict[str, Any]:
        log = self.sampler.log
        timed, inferences, how = timed_window(log, self.run, raw, self.kind)
        marks = raw.extra.get("tool_run_monotonic_s")
        traced = log.span("run", *marks) if _pair(marks) else self.run
        lag = None
        if self.kind in PHONE_KINDS:
            started, ended, anchored = tool_life(log, self.run, raw)
            lag = round(marks[1] - ended, 3) if anchored and _pair(marks) else None
        levels = set_levels_khz(held)
        summary = summarize(timed, self.idle, inferences, levels,
                            unavailable=self._unavailable(), trace_window=traced)
        power = dict(summary["power"], timed_window=how, inferences=inferences,
                     window_s=summary["window"]["duration_s"])
        if power.get("method"):
            power["method"] = f"timed window: {how}; {power['method']}"
        temps, throttle, where = summary["temps"], summary["throttle"], "the timed loop"
        if len(timed.samples) < 2 and len(traced.samples) >= 2:  # a loop shorter than 2 samples
            temps, throttle = temps_summary(traced), detect_throttle(traced.samples, levels)
            where = f"the whole engine run (the timed loop held {len(timed.samples)} samples)"
        conditions = {"temp_c": temps["max_c"], "temp_start_c": temps["start_c"],
                      "temp_end_c": temps["end_c"], "temp_zone": temps["max_zone"],
                      "battery_temp_c": [temps["battery_start_c"], temps["battery_end_c"]],
                      "throttled": throttle["throttled"],
                      "throttle": {"changes": throttle["changes"], "window": where,
                                   "set_levels_khz": levels or None,
                                   **({"reason": throttle["reason"]} if throttle.get("reason") else {})}}
        lost = summary["lost"] or log.lost
        if lost:
            conditions["telemetry_lost"] = lost
        trace = _compact(summary["trace"])
        if traced.samples and timed.device_start_s is not None and trace.get("t_s"):
            zero = traced.samples[0].t_s
            trace["timed_s"] = [round(timed.device_start_s - zero, 3),
                                round(timed.device_end_s - zero, 3)]
        extra = {"trace": trace, "telemetry": {
            "timed_window": summary["window"], "idle_window": summary["idle_window"],
            "run_window": traced.summary(), "notes": list(self._notes()),
            **({"tool_return_lag_s": lag} if lag is not None else {})}}
        return {"power": power, "conditions": conditions, "extra": extra}

    def _notes(self) -> tuple[str, ...]:
        if hasattr(self.sampler, "notes"):  # an iPhone's sampler keeps its own
            return tuple(self.sampler.notes)
        plan = getattr(self.sampler, "plan", None)
        return tuple(getattr(plan, "notes", ()) or ())

    def _unavailable(self) -> str | None:
        """Why no power source was sampled at all (else summarize gives each source's reason)."""
        if isinstance(self.sampler, HostSampler):
            return self.sampler.rapl_unavailable
        if hasattr(self.sampler, "battery_unavailable"):
            return self.sampler.battery_unavailable
        power = [n for n in self._notes() if "power" in n or "battery" in n]
        return "; ".join(power) or None


def timed_window(log, run: Window, raw, kind: str) -> tuple[Window, int | None, str]:
    """(the timed window, N inferences in it, how it was marked): see the module docstring."""
    if kind == "host":
        marks = raw.extra.get("timed_monotonic_s")
        if _pair(marks):
            return log.span("timed", *marks), len(raw.samples_ms), HOST_WINDOW
        return run, len(raw.samples_ms), ("the whole child run (the child reported no loop marks: "
                                           "load and warm-up included); N = the invokes timed")
    if kind == "ios":
        return _ios_timed_window(log, run, raw)
    stats = raw.extra.get("tool_stats") or {}
    n, mean_ms = stats.get("n"), stats.get("mean_ms")
    started, ended, anchored = tool_life(log, run, raw)
    if not n or not mean_ms:
        return run, None, "the whole tool run (the tool printed no count and mean)"
    loop_s = int(n) * float(mean_ms) / 1000.0
    return (log.span("timed", max(started, ended - loop_s), ended), int(n),
            PHONE_WINDOW if anchored else PHONE_WINDOW_HOST)


def _ios_timed_window(log, run: Window, raw) -> tuple[Window, int | None, str]:
    n = len(raw.samples_ms)
    marks = raw.extra.get("timed_monotonic_s")
    if _pair(marks) and run.host_start_s <= marks[0] <= marks[1] <= run.host_end_s:
        return log.span("timed", *marks), n, IOS_WINDOW
    seen = raw.extra.get("results_seen_monotonic_s")
    if _pair(seen):
        loop_s = sum(raw.samples_ms) / 1000.0
        return (log.span("timed", max(run.host_start_s, seen[1] - loop_s), seen[1]), n,
                IOS_WINDOW_SEEN)
    return run, n, "the whole runner launch (no loop marks, no time the results were seen)"


def tool_life(log, run: Window, raw) -> tuple[float, float, bool]:
    """(start, end, whether the end is the phone's own clock) of a phone tool, host clock."""
    marks = raw.extra.get("tool_run_monotonic_s")
    started, returned = marks if _pair(marks) else (run.host_start_s, run.host_end_s)
    alive = raw.extra.get("tool_alive_uptime_s")
    seen = log.to_host(alive) if isinstance(alive, (int, float)) else None
    if seen is None or not started < seen <= returned + 0.05:  # a clock that does not map
        return started, returned, False
    return started, min(seen, returned), True


def set_levels_khz(held: dict[str, Any]) -> dict[str, int]:
    """The frequency each policy was pinned to: performance holds max, powersave min (the
    hardware range the sweep wrote); other governors move the clock, so there is no level."""
    end = PINNED.get(str(held.get("governor")))
    limits = held.get("freq_limits_khz") or {}
    if end is None:
        return {}
    return {policy: int(pair[end]) for policy, pair in limits.items()
            if isinstance(pair, (list, tuple)) and len(pair) == 2}


def _compact(trace: dict[str, Any]) -> dict[str, Any]:
    """The trace without series that never had a value (a host without RAPL has no power)."""
    def empty(values) -> bool:
        return isinstance(values, list) and all(v is None for v in values)
    out = {}
    for key, value in trace.items():
        if isinstance(value, dict):
            value = {name: series for name, series in value.items() if not empty(series)}
        elif key != "t_s" and empty(value):
            continue
        out[key] = value
    return out


def _pair(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) for v in value)
