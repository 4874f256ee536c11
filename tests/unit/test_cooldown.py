"""The cooldown gate's logic on a fake clock (harness/run/cooldown.py), its settings (config.py)
and the phone reading's parser (harness/devices/temperature.py)."""
from __future__ import annotations

import argparse
import math
from types import SimpleNamespace

import pytest

from harness.config import check_lab_table, cooldown_settings, parse_cooldown
from harness.devices.temperature import Reading, parse_poll
from harness.errors import UsageError
from harness.run.cooldown import (CooldownGate, Target, record_conditions, target_for,
                                  wait_until_cool)

PHONE = Target("battery", 34.0, 0, "device profile pixel8")


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def cooling_phone(clock: Clock, start_c=40.0, tau_s=5.0, status_until_s=3.0, status=2):
    """Battery relaxing from start_c towards 25 degC; thermal status until a time, then 0."""
    def read() -> Reading:
        t = clock.now
        return Reading(25 + (start_c - 25) * math.exp(-t / tau_s), 60.0, "BIG",
                       status if t < status_until_s else 0)
    return read


def test_a_hot_phone_makes_the_gate_wait_until_every_limit_holds():
    clock = Clock()
    result = wait_until_cool(cooling_phone(clock), PHONE, 120, clock=clock, sleep=clock.sleep)
    # battery 40 -> 34 needs 5 ln(15/9) = 2.55 s; the status falls at 3 s: cool at the 4th read
    assert result["waited_s"] == 3.0 and result["polls"] == 4
    assert result["start_c"] == 40.0 and result["end_c"] <= 34.0
    assert (result["status_start"], result["status_end"]) == (2, 0)
    assert result["hot"] is None and clock.sleeps == [1.0, 1.0, 1.0]
    conditions = record_conditions(result)
    assert conditions["hot_start"] is False and "hot_start_reason" not in conditions
    assert conditions["cooldown"]["target_c"] == 34.0
    assert conditions["cooldown"]["limits_from"] == "device profile pixel8"


def test_a_cooldown_that_never_comes_is_a_hot_start_at_the_timeout_never_a_hang():
    clock = Clock()
    read = cooling_phone(clock, start_c=45.0, tau_s=1000.0, status_until_s=1e9)
    result = wait_until_cool(read, PHONE, 2.5, clock=clock, sleep=clock.sleep)
    assert clock.now == 2.5 and clock.sleeps == [1.0, 1.0, 0.5]  # the last poll at the deadline
    conditions = record_conditions(result)
    assert conditions["hot_start"] is True
    assert conditions["hot_start_reason"].startswith("still battery 45.0 degC > 34 degC; "
                                                     "thermal status 2 > 0 after 2.5 s")
    assert conditions["cooldown"]["end_c"] == pytest.approx(44.95, abs=0.01)


def test_zero_timeout_reads_once_and_does_not_wait():
    clock = Clock()
    result = wait_until_cool(cooling_phone(clock), PHONE, 0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [] and result["polls"] == 1 and record_conditions(result)["hot_start"]


def test_a_cool_phone_passes_at_the_first_reading():
    clock = Clock()
    result = wait_until_cool(cooling_phone(clock, start_c=30, status=0), PHONE, 120, clock=clock,
                             sleep=clock.sleep)
    assert (result["waited_s"], result["polls"], clock.sleeps) == (0.0, 1, [])


def test_what_cannot_be_read_is_said_and_the_rest_still_holds():
    clock = Clock()
    old_phone = lambda: Reading(36.0 - clock.now, 40.0, "tsens", None)  # noqa: E731 (Android 5)
    result = wait_until_cool(old_phone, PHONE, 120, clock=clock, sleep=clock.sleep)
    assert result["waited_s"] == 2.0 and result["unchecked"] == "no thermal status"
    host = Target("hottest zone", 60.0, None, "edgelab's host default")
    skipped = wait_until_cool(lambda: Reading(None, None, None, None), host, 120, clock=clock,
                              sleep=clock.sleep)
    assert skipped["skipped"] == "nothing to wait for: no readable thermal zone"
    assert record_conditions(skipped) == {"cooldown": skipped}  # no hot_start either way


def test_limits_come_from_the_device_profile_unless_the_run_sets_them():
    pixel = target_for({"max_c": None, "status_max": None}, "virtual-android", {"profile": "pixel8"})
    assert pixel == Target("battery", 34.0, 0, "device profile pixel8")
    unknown = target_for({}, "android", {"profile": None})
    assert (unknown.max_c, unknown.status_max) == (34.0, 0) and "no device profile" in unknown.source
    given = target_for({"max_c": 37.5}, "android", {"profile": "pixel8"})
    assert (given.max_c, given.status_max) == (37.5, 0) and given.source.startswith("--cooldown")
    host = target_for({}, "host", {})
    assert (host.sensor, host.max_c, host.status_max) == ("hottest zone", 60.0, None)


def test_a_bad_profile_cooldown_table_names_the_file(monkeypatch):
    monkeypatch.setattr("harness.devices.probe.load_profiles",
                        lambda: {"p": {"cooldown": {"battery_max_c": "hot"}}, "q": {"cooldown": {"skin": 3}}})
    with pytest.raises(UsageError, match=r"p\.toml \[cooldown\] battery_max_c = 'hot'"):
        target_for({}, "android", {"profile": "p"})
    with pytest.raises(UsageError, match=r"unknown key\(s\) \['skin'\]"):
        target_for({}, "android", {"profile": "q"})


def test_the_gate_skips_when_off_or_without_a_reader_and_bounds_its_timeout():
    off = CooldownGate({"enabled": False}, 600)
    assert off.wait("x", None) == {"cooldown": {"skipped": "--cooldown=off"}}
    board = SimpleNamespace(info=SimpleNamespace(kind="qnx"), transport=None)
    assert CooldownGate({}, 600).wait("b", board)["cooldown"]["skipped"] == \
        "no temperature reader for qnx devices"
    assert CooldownGate({"timeout_s": 120.0}, 30).timeout_s == 30  # never beyond the run's timeout


def test_the_gate_reads_a_phone_through_its_transport_once_a_poll(monkeypatch):
    clock = Clock()
    texts = iter(["/sys/class/power_supply/battery/temp:380\nThermal Status: 1\n",
                  "/sys/class/power_supply/battery/temp:350\nThermal Status: 0\n",
                  "/sys/class/power_supply/battery/temp:339\nThermal Status: 0\n"])
    calls = []

    class Transport:
        def command(self, text, label=None):
            calls.append(label)
            return SimpleNamespace(stdout=next(texts), rc=0)

    phone = SimpleNamespace(info=SimpleNamespace(kind="virtual-android"), transport=Transport(),
                            profile=lambda: {"profile": "pixel8"})
    gate = CooldownGate({}, 600, clock=clock, sleep=clock.sleep)
    conditions = gate.wait("p", phone)
    assert calls == ["temperature"] * 3 and conditions["hot_start"] is False
    assert (conditions["cooldown"]["start_c"], conditions["cooldown"]["end_c"]) == (38.0, 33.9)
    assert conditions["cooldown"]["waited_s"] == 2.0


def test_poll_output_parsing():
    text = ("/sys/class/power_supply/battery/temp:221\n"
            "/sys/class/thermal/thermal_zone0/temp:45000\n/sys/class/thermal/thermal_zone1/temp:-40\n"
            "/sys/class/thermal/thermal_zone0/type:cpu-big\n/sys/class/thermal/thermal_zone1/type:pa\n"
            "Thermal Status: 3\n")
    assert parse_poll(text) == Reading(22.1, 45.0, "cpu-big", 3)
    assert parse_poll("") == Reading(None, None, None, None)
    assert parse_poll("/sys/class/power_supply/battery/temp:-400\n").battery_c is None


def test_cooldown_settings_from_both_front_doors():
    assert parse_cooldown("off") == {"enabled": False}
    assert parse_cooldown("36,status=1,timeout=300s") == {"enabled": True, "max_c": 36.0,
                                                          "status_max": 1, "timeout_s": 300.0}
    for bad in ("hot", "status=7", "timeout=x", "200"):
        with pytest.raises(argparse.ArgumentTypeError, match="--cooldown takes auto, off"):
            parse_cooldown(bad)
    lab = check_lab_table({"cooldown_max_c": 33, "cooldown_timeout_s": 60, "cooldown": "auto,timeout=90"})
    assert cooldown_settings(lab, None) == {"enabled": True, "max_c": None, "status_max": None,
                                            "timeout_s": 90.0}  # auto: the profile's limits
    assert cooldown_settings({"cooldown_max_c": 33.0}, parse_cooldown("timeout=5"))["max_c"] == 33.0
    with pytest.raises(UsageError, match=r"cooldown_status_max = 9: must be a thermal status"):
        check_lab_table({"cooldown_status_max": 9})
    with pytest.raises(UsageError, match=r"cooldown = true: must be auto, off, or MAX_C"):
        check_lab_table({"cooldown": True})



def test_an_iphone_is_waited_for_by_its_battery_and_says_it_has_no_thermal_status():
    clock = Clock()
    temps = iter([36.5, 35.0, 33.9])
    iphone = SimpleNamespace(info=SimpleNamespace(kind="ios"), transport=None,
                             profile=lambda: {},
                             sample=lambda: {"battery_temp_c": next(temps)})
    gate = CooldownGate({}, 600, clock=clock, sleep=clock.sleep)
    conditions = gate.wait("i", iphone)
    cooldown = conditions["cooldown"]
    assert (cooldown["start_c"], cooldown["end_c"], cooldown["polls"]) == (36.5, 33.9, 3)
    assert cooldown["sensor"] == "battery" and cooldown["unchecked"] == "no thermal status"
    assert conditions["hot_start"] is False
    silent = SimpleNamespace(info=SimpleNamespace(kind="ios"), transport=None, profile=lambda: {},
                             sample=lambda: {"telemetry_error": "not answering"})
    assert "nothing to wait for" in CooldownGate({}, 600).wait("s", silent)["cooldown"]["skipped"]
