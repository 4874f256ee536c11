"""Throttle detection, the downsampled trace, windows and the host sampler (fake sysfs trees)."""
from __future__ import annotations

import time

import pytest

from harness.telemetry.host import HostSampler, RaplReader
from harness.telemetry.sample import Sample, SampleLog
from harness.telemetry.summary import summarize
from harness.telemetry.throttle import detect_throttle
from harness.telemetry.trace import downsample


def _freqs(values, status=None):
    return [Sample(t_s=i * 0.1, host_s=i * 0.1, freq_khz={"policy4": khz},
                   thermal_status=None if status is None else status[i])
            for i, khz in enumerate(values)]


def test_a_cluster_that_stays_below_its_start_level_throttled():
    result = detect_throttle(_freqs([2367000] * 5 + [1826000] * 5))
    assert result["throttled"] is True
    assert result["changes"] == ["policy4 fell from 2367 to 1826 MHz at +0.5 s "
                                 "(level at the window start)"]


def test_one_low_reading_is_a_dip_not_a_limit():
    assert detect_throttle(_freqs([2367000, 2367000, 1826000, 2367000]))["throttled"] is False


def test_the_set_level_is_the_reference_when_given():
    samples = _freqs([1826000] * 6)  # already capped when the window began
    assert detect_throttle(samples)["throttled"] is False
    found = detect_throttle(samples, set_levels_khz={"policy4": 2367000})
    assert found["throttled"] and "(set level)" in found["changes"][0]


def test_a_rising_thermal_status_is_a_change():
    samples = _freqs([2367000] * 4, status=[0, None, 2, 1])
    result = detect_throttle(samples)
    assert result["throttled"] and result["changes"] == ["thermal status rose from 0 to 2 at +0.2 s"]
    assert result["thermal_status"] == {"first": 0, "max": 2, "rose": True, "at_s": pytest.approx(0.2)}


def test_trace_is_downsampled_to_at_most_200_points():
    samples = [Sample(t_s=i * 0.05, host_s=0, freq_khz={"p0": 1000000 + i},
                      temp_c={f"z{k}": 30.0 + k + i / 1000 for k in range(9)},
                      thermal_status=1 if i == 500 else 0) for i in range(1000)]
    trace = downsample(samples, [(s.t_s, 1000.0) for s in samples])
    assert len(trace["t_s"]) == 200 and len(trace["freq_mhz"]["p0"]) == 200
    assert sorted(trace["temp_c"]) == [f"z{k}" for k in range(3, 9)]  # the 6 hottest zones
    assert max(trace["thermal_status"]) == 1  # one sample's excursion survives the bucket
    assert set(trace["power_mw"]) == {1000.0}


def test_window_keeps_samples_and_says_lost():
    log = SampleLog("test", settle_s=0.2)
    log.add(Sample(t_s=100.0, host_s=time.monotonic()))
    with log.window("timed") as window:
        log.add(Sample(t_s=100.0 + 0.05, host_s=time.monotonic()))
        log.mark_lost("the phone went away")
    assert window.lost == "the phone went away" and len(window.samples) >= 1
    assert summarize(window)["lost"] == "the phone went away"  # summarising never raises


def _powercap(root, energy_uj, range_uj=262143328850):
    for zone, name, value in (("intel-rapl:0", "package-0", energy_uj),
                              ("intel-rapl:0:0", "core", energy_uj // 2)):
        path = root / "sys/class/powercap" / zone
        path.mkdir(parents=True, exist_ok=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(f"{value}\n")
        (path / "max_energy_range_uj").write_text(f"{range_uj}\n")


def test_rapl_domains_and_why_unavailable(tmp_path):
    _powercap(tmp_path, 5_000_000)
    reader = RaplReader(tmp_path)
    assert reader.unavailable is None and reader.read() == {"package-0": 5e6, "package-0/core": 2.5e6}
    assert reader.range_uj["package-0"] == 262143328850
    assert "no /sys/class/powercap" in RaplReader(tmp_path / "vm").unavailable
    (tmp_path / "empty/sys/class/powercap").mkdir(parents=True)
    assert "no intel-rapl zone" in RaplReader(tmp_path / "empty").unavailable


def test_host_sampler_window_on_a_fake_tree(tmp_path):
    _powercap(tmp_path, 1_000_000)
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("x86_pkg_temp\n")
    (zone / "temp").write_text("48000\n")
    sampler = HostSampler(interval_s=0.02, root=tmp_path).start()
    with sampler.window("timed") as window:
        time.sleep(0.3)
        (tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj").write_text("1300000\n")
        time.sleep(0.2)
    sampler.stop()
    assert window.lost is None and len(window.samples) >= 5
    assert window.samples[0].temp_c == {"x86_pkg_temp": 48.0}
    assert window.samples[-1].energy_uj["package-0"] == 1.3e6
    assert window.energy_range_uj["package-0"] == 262143328850
    power = summarize(window, inferences=10)["power"]
    assert power["source"] == "rapl" and power["sources"]["rapl"]["counters"] == ["package-0"]
    # 0.3 J over the ~0.5 s window: the average is the counter's difference over the sampled span
    assert 300 < power["avg_power_mw"] < 2000
    assert 0 < sampler.cpu_s < sampler.wall_s
