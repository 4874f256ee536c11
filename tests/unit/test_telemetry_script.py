"""The on-device sampler script: planned from real captures, run by real shells.

mksh is Android's /system/bin/sh; dash stands in for busybox ash (both POSIX sh without bash
extensions). The script reads a fake sysfs tree in tmp_path: the plan's paths point there, the
rest (loops, ``read -r v < FILE``, ``&&``, fractional ``sleep``, quoting) is what a phone runs.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from harness import parsers
from harness.parsers.sampler_stream import parse
from harness.telemetry.script import BATTERY_FILES, SamplerPlan, build_script, plan_from_probe, \
    script_path


def _pixel8_plan(device_data) -> SamplerPlan:
    freq = parsers.parse("cpufreq", (device_data / "cpufreq/google_tensor_g3_pixel8.txt").read_text())
    thermal = parsers.parse("thermal", (device_data / "thermal/"
                            "sysfs_cat_temp_then_type_qualcomm_msm8953_mixed_units_aliyun_blog.txt").read_text())
    battery = "\n".join(f"/sys/class/power_supply/battery/{name}: 1" for *_, name in BATTERY_FILES)
    return plan_from_probe(freq, thermal, battery, [], "Thermal Status: 0\n",
                           {"sleep-fraction", "timeout"})


def test_plan_from_real_captures(device_data):
    plan = _pixel8_plan(device_data)
    assert plan.policies == tuple((f"policy{n}", f"/sys/devices/system/cpu/cpu{n}/cpufreq/"
                                                 "scaling_cur_freq") for n in (0, 4, 8))
    zones = {name: (path.split("/")[-2], factor) for name, path, factor in plan.zones}
    # msm8953 mixes units: tenths (tsens, per sensor_info), millidegrees (bms), whole degrees (xo)
    assert zones["tsens_tz_sensor9"][1] == 10 and zones["bms"] == ("thermal_zone0", 1000)
    assert zones["xo_therm"][1] == 1
    assert "pa_therm1" not in zones  # -40: an unplugged thermistor, not a temperature
    assert plan.battery_files == ("current_now", "voltage_now", "temp", "status")
    assert plan.thermalservice and plan.fractional_sleep and plan.timeout and not plan.notes


def test_plan_says_what_is_missing():
    plan = plan_from_probe({}, {}, "", [], "", set())
    assert not (plan.policies or plan.zones or plan.battery_files or plan.thermalservice)
    assert len(plan.notes) == 5 and any("whole seconds" in n for n in plan.notes)
    assert "sleep 1\n" in build_script(plan, 0.04, 20)  # no fractional sleep: 1 Hz, said so


def _fake_sysfs(tmp_path) -> SamplerPlan:
    cpu = tmp_path / "cpu0"
    cpu.mkdir()
    (cpu / "scaling_cur_freq").write_text("1704000\n")
    zone = tmp_path / "zone'0 x"  # a quote and a space: every path must be quoted
    zone.mkdir()
    (zone / "temp").write_text("309\n")
    return SamplerPlan(policies=(("policy0", str(cpu / "scaling_cur_freq")),),
                       zones=(("it's hot", str(zone / "temp"), 10),
                              ("gone", str(tmp_path / "missing" / "temp"), 1000)),
                       thermalservice=False)


@pytest.mark.parametrize("shell", ["mksh", "dash"])
def test_real_shells_run_the_script(tmp_path, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed (`make system-deps` installs mksh)")
    script = tmp_path / "sampler.sh"
    script.write_text(build_script(_fake_sysfs(tmp_path), 0.02, 5))
    run = subprocess.Popen([shell, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = run.communicate(timeout=0.6)
    except subprocess.TimeoutExpired:
        run.kill()
        out, err = run.communicate()
    assert err == b""  # an unreadable file is skipped silently, not reported per sample
    result = parse(out.decode())
    assert len(result["samples"]) >= 5, out.decode()[:500]
    sample = result["samples"][-1]
    assert sample["freq_khz"] == {"policy0": 1704000}
    assert sample["temp_c"] == {"it's hot": 30.9}  # the missing zone is simply absent
    assert sample["t_s"] > 0 and result["ignored_lines"] == 0


def test_script_is_named_by_its_content(device_data):
    plan = _pixel8_plan(device_data)
    one, other = build_script(plan, 0.04, 20), build_script(plan, 0.05, 20)
    assert script_path(one) == script_path(one) != script_path(other)
    assert script_path(one).startswith("/data/local/tmp/edgelab/sampler-")
    assert "dumpsys thermalservice 2>/dev/null | grep 'Thermal Status:'" in one
