"""The virtual phone's simulated physics on a fake clock: heat, status, throttling, battery, tools."""
from __future__ import annotations

import dataclasses
import math
import os
import threading
import time

import pytest

from harness.errors import UsageError
from harness.telemetry.power import battery_convention, battery_power_mw
from harness.telemetry.sample import Sample
from harness.virtual.device import DeviceState, Faults
from harness.virtual.fs import VirtualFS
from harness.virtual.physics import Physics
from harness.virtual.profile import load_profile
from harness.virtual.shell import IO, Shell
from harness.virtual.simulation import Simulation
from harness.virtual.toolspeed import scale_result

BIG = "/sys/class/thermal/thermal_zone2/temp"          # pixel8: zones from the thermalservice HAL
SKIN = "/sys/class/thermal/thermal_zone5/temp"
CPU8 = "/sys/devices/system/cpu/cpu8/cpufreq"
BATTERY = "/sys/class/power_supply/battery"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def phone():
    """pixel8's files with its physics on a clock the test moves."""
    made = []

    def make(name="pixel8", **simulation):
        profile = load_profile(name)
        if simulation:
            profile = dataclasses.replace(profile, simulation=Simulation(**simulation))
        fs = VirtualFS(profile)
        clock = Clock()
        physics = Physics(profile, fs, clock=clock)
        fs.dynamic = physics.read
        made.append(fs)
        return fs, physics, clock
    yield make
    for fs in made:
        fs.close()


def read(fs, path: str) -> str:
    return fs.read_bytes(path).decode().strip()


def test_idle_files_are_the_captures(phone):
    fs, physics, clock = phone("nexus4")
    clock.now += 60
    zones = fs._thermal_zones()
    temps = [read(fs, f"/sys/class/thermal/thermal_zone{n}/temp") for n in range(len(zones))]
    assert temps == [raw for _, raw in zones]  # the msm8953 capture's text, mixed units
    assert temps[:3] == ["25000", "-40", "31"]


def test_heats_towards_the_steady_state_and_cools_back(phone):
    fs, physics, clock = phone()
    tool = physics.start_tool(101, "benchmark_model", 4)
    clock.now += 20  # one time constant at 4 busy cores x 10 degC: 40 x (1 - 1/e)
    rise = 40 * (1 - math.exp(-1))
    assert int(read(fs, BIG)) / 1000 == pytest.approx(26 + rise, abs=0.05)
    assert int(read(fs, SKIN)) / 1000 == pytest.approx(24.833 + 0.5 * rise, abs=0.05)
    physics.end_tool(tool)
    clock.now += 100  # five time constants idle
    assert int(read(fs, BIG)) / 1000 == pytest.approx(26 + rise * math.exp(-5), abs=0.05)


def test_a_long_run_raises_the_status_and_throttles(phone):
    fs, physics, clock = phone()
    available = [int(f) for f in read(fs, f"{CPU8}/scaling_available_frequencies").split()]
    tool = physics.start_tool(102, "benchmark_model", 4)
    assert read(fs, f"{CPU8}/scaling_cur_freq") == "2914000"  # busy: the policy's max
    for _ in range(40):  # 40 s, read every second as a sampler would
        clock.now += 1
        read(fs, SKIN)
    assert physics.thermal_status() >= 1  # the skin passed 39 degC
    capped = int(read(fs, f"{CPU8}/scaling_cur_freq"))
    assert capped < 2914000 and capped in available
    dump = physics.dumpsys("thermalservice", physics.profile.captures["thermalservice"])
    assert f"Thermal Status: {physics.thermal_status()}" in dump
    assert "mName=BIG" in dump and "Temperature{mValue=26.0, mType=0, mName=BIG" not in dump
    physics.end_tool(tool)
    clock.now += 300
    assert physics.thermal_status() == 0
    assert read(fs, f"{CPU8}/scaling_cur_freq") == "500000"  # idle: the captured level again
    physics.start_tool(105, "benchmark_model", 1)
    assert read(fs, f"{CPU8}/scaling_cur_freq") == "2914000"  # cool and busy: no cap left


@pytest.mark.parametrize("convention, expected", [
    ({}, ("uA", "uV", "charge-positive")),
    ({"battery_current_unit": "mA", "battery_voltage_unit": "mV",
      "battery_current_sign": "discharge-positive"}, ("mA", "mV", "discharge-positive")),
])
def test_battery_files_in_the_vendor_convention_read_back_right(phone, convention, expected):
    fs, physics, clock = phone(**convention)
    samples = []

    def sample(t):
        clock.now += 0.05
        raw = {name: read(fs, f"{BATTERY}/{name}") for name in ("current_now", "voltage_now", "status")}
        samples.append(Sample(t_s=t, host_s=t, battery={"current_raw": int(raw["current_now"]),
                                                        "voltage_raw": int(raw["voltage_now"]),
                                                        "status": raw["status"]}))
    for t in range(10):
        sample(t * 0.05)
    idle = battery_power_mw(samples, battery_convention(samples))
    tool = physics.start_tool(103, "benchmark_model", 2)
    for t in range(10, 20):
        sample(t * 0.05)
    physics.end_tool(tool)
    found = battery_convention(samples)
    assert (found["current_unit"], found["voltage_unit"], found["sign"]) == expected
    busy = battery_power_mw(samples[10:], found)
    # idle ~180 mA, busy ~180 + 2 x 350 mA, at ~3.8 V: power drawn is positive either way
    assert 500 < sum(p for _, p in idle) / 10 < 900
    assert 2800 < sum(p for _, p in busy) / 10 < 3800


def test_tools_show_in_ps_pidof_and_proc_status(phone):
    profile = load_profile("pixel8")
    state = DeviceState(profile, Faults(), "SERIAL", lambda: None)
    try:
        tool = state.physics.start_tool(os.getpid(), "benchmark_model", 1)  # this process's memory
        out = []
        Shell(state, threading.Event()).run_script(
            f"pidof benchmark_model; ps -A | grep -c benchmark_model; "
            f"grep -E '^(Name|VmHWM)' /proc/{os.getpid()}/status; ls /proc",
            IO(b"", out.append, out.append))
        lines = b"".join(out).decode().splitlines()
        assert lines[:3] == [str(os.getpid()), "1", "Name:\tbenchmark_model"]
        assert lines[3].startswith("VmHWM:") and str(os.getpid()) in lines[4:]
        state.physics.end_tool(tool)
        assert not state.fs.exists(f"/proc/{os.getpid()}")
    finally:
        state.fs.close()


def test_a_tool_slowed_down_stays_visible_after_its_host_process_ended():
    """A slower phone's tool runs longer than the host process behind it (toolspeed.py waits out
    the difference): its /proc status stays, as the VmHWM watcher and the sampler's window expect."""
    import subprocess

    state = DeviceState(load_profile("pixel8"), Faults(), "SERIAL", lambda: None)
    try:
        child = subprocess.Popen(["sleep", "30"])
        tool = state.physics.start_tool(child.pid, "benchmark_model", 1)
        path = f"/proc/{child.pid}/status"
        alive = state.physics.read(path)
        assert b"VmHWM:" in alive
        child.kill()
        time.sleep(0.1)  # a zombie now: its status has no Vm* lines
        assert state.physics.read(path) == alive
        child.wait()
        assert state.physics.read(path) == alive  # the host process is gone, the tool is not
        state.physics.end_tool(tool)
        assert state.physics.read(path) is None and not state.fs.exists(path)
    finally:
        state.fs.close()


def test_slowdown_scales_each_iteration_at_its_time():
    speeds = [(0.0, 1.0), (1.0, 2.0)]  # throttled to half speed from t=1 s
    result = {"phases": [[300_000_000] * 3], "phase_start_s": [0.5], "load_ms": 10.0,
              "phase_wall_s": [0.9]}
    scaled, extra_s = scale_result(result, speeds)
    assert scaled["phases"] == [[300_000_000, 600_000_000, 600_000_000]]  # ends at 0.8, 1.1, 1.4 s
    assert extra_s == pytest.approx(0.6) and scaled["simulated_slowdown"] == 2.0
    assert scale_result(result, [(0.0, 1.0)]) == ({**result, "simulated_slowdown": 1.0}, 0.0)


def test_powersave_slows_the_phone(phone):
    fs, physics, clock = phone()
    fs.root_user = True
    physics.start_tool(104, "benchmark_model", 1)
    assert physics.speed_ratio() == 1.0
    fs.write_bytes(f"{CPU8}/scaling_governor", b"powersave\n")
    assert physics.speed_ratio() == pytest.approx(500000 / 2914000)  # pinned at its minimum


def test_bad_simulation_tables_are_usage_errors(tmp_path):
    for body, words in (("bogus = 1", "unknown key"), ('battery_current_unit = "A"', "must be one of"),
                        ("status_thresholds_c = [50, 40, 1, 2, 3, 4]", "ascending")):
        path = tmp_path / "bad.toml"
        path.write_text(f'extends = "pixel8"\n[simulation]\n{body}\n')
        with pytest.raises(UsageError, match=words):
            load_profile(str(path))
