"""Telemetry around a cell (harness/run/sampling.py): which window is timed, how many inferences
it held, what a record keeps, and that telemetry never costs a latency record.

Samples are synthetic (host clock = device clock), so every figure below can be worked out by
hand; the windows, summaries and record fields are the real ones.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from harness.devices.base import DeviceInfo
from harness.engines.base import RawRun
from harness.run.sampling import (HOST_WINDOW, PHONE_WINDOW, PHONE_WINDOW_HOST, CellSampling,
                                  DeviceSamplers, set_levels_khz)
from harness.telemetry.host import HostSampler
from harness.telemetry.sample import Sample, SampleLog

PINNED = {"governor": "performance", "freq_limits_khz": {"policy4": [402000, 2367000]}}


def _raw(n: int = 400, **extra) -> RawRun:
    return RawRun(samples_ms=(10.0,) * n, load_ms=5.0, first_ms=12.0, peak_rss_mb=80.0,
                  rss_before_load_mb=60.0, engine_version="1.0", backend="cpu", threads=1,
                  extra=dict(extra))


def _host_log(watts) -> SampleLog:
    """RAPL samples every 0.1 s on t = 100..110, drawing ``watts(t)``."""
    log, energy = SampleLog("host", settle_s=0.01), 0.0
    for i in range(101):
        t = 100 + i / 10
        energy += watts(t) * 0.1 * 1e6
        log.add(Sample(t_s=t, host_s=t, energy_uj={"package-0": energy},
                       freq_khz={"cpu0": 2_400_000}, temp_c={"x86_pkg_temp": 40 + i / 10}))
    return log


def _phone_log(current_a, status="Discharging", cap_at=None) -> SampleLog:
    """Battery (uA, charge-positive, 4 V) and policy4 samples every 0.05 s on t = 100..110;
    policy4 holds 2367 MHz until ``cap_at``, then 1826 MHz."""
    log = SampleLog("android:R5CT01", settle_s=0.01)
    for i in range(201):
        t = 100 + i / 20
        khz = 1_826_000 if cap_at is not None and t >= cap_at else 2_367_000
        log.add(Sample(t_s=t, host_s=t, freq_khz={"policy4": khz}, temp_c={"BIG": 30 + i / 20},
                       battery={"current_raw": -current_a(t) * 1e6, "voltage_raw": 4_000_000,
                                "temp_c": 28.0, "status": status}))
    return log


def _sampling(kind: str, log: SampleLog, idle=(101.0, 103.0), run=(103.0, 108.0),
              sampler=None) -> CellSampling:
    sampling = CellSampling(kind)
    sampling.sampler = sampler or SimpleNamespace(log=log, lost=None, plan=None)
    sampling.idle = log.span("idle", *idle) if idle else None
    sampling.run = log.span("run", *run)
    return sampling


def test_host_timed_window_is_the_childs_loop_and_n_its_invokes(tmp_path):
    # 1 W at rest, 3 W while the child loads and warms up, 5 W in its timed loop [104, 108]
    log = _host_log(lambda t: 5.0 if 104 <= t < 108 else 3.0 if 103 <= t < 104 else 1.0)
    sampler = HostSampler(root=tmp_path)  # never started: only its log and RAPL verdict count
    sampler.log = log
    sampling = _sampling("host", log, idle=(101.0, 102.95), sampler=sampler)
    fields = sampling.record_fields(_raw(400, timed_monotonic_s=[104.0, 108.0]), {})
    power = fields["power"]
    assert power["source"] == "rapl" and power["inferences"] == 400 and power["window_s"] == 4.0
    assert power["avg_power_mw"] == pytest.approx(5000, rel=0.03)
    assert power["idle_power_mw"] == pytest.approx(1000, rel=0.03)
    # (5 W - 1 W) x 4 s / 400 inferences = 40 mJ; the 3 W load second is outside the window
    assert power["energy_per_inference_mj"] == pytest.approx(40, rel=0.05)
    assert power["method"].startswith(f"timed window: {HOST_WINDOW}; (P_timed - P_idle)")
    assert fields["extra"]["telemetry"]["timed_window"]["samples"] >= 39
    conditions = fields["conditions"]
    assert conditions["temp_start_c"] == pytest.approx(44.0) and conditions["temp_c"] == pytest.approx(48.0)
    assert conditions["throttled"] is False and "telemetry_lost" not in conditions
    trace = fields["extra"]["trace"]
    assert "thermal_status" not in trace  # series that never had a value are left out
    assert trace["timed_s"] == pytest.approx([1.0, 5.0])  # the loop inside the whole run


def test_phone_timed_window_is_the_tools_loop_from_its_printed_count_and_mean():
    # 0.5 A at rest, 1.0 A while the tool loads and warms up, 1.5 A in its last 2 s
    log = _phone_log(lambda t: 1.5 if 105 <= t < 107 else 1.0 if 103 <= t < 105 else 0.5,
                     cap_at=106.0)
    sampling = _sampling("virtual-android", log, run=(102.9, 107.2))
    raw = _raw(1, tool_stats={"n": 200, "mean_ms": 10.0}, tool_run_monotonic_s=[103.0, 107.0])
    fields = sampling.record_fields(raw, PINNED)
    power = fields["power"]
    assert power["source"] == "battery" and power["inferences"] == 200
    assert power["window_s"] == pytest.approx(2.0)
    # (6 W - 2 W) x 2 s / 200 = 40 mJ: load and warm-up (4 W) are not charged to the inferences
    assert power["energy_per_inference_mj"] == pytest.approx(40, rel=0.05)
    assert power["battery_convention"]["sign"] == "charge-positive"
    assert power["method"].startswith(f"timed window: {PHONE_WINDOW_HOST}")
    conditions = fields["conditions"]
    assert conditions["throttled"] is True  # the pinned level is the reference, not the start
    assert conditions["throttle"]["changes"] == [
        "policy4 fell from 2367 to 1826 MHz at +1.0 s (set level)"]
    assert conditions["throttle"]["set_levels_khz"] == {"policy4": 2367000}
    assert fields["extra"]["trace"]["timed_s"] == pytest.approx([2.0, 4.0], abs=0.06)


def _tail_log() -> SampleLog:
    """A tool at 1.5 A and 2367 MHz until t = 107, then the phone idle (0.5 A, 1197 MHz)."""
    log = SampleLog("android:R5CT01", settle_s=0.01)
    for i in range(201):
        t = 100 + i / 20
        running = 103 <= t < 107
        log.add(Sample(t_s=t, host_s=t + 0.004, freq_khz={"policy4": 2_367_000 if running else 1_197_000},
                       battery={"current_raw": -(1.5 if running else 0.5) * 1e6,
                                "voltage_raw": 4_000_000, "status": "Discharging"}))
    return log


def test_phone_window_ends_when_the_phone_last_saw_the_tool_alive_not_at_the_hosts_return():
    # the tool exits at 107; the watcher's last poll and adb bring the return to 107.45
    raw = _raw(1, tool_stats={"n": 200, "mean_ms": 10.0}, tool_run_monotonic_s=[103.0, 107.45],
               tool_alive_uptime_s=106.95)
    log = _tail_log()
    fields = _sampling("android", log, run=(102.9, 107.5)).record_fields(raw, {"governor": "schedutil"})
    power = fields["power"]
    assert power["method"].startswith(f"timed window: {PHONE_WINDOW}")
    # (6 W - 2 W) x 2 s / 200 = 40 mJ: the idle tail after the exit is not in the loop
    assert power["energy_per_inference_mj"] == pytest.approx(40, rel=0.03)
    assert fields["conditions"]["throttled"] is False
    assert fields["extra"]["telemetry"]["tool_return_lag_s"] == pytest.approx(0.5, abs=0.01)
    # anchored at the host's return instead, the tail would pass for a throttled, cheaper loop
    late = _raw(1, tool_stats={"n": 200, "mean_ms": 10.0}, tool_run_monotonic_s=[103.0, 107.45])
    fields = _sampling("android", _tail_log(), run=(102.9, 107.5)).record_fields(
        late, {"governor": "schedutil"})
    assert fields["conditions"]["throttled"] is True
    assert fields["power"]["energy_per_inference_mj"] < 36


def test_a_loop_shorter_than_two_readings_has_no_power_but_temperatures_of_the_run():
    log = _phone_log(lambda t: 1.0)
    sampling = _sampling("android", log)
    raw = _raw(1, tool_stats={"n": 3, "mean_ms": 1.0}, tool_run_monotonic_s=[103.0, 107.0])
    fields = sampling.record_fields(raw, {"governor": "schedutil"})
    assert fields["power"]["source"] is None
    assert fields["power"]["unavailable"] == (
        "battery: the timed loop was too short to average power: fewer than 2 battery readings "
        "in it; lengthen it (--iterations or --min-time)")
    conditions = fields["conditions"]
    # over the tool's run [103, 107] (the phone's zone reads t - 70 degC)
    assert conditions["temp_start_c"] == pytest.approx(33.0) and conditions["temp_c"] == pytest.approx(37.0)
    assert conditions["throttle"]["window"].startswith("the whole engine run (the timed loop held")
    assert fields["extra"]["trace"]["power_mw"]  # the run's power is still drawn


def test_while_charging_power_is_unavailable_and_says_why():
    log = _phone_log(lambda t: -0.8, status="Charging")
    fields = _sampling("android", log).record_fields(
        _raw(1, tool_stats={"n": 100, "mean_ms": 20.0}, tool_run_monotonic_s=[103.0, 107.0]), {})
    reason = fields["power"]["unavailable"]
    assert reason.startswith("battery: battery status Charging: a charger powers the phone")
    assert "`dumpsys battery unplug` only changes what Android reports" in reason
    assert fields["power"].get("energy_per_inference_mj") is None


def test_lost_or_broken_telemetry_leaves_a_reason_never_an_error():
    lost = CellSampling("android")
    lost.lost = "sampler did not start: InfraError: adb server gone"
    fields = lost.record_fields(_raw(), {})
    assert fields["conditions"] == {"telemetry_lost": "sampler did not start: InfraError: adb server gone"}
    assert fields["power"]["unavailable"].startswith("telemetry lost: sampler did not start")
    broken = _sampling("android", _phone_log(lambda t: 1.0))
    broken.sampler.log = None  # a bug in the wiring: summarising fails
    fields = broken.record_fields(_raw(1, tool_stats={"n": 100, "mean_ms": 20.0}), {})
    assert fields["conditions"]["telemetry_lost"].startswith("telemetry summary failed: AttributeError")
    died = _phone_log(lambda t: 1.0)
    died.mark_lost("sampler stream lost after 80 samples: EOFError")
    fields = _sampling("android", died).record_fields(
        _raw(1, tool_stats={"n": 100, "mean_ms": 20.0}, tool_run_monotonic_s=[103.0, 107.0]), {})
    assert fields["conditions"]["telemetry_lost"] == "sampler stream lost after 80 samples: EOFError"


def test_set_levels_only_for_governors_that_pin_the_clock():
    limits = {"policy0": [300000, 1800000], "policy4": [402000, 2367000]}
    assert set_levels_khz({"governor": "performance", "freq_limits_khz": limits}) == {
        "policy0": 1800000, "policy4": 2367000}
    assert set_levels_khz({"governor": "powersave", "freq_limits_khz": limits}) == {
        "policy0": 300000, "policy4": 402000}
    assert set_levels_khz({"governor": "schedutil", "freq_limits_khz": limits}) == {}
    assert set_levels_khz({}) == {}


class _Counting(HostSampler):
    """A host sampler on a fake tree that counts its starts and stops."""
    started: list = []

    def start(self):
        _Counting.started.append(self)
        self.stopped = False
        return super().start()

    def stop(self):
        self.stopped = True
        super().stop()


def _host_device():
    return SimpleNamespace(info=DeviceInfo(id="host", kind="host", serial="host"))


def test_one_sampler_per_device_across_its_cells_restarted_only_when_lost(tmp_path):
    _Counting.started = []
    samplers = DeviceSamplers(idle_window_s=0.3, host_sampler=lambda: _Counting(0.02, tmp_path))
    device = _host_device()
    with samplers.cell("host", device) as first:
        time.sleep(0.1)
    with samplers.cell("host", device) as second:
        time.sleep(0.1)
    assert len(_Counting.started) == 1 and first.sampler is second.sampler
    assert first.idle is None  # no RAPL on the fake tree: nothing to subtract, no idle window
    first.sampler.log.mark_lost("host sampler stopped: OSError")
    with samplers.cell("host", device) as third:
        pass
    assert len(_Counting.started) == 2 and first.sampler.stopped and third.sampler is not first.sampler
    samplers.stop("host")
    assert third.sampler.stopped and not third.sampler._thread.is_alive()


class _Stream:
    """A phone sampler that never touches adb: a log, a plan with a battery, a time bound."""
    started: list = []

    def __init__(self, transport, plan=None):
        from harness.telemetry.script import SamplerPlan

        self.plan = plan or SamplerPlan(battery_files=("current_now", "voltage_now"))
        self.log, self.lost, self.max_duration_s = SampleLog("android:X", 0.01), None, 600.3
        self.stopped = False

    def start(self):
        _Stream.started.append(self)
        return self

    def stop(self):
        self.stopped = True

    def window(self, name):
        return self.log.window(name)


def test_a_phone_sampler_near_its_time_bound_is_renewed_between_cells():
    _Stream.started = []
    samplers = DeviceSamplers(idle_window_s=0.01, phone_sampler=_Stream)
    phone = SimpleNamespace(info=DeviceInfo(id="P", kind="android", serial="P"),
                            transport=SimpleNamespace(guard=SimpleNamespace(hang=None)))
    with samplers.cell("P", phone) as first:
        pass
    assert first.idle is not None  # a battery to subtract: the idle window is taken
    with samplers.cell("P", phone):
        pass
    assert len(_Stream.started) == 1
    time.sleep(0.35)  # now within RENEW_BEFORE_S (600 s) of its 600.3 s bound
    with samplers.cell("P", phone) as later:
        pass
    assert len(_Stream.started) == 2 and first.sampler.stopped
    assert later.sampler.plan is first.sampler.plan  # the probe is not repeated
    phone.transport.guard.hang = "hung at 12:00"
    samplers.stop()
    with samplers.cell("P", phone) as hung:
        pass
    assert hung.lost == "not sampled: the device stopped answering earlier in this run"
    assert len(_Stream.started) == 2


def test_idle_window_just_before_the_run_where_power_is_read(tmp_path):
    from test_telemetry_windows import _powercap

    _powercap(tmp_path, 1_000_000)
    samplers = DeviceSamplers(idle_window_s=0.3, host_sampler=lambda: HostSampler(0.02, tmp_path))
    with samplers.cell("host", _host_device()) as sampling:
        pass
    samplers.stop()
    assert sampling.idle.duration_s == pytest.approx(0.3, abs=0.05)
    assert 0 <= sampling.run.host_start_s - sampling.idle.host_end_s < 0.05
    assert len(sampling.idle.samples) >= 5
    off = DeviceSamplers(idle_window_s=0, host_sampler=lambda: HostSampler(0.02, tmp_path))
    with off.cell("host", _host_device()) as sampling:
        pass
    off.stop()
    assert sampling.idle is None


def test_a_device_without_a_sampler_or_one_that_cannot_start_is_said():
    samplers = DeviceSamplers()
    board = SimpleNamespace(info=DeviceInfo(id="board", kind="qnx", serial="x"))
    with samplers.cell("board", board) as sampling:
        pass
    assert sampling.lost == "no sampler for a qnx device"

    def locked(device):
        raise RuntimeError("PasswordRequiredError; unlock the device")
    ios = SimpleNamespace(info=DeviceInfo(id="ipad", kind="ios", serial="x"))
    with DeviceSamplers(ios_sampler=locked).cell("ipad", ios) as sampling:
        pass
    assert sampling.lost == ("sampler did not start: RuntimeError: PasswordRequiredError; "
                             "unlock the device")

    def broken():
        raise OSError("no /proc")
    with DeviceSamplers(host_sampler=broken).cell("host", _host_device()) as sampling:
        pass
    assert sampling.lost == "sampler did not start: OSError: no /proc"
