"""iPhone telemetry against the virtual iPhone through the REAL pymobiledevice3 client: the battery
over one diagnostics_relay session, the runner's loop placed on the host clock through the
phone's own clock, and the record fields an Android cell has (power, temperature, throttled).

The stand-in's battery draws RunnerExtraAmperage more while its runner runs (CONFIGURATION in
device_profiles/ios/iphone14promax_ios16_ready.toml: 4012 mV, -412 mA idle, -1062 mA running), so
the expected figures are that arithmetic: 1653 mW idle, 4261 mW while the loop runs. Nothing
here ran on a real iPhone.
"""
from __future__ import annotations

import time
import types

import pytest
from ios_fixtures import mlpackage, opened

pytest.importorskip("pymobiledevice3", reason="the ios extra: pip install -e '.[ios]'")
pytestmark = pytest.mark.integration
IDLE_MW, RUNNING_MW = 4012 * 412 / 1000, 4012 * 1062 / 1000


def test_an_iphone_cell_gets_battery_power_temperature_and_its_loop_window(monkeypatch, tmp_path):
    from harness.engines.base import RunSettings
    from harness.run.sampling import IOS_WINDOW, DeviceSamplers
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    settings = RunSettings(warmup=1, iterations=5, min_time_s=2.0, timeout_s=30,
                           compute_units="all")
    samplers = DeviceSamplers(idle_window_s=1.0)
    with VirtualIPhone("iphone14promax_ios16_ready", "127.0.0.1:0", max_lifetime_s=120,
                       iteration_ms=5.0) as phone:
        device = opened(phone, monkeypatch)
        try:
            with samplers.cell(device.info.id, device) as sampling:
                raw = device.run_engine(types.SimpleNamespace(name="coreml"),
                                        mlpackage(tmp_path), None, settings)
            fields = sampling.record_fields(raw, {})
        finally:
            samplers.stop()
    power, conditions, telemetry = fields["power"], fields["conditions"], fields["extra"]["telemetry"]
    assert power["source"] == "battery", power
    assert power["avg_power_mw"] == pytest.approx(RUNNING_MW, rel=0.01)
    assert power["idle_power_mw"] == pytest.approx(IDLE_MW, rel=0.01)
    # the loop alone: the phone's clock marks it, 2.75 s ahead of the host's, mapped back
    assert power["timed_window"] == IOS_WINDOW and power["inferences"] == len(raw.samples_ms)
    assert raw.extra["phone_clock"]["offset_s"] == pytest.approx(2.75, abs=0.05)
    loop_s = sum(raw.samples_ms) / 1000
    assert telemetry["timed_window"]["duration_s"] == pytest.approx(loop_s, abs=0.05)
    expected = (RUNNING_MW - IDLE_MW) * power["window_s"] / power["inferences"]
    assert power["energy_per_inference_mj"] == pytest.approx(expected, rel=0.02)
    assert telemetry["timed_window"]["samples"] >= 3
    assert (conditions["temp_c"], conditions["temp_zone"]) == (30.5, "battery")
    assert conditions["battery_temp_c"] == [30.5, 30.5]
    assert "telemetry_lost" not in conditions
    # no frequency or thermal status from the phone: the runner's thermal state decides later
    assert conditions["throttled"] is None
    trace = fields["extra"]["trace"]
    assert max(v for v in trace["power_mw"] if v is not None) == pytest.approx(RUNNING_MW, rel=0.01)


def test_the_sampler_reads_one_session_and_stops_when_asked(monkeypatch, tmp_path):
    from harness.telemetry.ios import IOSSampler
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    with VirtualIPhone("iphone14promax_ios16_ready", "127.0.0.1:0", max_lifetime_s=60) as phone:
        sampler = IOSSampler(phone.profile.udid, phone.address, 16, interval_s=0.2,
                             cpu_stream=None).start()
        time.sleep(1.0)
        sessions = phone.lockdownd.requests.count("StartSession")
        time.sleep(0.6)
        sampler.stop()
        assert not sampler._thread.is_alive()
        assert phone.lockdownd.requests.count("StartSession") == sessions  # no new sessions
    readings = sampler.samples()
    assert len(readings) >= 6 and sampler.lost is None
    assert {s.battery["status"] for s in readings} == {"Discharging"}
    assert sampler.notes == ("CPU load: not sampled (no sysmontap stream)",)


def test_a_phone_that_stopped_trusting_the_host_says_the_fix(monkeypatch, tmp_path):
    from harness.telemetry.ios import IOSSampler
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    with VirtualIPhone("iphonexr", "127.0.0.1:0", max_lifetime_s=60) as phone:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="NotPairedError.*tap Trust"):
            IOSSampler(phone.profile.udid, phone.address, 16, cpu_stream=None).start()
        assert time.monotonic() - started < 5


def test_a_runner_that_heats_the_phone_is_a_throttled_cell(monkeypatch, tmp_path):
    from harness.engines.base import RunSettings
    from harness.run.measure import _reported_thermal_state
    from harness.run.sampling import DeviceSamplers
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    samplers = DeviceSamplers(idle_window_s=0)
    with VirtualIPhone("iphone14promax_ios16_ready", "127.0.0.1:0", max_lifetime_s=60,
                       runner_play="hot") as phone:
        device = opened(phone, monkeypatch)
        try:
            with samplers.cell(device.info.id, device) as sampling:
                raw = device.run_engine(types.SimpleNamespace(name="coreml"), mlpackage(tmp_path),
                                        None, RunSettings(warmup=1, iterations=20, timeout_s=30))
            conditions = sampling.record_fields(raw, {})["conditions"]
        finally:
            samplers.stop()
    _reported_thermal_state(conditions, raw)
    assert conditions["throttled"] is True
    assert conditions["thermal_state"] == ["nominal", "serious"]
    assert conditions["throttle"]["changes"] == ["thermal state rose from nominal to serious"]
