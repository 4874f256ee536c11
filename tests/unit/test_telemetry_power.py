"""Battery units and sign, charging, energy counters, energy per inference and its interval."""
from __future__ import annotations

import random

import pytest

from harness import parsers
from harness.telemetry.energy import batch_se, energy_per_inference, mean_power_mw
from harness.telemetry.power import (battery_convention, battery_power_mw, charging_reason,
                                     counter_delta, counter_keys, counter_power_mw)
from harness.telemetry.sample import Sample


def _window(currents, voltage, status="Discharging", dt=0.05):
    return [Sample(t_s=i * dt, host_s=i * dt, battery={"current_raw": c, "voltage_raw": voltage,
                                                       "temp_c": 30.0, "status": status})
            for i, c in enumerate(currents)]


@pytest.mark.parametrize("currents, voltage, expected, power_mw", [
    # Pixel-like: uA, uV, charge-positive (discharging is negative), 1.5 A at 3.8 V
    ([-1_500_000] * 5, 3_800_000, ("uA", "uV", "charge-positive"), 5700.0),
    # many Qualcomm kernels: uA, uV, discharge-positive
    ([1_500_000] * 5, 3_800_000, ("uA", "uV", "discharge-positive"), 5700.0),
    # Samsung-like: mA and mV, discharge-positive
    ([1500] * 5, 3800, ("mA", "mV", "discharge-positive"), 5700.0),
    # mA with charge-positive sign
    ([-450] * 5, 4312, ("mA", "mV", "charge-positive"), 450 * 4.312),
])
def test_units_and_sign_from_magnitude_and_status(currents, voltage, expected, power_mw):
    samples = _window(currents, voltage)
    convention = battery_convention(samples)
    assert (convention["current_unit"], convention["voltage_unit"], convention["sign"]) == expected
    assert "5 of 5 samples" in convention["evidence"]
    assert [p for _, p in battery_power_mw(samples, convention)] == pytest.approx([power_mw] * 5)


def test_while_charging_the_sign_flips_and_power_is_invalid():
    samples = _window([1_200_000] * 4, 4_300_000, status="Charging")  # charge-positive phone
    assert battery_convention(samples)["sign"] == "charge-positive"
    assert "Charging" in charging_reason(samples)
    assert charging_reason(_window([-1] * 3, 3_800_000)) is None


def test_real_samsung_dump_full_and_plugged_is_not_a_draw(device_data):
    # the Samsung capture: USB powered, status 5 (Full), "current now: 0", voltage 4312 mV
    dump = parsers.parse("battery", (device_data / "battery/"
                         "dumpsys_battery_samsung_extended_zebrunner150.txt").read_text())
    status = {5: "Full"}[dump["status"]]
    samples = _window([0, 0, 0], dump["voltage_mv"], status=status)
    convention = battery_convention(samples)
    assert convention["voltage_unit"] == "mV" and convention["current_unit"] == "mA"
    assert "assumed" in convention["evidence"]  # no discharging/charging sample to tell the sign
    assert "Full" in charging_reason(samples)


def test_no_battery_readings():
    assert battery_convention([Sample(t_s=0, host_s=0)])["found"] is False


def test_counters_wrap_and_sum():
    assert counter_delta(100, 250, None) == 150
    assert counter_delta(262_143_000_000 - 50, 100, 262_143_000_000) == 150  # RAPL wrapped once
    assert counter_delta(500, 100, None) == 0.0  # a reset without a known range: no energy
    samples = [Sample(t_s=t, host_s=t, energy_uj={"package-0": e, "package-0/core": e / 2,
                                                   "dram": 10 * t})
               for t, e in ((0.0, 1_000_000), (0.5, 2_000_000), (1.0, 3_000_000))]
    keys = counter_keys(samples, "host")
    assert keys == ["dram", "package-0"]  # subzones are inside their package: not added again
    assert [p for _, p in counter_power_mw(samples, ["package-0"])] == [2000.0, 2000.0]
    assert counter_keys([Sample(0, 0, energy_uj={"psys": 1, "package-0": 1})], "host") == ["psys"]
    rails = [Sample(0, 0, energy_uj={"S2M_VDD_CPUCL2": 0, "VSYS_PWR_DISPLAY": 0})]
    assert counter_keys(rails, "android") == ["S2M_VDD_CPUCL2", "VSYS_PWR_DISPLAY"]


def test_energy_per_inference_subtracts_idle_power():
    idle = [(i * 0.05, 500.0) for i in range(40)]
    timed = [(2 + i * 0.05, 1500.0) for i in range(200)]
    result = energy_per_inference(timed, idle, window_s=10.0, inferences=100)
    # (1500 mW - 500 mW) x 10 s / 100 = 100 mJ, exactly: constant power has no spread
    assert result["energy_per_inference_mj"] == pytest.approx(100.0)
    assert result["ci95_mj"] == pytest.approx([100.0, 100.0])
    assert result["idle_subtracted"] and result["energy_timed_mj"] == pytest.approx(15000.0)
    assert "batch means" in result["method"]


def test_confidence_interval_covers_the_true_value_with_noise():
    rnd = random.Random(3)
    covered = 0
    for _ in range(40):
        idle = [(i * 0.05, 500 + rnd.gauss(0, 40)) for i in range(60)]
        timed = [(i * 0.05, 1500 + rnd.gauss(0, 80)) for i in range(200)]
        low, high = energy_per_inference(timed, idle, 10.0, 100)["ci95_mj"]
        covered += low <= 100.0 <= high
    assert covered >= 34  # ~95% of 40 intervals contain the truth (binomial slack)


def test_gross_energy_without_idle_and_no_interval_from_few_samples():
    result = energy_per_inference([(0, 1000.0), (1, 1000.0)], None, 1.0, 10)
    assert result["idle_subtracted"] is False and result["energy_per_inference_mj"] == 100.0
    assert result["ci95_mj"] is None and "too few samples" in result["ci_note"]
    assert energy_per_inference([], None, 1.0, 10)["energy_per_inference_mj"] is None


def test_mean_power_is_time_weighted_and_batch_se_sees_autocorrelation():
    assert mean_power_mw([(0, 100.0), (1, 100.0), (3, 400.0)]) == pytest.approx(
        (100 * 1 + 250 * 2) / 3)
    rnd = random.Random(5)
    iid = [(i, rnd.gauss(0, 1)) for i in range(300)]
    walk, level = [], 0.0
    for i in range(300):  # slow drifts, as frequency steps make: neighbours agree
        level += rnd.gauss(0, 0.3)
        walk.append((i, level))
    assert batch_se(walk)[0] > 3 * batch_se(iid)[0]
