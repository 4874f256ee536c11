"""iPhone telemetry, the pure parts: battery entries as samples, the power they give through the
same computations as Android's, the runner's loop placed on the host clock, and how a record
says what it could and could not judge."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.devices.ios_run import timed_marks
from harness.parsers import ios_battery
from harness.run.sampling import IOS_WINDOW, IOS_WINDOW_SEEN, timed_window
from harness.telemetry.ios import battery_sample
from harness.telemetry.power import battery_convention, battery_power_mw, charging_reason
from harness.telemetry.sample import SampleLog, Window
from harness.telemetry.summary import summarize
from harness.telemetry.throttle import detect_throttle

ON_BATTERY = {"Temperature": 3050, "Voltage": 4012, "InstantAmperage": -412,
              "IsCharging": False, "ExternalConnected": False, "CurrentCapacity": 81}


@pytest.mark.parametrize("entry, status", [
    (ON_BATTERY, "Discharging"),
    ({**ON_BATTERY, "ExternalConnected": True}, "Not charging"),  # USB power, battery full
    ({**ON_BATTERY, "ExternalConnected": True, "IsCharging": True}, "Charging"),
    ({"Voltage": 4012, "InstantAmperage": -412}, None),            # no word on power: unknown
])
def test_battery_entries_become_the_fields_android_samples_carry(entry, status):
    fields = ios_battery.sample_fields(entry)
    assert fields == {"current_raw": -412.0, "voltage_raw": 4012.0,
                      "temp_c": 30.5 if "Temperature" in entry else None, "status": status}


def test_an_entry_without_current_or_voltage_is_no_sample():
    assert battery_sample({"Temperature": 3050, "Voltage": 4012}, 1.0, 1.1) is None
    assert battery_sample(None, 1.0, 1.1) is None
    sample = battery_sample(ON_BATTERY, 1.0, 1.1)
    assert sample.temp_c == {"battery": 30.5} and sample.battery["status"] == "Discharging"


def test_ios_units_and_sign_are_found_like_any_phones_and_give_the_power_drawn():
    samples = [battery_sample({**ON_BATTERY, "InstantAmperage": -1062}, t, t) for t in (0, 1, 2)]
    convention = battery_convention(samples)
    assert (convention["current_unit"], convention["voltage_unit"], convention["sign"]) == \
        ("mA", "mV", "charge-positive")
    assert [round(p) for _, p in battery_power_mw(samples, convention)] == [4261] * 3


def test_an_iphone_on_usb_power_says_how_to_take_it_off_and_not_adbs_way():
    plugged = [battery_sample({**ON_BATTERY, "ExternalConnected": True}, t, t) for t in (0, 1)]
    reason = charging_reason(plugged, "ios")
    assert reason.startswith("battery status Not charging: a charger powers the phone")
    assert "Wi-Fi" in reason and "dumpsys" not in reason
    assert "dumpsys battery unplug" in charging_reason(plugged)  # Android's stays as it was
    window = Window("timed", 0.0, 2.0, 0.0, 2.0, samples=plugged, source="ios:0000")
    power = summarize(window, inferences=10)["power"]
    assert power["source"] is None and "Wi-Fi" in power["unavailable"]


def test_nothing_to_judge_a_throttle_from_is_not_judged():
    samples = [battery_sample(ON_BATTERY, t, t) for t in (0, 1, 2)]
    judged = detect_throttle(samples)
    assert judged["throttled"] is None and "no CPU frequency" in judged["reason"]


def test_the_runners_loop_is_placed_on_the_host_clock_through_the_phones_offset():
    # the phone's clock runs 2.75 s ahead; host monotonic = host unix - 1000
    clock = {"offset_s": 2.75, "rtt_s": 0.002, "monotonic_minus_unix_s": -1000.0}
    marks = timed_marks([1002.75 + 5.0, 1002.75 + 7.0], clock, [4.0, 4.5])
    assert marks["timed_monotonic_s"] == [5.0, 7.0]
    assert marks["phone_clock"]["uncertainty_s"] == 0.001
    assert marks["results_seen_monotonic_s"] == [4.0, 4.5]
    assert timed_marks(None, clock, None) == {}  # an older runner: no loop marks
    assert timed_marks([1.0, 2.0], None, [3.0, 3.5]) == {"results_seen_monotonic_s": [3.0, 3.5]}


def _log_with_samples():
    log = SampleLog("ios:0000", settle_s=0.0)
    for t in range(11):
        log.add(battery_sample(ON_BATTERY, float(t), float(t)))
    return log


def test_the_timed_window_of_an_iphone_cell():
    log, run = _log_with_samples(), Window("run", 0.0, 10.0)
    raw = SimpleNamespace(samples_ms=[500.0] * 4, extra={"timed_monotonic_s": [3.0, 5.0]})
    window, n, how = timed_window(log, run, raw, "ios")
    assert (window.host_start_s, window.host_end_s, n, how) == (3.0, 5.0, 4, IOS_WINDOW)
    # marks outside the run (a clock that did not map) are not trusted: when results were seen
    raw.extra = {"timed_monotonic_s": [30.0, 32.0], "results_seen_monotonic_s": [8.0, 9.0]}
    window, n, how = timed_window(log, run, raw, "ios")
    assert (window.host_start_s, window.host_end_s, how) == (7.0, 9.0, IOS_WINDOW_SEEN)
    raw.extra = {}
    window, n, how = timed_window(log, run, raw, "ios")
    assert window is run and "no loop marks" in how
