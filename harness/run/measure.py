"""Measure one cell (device x model x variant x engine) and turn the outcome into a record.

Every path ends in exactly one ``Measurement`` appended to the store: ok, unsupported (with the
reason), failed (the model or engine broke), or infra_error (the device or transport broke).
"""
from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from .cases import BenchCase
from ..devices.discovery import open_device
from ..engines import get_engine
from ..engines.base import RawRun, RunSettings
from ..errors import InfraError, MeasurementError, Unsupported
from .fidelity_check import FidelityChecker
from .governors import GovernorHolder, reason_of
from .cooldown import CooldownGate
from .power_window import PowerWindow
from .sampling import DeviceSamplers
from ..models.manifest import ModelSpec
from ..results.schema import Measurement
from ..results.stats import LatencyStats
from ..models.variants import Artifact, resolve_artifact

STATE_FIXES = {
    "unauthorized": "accept the 'Allow USB debugging' prompt on the phone, then re-run",
    "offline": "reconnect the cable or run `adb reconnect offline`; reboot the phone if it stays offline",
    "recovery": "the phone is in recovery mode: reboot it into Android (`adb reboot`)",
    "sideload": "the phone is in sideload mode: finish or cancel the sideload and reboot",
    "bootloader": "the phone is in the bootloader: reboot it into Android",
    "no permissions": "fix the udev rules for this USB device (see `adb devices -l`), then replug",
}


class CellRunner:
    """Runs cells for one session; holds opened devices so each is probed once."""

    def __init__(self, config, models: dict[str, ModelSpec], model_paths: dict[str, Path], store):
        self.config = config
        self.models = models
        self.model_paths = model_paths
        self.store = store
        self._devices: dict[str, Any] = {}
        self._leases: dict[str, Any] = {}  # device id -> devices.lease.Lease (phones only)
        self._lease_refused: set[str] = set()  # waited once in vain: later cells do not wait
        self.governors = GovernorHolder()  # one applied governor per device, see governors.py
        self.cooldown = CooldownGate(getattr(config, "cooldown", None) or {}, config.timeout_s)
        self.samplers = DeviceSamplers(config.idle_window_s)  # one per device, see sampling.py
        self.power_window = PowerWindow(config.power_window_s)  # phone loops long enough
        self._repeat: dict[str, int] | None = None  # the repeat run() is measuring, if any
        self.fidelity = FidelityChecker(config.fidelity, model_paths, self.settings)

    def settings(self, **overrides: Any) -> RunSettings:
        base = RunSettings(warmup=self.config.warmup, iterations=self.config.iterations,
                           min_time_s=self.config.min_time_s, threads=self.config.threads,
                           timeout_s=self.config.timeout_s)
        return dataclasses.replace(base, **overrides)

    def device(self, case: BenchCase):
        if case.device.state != "device":
            # a kind's discovery may name the fix itself (iOS: pair, developer mode, ...)
            fix = case.device.details.get("fix") or STATE_FIXES.get(case.device.state)
            raise InfraError(f"device {case.device.id} is {case.device.state}",
                             serial=case.device.serial, fix=fix)
        self._take_lease(case)
        if case.device.id not in self._devices:
            # opened once per process, so what a device learns lives here: its probe, its push
            # cache, whether it hung (devices/hang.py). Per process is enough: with xdist all
            # cells of one device run on one worker (xdist_group by serial)
            self._devices[case.device.id] = open_device(
                case.device, timeout_s=self.config.timeout_s,
                reboot_wait_s=getattr(self.config, "reboot_wait_s", None))
        return self._devices[case.device.id]

    def _take_lease(self, case: BenchCase) -> None:
        """One edgelab process per phone on this host (devices/lease.py): DeviceBusy names the
        holder. Held until the device's cells end (release), the process's end frees it too.
        A device whose worker crashed (crashes.py) is not taken again at all."""
        from ..devices.lease import LEASED_KINDS, DeviceBusy, Lease
        from .crashes import CRASH_FIX, crashed

        crash = crashed(self.store.run_dir, case.device.id)
        if crash is not None:
            raise InfraError(f"device {case.device.id}: the worker {crash.get('worker')} that "
                             f"measured it crashed during {crash.get('cell')}; its remaining "
                             f"cells were not attempted", serial=case.device.serial,
                             fix=CRASH_FIX)

        if case.device.kind not in LEASED_KINDS:
            return
        if case.device.id not in self._leases:
            self._leases[case.device.id] = Lease(case.device.id)
        lease = self._leases[case.device.id]
        wait = 0.0 if case.device.id in self._lease_refused else self.config.lease_wait_s
        try:
            lease.acquire(wait, self.config.run_id)
        except DeviceBusy:
            self._lease_refused.add(case.device.id)
            raise

    def run(self, case: BenchCase, suite: str, settings: RunSettings, test_id: str,
            repeat: dict[str, int] | None = None) -> Measurement:
        """One independent run of the cell (a child process on the host, a tool run on a phone)
        and its record; ``repeat`` ({"index": i, "of": K}, bench.py) goes to ``extra.repeat``."""
        self._repeat = dict(repeat) if repeat else None
        try:
            return self._run(case, suite, settings, test_id)
        finally:
            self._repeat = None

    def _append(self, record: Measurement) -> Measurement:
        """Into the store, with the repeat this run is (run())."""
        if self._repeat:
            record.extra["repeat"] = dict(self._repeat)
        self.store.append(record)
        return record

    def _run(self, case: BenchCase, suite: str, settings: RunSettings, test_id: str) -> Measurement:
        spec = self.models[case.model]
        engine = get_engine(case.engine)
        ident = {"device": _device_ident(case), "model": spec.as_dict(),
                 "variant": {"id": case.variant}, "engine": {"name": engine.name,
                                                            "version": engine.version()}}
        try:
            device = self.device(case)
            profile = device.profile()
            ident["device"].update(_profile_ident(profile))
            artifact = self._artifact(spec, case, engine, profile)
            ident["variant"].update(artifact.as_dict())
            if case.compute_units:  # the iPhone Core ML axis (cases.py): into the runner's job
                settings = dataclasses.replace(settings, compute_units=case.compute_units)
            if device.info.kind == "host":  # outputs come back only from host runs
                settings = dataclasses.replace(
                    settings, save_outputs=self.fidelity.outputs_path(test_id))
            held = self.governors.hold(case.device.id, device, case.governor)
            cooled = self.cooldown.wait(case.device.id, device) if suite != "compat" else {}
            before = device.sample()
            raised = None
            lengthen = not self.config.iterations_given  # an explicit count is kept as asked
            if suite != "compat" and device.info.kind != "host" and lengthen:
                again = bool(self._repeat and self._repeat["index"] > 0)
                settings, raised = self.power_window.settings_for(_cell_key(case), settings, again)
            with self._sampling(case, device, suite) as sampled:
                raw = self._execute(device, engine, artifact, spec, settings)
            if raised:
                raw.extra["iterations_raised"] = raised
            after = device.sample()
        except Unsupported as exc:
            return self._emit(case, suite, test_id, ident, "unsupported", reason_of(exc))
        except InfraError as exc:
            return self._emit(case, suite, test_id, ident, "infra_error", reason_of(exc),
                              settings.threads)
        except MeasurementError as exc:  # a broken engine, or a tool killed at the timeout
            return self._emit(case, suite, test_id, ident, "failed", reason_of(exc),
                              settings.threads)
        except Exception as exc:  # a harness bug must still leave a record and let the run go on
            return self._emit(case, suite, test_id, ident, "failed",
                              f"harness error: {type(exc).__name__}: {exc}", settings.threads)
        if raw.extra.get("input_shape_guessed"):  # about the model as run: the report warns once
            ident["model"]["input_shape_guessed"] = raw.extra["input_shape_guessed"]
        fidelity = self.fidelity.check(spec, settings.save_outputs)
        return self._emit_ok(case, suite, test_id, ident, raw, before, after, fidelity, held,
                             sampled, cooled)

    def release(self, device_id: str | None = None) -> list[str]:
        """Restore the device's governors (its cells ended), or every device's (session end),
        and stop its sampler; the problems, one line each."""
        self.samplers.stop(device_id)
        problems = self.governors.release(device_id)
        for lease_id, lease in self._leases.items():  # governors back first, then the phone
            if device_id is None or lease_id == device_id:
                lease.release()
        return problems

    def _sampling(self, case: BenchCase, device, suite: str):
        """Telemetry around a latency cell (sampling.py); compat cells are not sampled."""
        if suite == "compat":
            return contextlib.nullcontext()
        return self.samplers.cell(case.device.id, device)

    def _artifact(self, spec: ModelSpec, case: BenchCase, engine, profile) -> Artifact:
        """The cell's artifact; a device that cannot run the engine at all is the more basic
        reason (Core ML on Linux), so it wins over a missing artifact."""
        from ..models.build import default_build_dir

        try:
            artifact = resolve_artifact(spec, self.model_paths[case.model], case.variant,
                                        engine.formats[0], default_build_dir(self.config.cache_dir))
        except Unsupported as missing:
            support = engine.supports(engine.formats[0], profile)
            raise Unsupported(support.reason if not support.ok else missing.reason) from None
        support = engine.supports(artifact.format, profile)
        if not support.ok:  # say the file exists: built-but-not-runnable-here is its own finding
            raise Unsupported(f"{support.reason}; the {artifact.format} artifact is built "
                              f"({artifact.bytes:,} bytes, {artifact.converter})")
        return artifact

    def _execute(self, device, engine, artifact: Artifact, spec: ModelSpec,
                 settings: RunSettings) -> RawRun:
        # each device kind knows how a job runs on it (Device.run_engine in devices/base.py)
        return device.run_engine(engine, artifact, spec, settings)

    def _emit_ok(self, case, suite, test_id, ident, raw: RawRun, before, after,
                 fidelity: dict[str, Any] | None = None,
                 held: dict[str, Any] | None = None, sampled=None,
                 cooled: dict[str, Any] | None = None) -> Measurement:
        stats = LatencyStats.from_samples(raw.samples_ms)
        conditions = {"threads": raw.threads, "before": before, "after": after,
                      **_governor_conditions(case, held or {}), "temp_c": after.get("temp_c"),
                      "charging": after.get("charging"), "other_cpu_pct": raw.other_cpu_pct,
                      "virtual": case.device.virtual, **_compute_units_condition(case)}
        conditions.update(self._noise(stats, raw))
        conditions.update(cooled or {})  # cooldown.py: the wait before the cell, hot_start
        ident["engine"].update({"version": raw.engine_version or ident["engine"]["version"],
                                "backend": raw.backend, "threads": raw.threads})
        latency = stats.as_dict()
        if raw.extra.get("summary_only"):
            # phone tools print a summary, not samples: their own figures replace statistics
            # of the one mean they printed; what a tool did not print stays None
            latency = dict.fromkeys(latency) | dict(raw.extra.get("tool_stats", {}))
            cv = _spread(stats, raw)[2]
            latency["cv"] = None if cv is None else round(cv, 6)
            latency["summary_only"] = True
        latency.update({"load_ms": raw.load_ms, "first_ms": raw.first_ms})
        memory = {"peak_rss_mb": raw.peak_rss_mb, "rss_before_load_mb": raw.rss_before_load_mb,
                  "model_rss_mb": (raw.peak_rss_mb - raw.rss_before_load_mb)
                  if raw.peak_rss_mb is not None and raw.rss_before_load_mb is not None else None,
                  **raw.memory}  # where peak_rss_mb comes from (device_tools.py: VmHWM or the tool)
        self.power_window.remember(_cell_key(case), latency.get("mean_ms"))
        drifted = bool(fidelity and fidelity.get("ok") is False)
        telemetry = _telemetry(sampled, raw, held, conditions)  # also fills conditions
        _reported_thermal_state(conditions, raw)
        record = Measurement(run_id=self.config.run_id, test_id=test_id, suite=suite,
                             status="failed" if drifted else "ok",
                             reason=fidelity["reason"] if drifted else None,
                             conditions=conditions, latency=latency, memory=memory,
                             fidelity=fidelity, samples_ms=raw.samples_ms,
                             **telemetry, **ident)
        return self._append(record)

    def _noise(self, stats: LatencyStats, raw: RawRun) -> dict[str, Any]:
        limits = self.config.noise
        reasons = []
        if raw.other_cpu_pct is not None and raw.other_cpu_pct > limits["noise_other_cpu_pct"]:
            reasons.append(f"other processes used {raw.other_cpu_pct:.0f}% of a core")
        n, tail_ratio, cv = _spread(stats, raw)
        if n >= 10 and tail_ratio is not None and tail_ratio > limits["noise_tail_ratio"]:
            reasons.append(f"p90/median {tail_ratio:.2f}")
        if n >= 10 and cv is not None and cv > limits["noise_cv"]:
            reasons.append(f"cv {cv:.2f}")
        return {"noisy": bool(reasons), "noise_reason": "; ".join(reasons) or None}

    def record_infra(self, case: BenchCase, suite: str, test_id: str, reason: str) -> Measurement:
        """An ``infra_error`` record for a cell this process did not run (crashes.py)."""
        spec = self.models[case.model]
        ident = {"device": _device_ident(case), "model": spec.as_dict(),
                 "variant": {"id": case.variant}, "engine": {"name": case.engine}}
        return self._emit(case, suite, test_id, ident, "infra_error", reason)

    def _emit(self, case, suite, test_id, ident, status: str, reason: str,
              threads: int | None = None) -> Measurement:
        """A record without a measurement. ``threads``: what the cell asked the engine for, so
        that a cell which failed or timed out every time still matches its baseline cell in
        the gate (it is "broke" there, not "not compared: threads 1 -> ?")."""
        conditions = {"virtual": case.device.virtual, "governor": case.governor,
                      "governor_requested": case.governor, **_compute_units_condition(case)}
        if threads is not None:
            conditions["threads"] = threads
        record = Measurement(run_id=self.config.run_id, test_id=test_id, suite=suite,
                             status=status, reason=reason, conditions=conditions, **ident)
        return self._append(record)


def _telemetry(sampled, raw: RawRun, held: dict[str, Any] | None,
               conditions: dict[str, Any]) -> dict[str, Any]:
    """``power`` and ``extra`` of a record, with what its sampling found merged into
    ``conditions`` (temperatures, throttled, telemetry_lost); the engine's clock marks are
    only for the sampler and stay out of the record."""
    extra = {k: v for k, v in raw.extra.items() if k not in ("timed_monotonic_s",
                                                              "tool_run_monotonic_s",
                                                              "tool_alive_uptime_s",
                                                              "results_seen_monotonic_s")}
    if sampled is None:
        return {"power": None, "extra": extra}
    fields = sampled.record_fields(raw, held)
    conditions.update({k: v for k, v in fields["conditions"].items()
                       if v is not None or k not in conditions})  # keep the sample()'s temp_c
    return {"power": fields["power"], "extra": {**extra, **fields["extra"]}}


def _spread(stats: LatencyStats, raw: RawRun) -> tuple[int, float | None, float | None]:
    """(iterations, p90/median, cv) for the noise rules. Phone tools print a summary, so the
    figures are the tool's own: cv only when it printed a std (benchmark_model), the tail ratio
    only when it printed p90 and a median (onnxruntime_perf_test); ``stats`` of the one mean
    they printed would say nothing about spread."""
    if not raw.extra.get("summary_only"):
        return stats.n, stats.tail_ratio, stats.cv
    tool = raw.extra.get("tool_stats") or {}
    mean_ms, std_ms = tool.get("mean_ms"), tool.get("std_ms")
    cv = std_ms / mean_ms if std_ms is not None and mean_ms else None
    median_ms, p90_ms = tool.get("median_ms"), tool.get("p90_ms")
    tail = p90_ms / median_ms if p90_ms is not None and median_ms else None
    return int(tool.get("n") or 0), tail, cv


def _reported_thermal_state(conditions: dict[str, Any], raw: RawRun) -> None:
    """A device that reports its own thermal state around the run (the iPhone runner's
    ProcessInfo.thermalState, engines/coreml_ios.py): ``throttled`` = it rose, unless a sampler
    already judged; the states go along as ``thermal_state`` [before, after]."""
    states = raw.extra.get("thermal_state")
    if states and conditions.get("throttled") is None:
        conditions["throttled"] = raw.extra.get("throttled")
        conditions["thermal_state"] = list(states)
        rose = [f"thermal state rose from {states[0]} to {states[1]}"] if conditions["throttled"] else []
        conditions["throttle"] = {**(conditions.get("throttle") or {}), "changes": rose,
                                  "window": "the runner's timed loop (ProcessInfo.thermalState "
                                            "read by the app before and after it)"}
        conditions["throttle"].pop("reason", None)


def _compute_units_condition(case: BenchCase) -> dict[str, Any]:
    """``ios_compute_units`` in the conditions of an iPhone Core ML cell (the axis value asked),
    nothing for cells without the axis."""
    return {"ios_compute_units": case.compute_units} if case.compute_units else {}


def _governor_conditions(case: BenchCase, held: dict[str, Any]) -> dict[str, Any]:
    """The governor axis in a record: ``governor`` (the report's cell key) and
    ``governor_requested`` are the value asked for, ``governors_observed`` what each policy ran
    once it was applied and verified; ``applied`` the operations that changed the device."""
    out = {"governor": case.governor, "governor_requested": case.governor,
           "governors_observed": held.get("governors_observed"),
           "applied": held.get("applied") or []}
    for key in ("freq_limits_khz", "fixed_performance", "repaired"):
        if held.get(key) is not None:
            out[key] = held[key]
    return out


def _cell_key(case: BenchCase) -> tuple[str, str, str, str, str]:
    return (case.device.id, case.model, case.variant, case.engine, case.governor)


def _device_ident(case: BenchCase) -> dict[str, Any]:
    info = case.device
    return {"id": info.id, "kind": info.kind, "serial": info.serial, "model": info.model,
            "virtual": info.virtual, "state": info.state}


def _profile_ident(profile: dict[str, Any]) -> dict[str, Any]:
    keys = ("arch", "abis", "os", "soc", "cores_logical", "mem_total_mb", "sdk", "release",
            "manufacturer", "profile")
    return {k: profile[k] for k in keys if k in profile}
