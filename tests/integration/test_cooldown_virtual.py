"""The cooldown gate against virtual phones through the real adb server: a phone that starts hot
(profile ``[simulation] initial_rise_c``, SIMULATED) makes the gate wait and then pass; one that
cools too slowly is measured anyway and recorded ``hot_start``. And ``--cooldown`` through pytest
on the host, as a user runs it."""
from __future__ import annotations

from pathlib import Path

import pytest
from android_fixtures import (adb_env, discovered, model_cache, models,  # noqa: F401 (fixtures)
                              virtual_tools)

from harness.devices.android import AndroidDevice
from harness.run.cooldown import CooldownGate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def hot_profile(tmp_path: Path, rise_c: float, time_constant_s: float) -> str:
    """pixel8 still hot from earlier use: CPU zones rise_c above their captures (SIMULATED)."""
    path = tmp_path / f"pixel8_hot_{int(rise_c)}_{int(time_constant_s)}.toml"
    path.write_text(f'extends = "pixel8"\n\n[simulation]\ninitial_rise_c = {rise_c}\n'
                    f'time_constant_s = {time_constant_s}\n')
    return str(path)


def test_a_hot_phone_makes_the_gate_wait_then_pass(virtual_phone, adb_env, tmp_path, capsys):
    # rise 70: battery 22.1 + 0.25 x 70 = 39.6 degC, skin 59.8 (status 6); cooling with tau 8 s
    phone = virtual_phone(hot_profile(tmp_path, 70, 8))
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    conditions = CooldownGate({"enabled": True, "timeout_s": 60.0}, 600).wait(phone.serial, device)
    cool = conditions["cooldown"]
    assert conditions["hot_start"] is False
    assert cool["start_c"] > 34.0 >= cool["end_c"] and cool["target_c"] == 34.0
    assert cool["status_start"] >= 4 and cool["status_end"] == 0
    # the status falls to 0 below 39 - 2 degC skin: rise < 24.3, i.e. 8 ln(70/24.3) = 8.5 s after
    # the phone started (discovery and the probe took some of that)
    assert 3.0 < cool["waited_s"] < 12.0 and cool["polls"] >= 4
    assert cool["limits_from"] == "device profile pixel8"
    with capsys.disabled():
        print(f"\ncooldown on a hot virtual pixel8: waited {cool['waited_s']} s in {cool['polls']} "
              f"readings, battery {cool['start_c']} -> {cool['end_c']} degC (target "
              f"{cool['target_c']}), status {cool['status_start']} -> {cool['status_end']}, "
              f"hottest zone {cool['hottest_start_c']} -> {cool['hottest_end_c']} degC")


def test_a_phone_that_does_not_cool_in_time_is_measured_and_marked_hot_start(
        virtual_phone, adb_env, models, virtual_tools, model_cache, tmp_path, monkeypatch):
    from harness.config import DEFAULTS, RunConfig
    from harness.results.store import RunStore
    from harness.run.cases import BenchCase
    from harness.run.measure import CellRunner

    monkeypatch.setattr("harness.engines.device_tools.ToolCache", lambda: virtual_tools)
    phone = virtual_phone(hot_profile(tmp_path, 60, 300))  # tau 300 s: far slower than the wait
    info = discovered([phone.serial])[phone.serial]
    config = RunConfig(rootdir=REPO, run_id="cooldown-test", warmup=1, iterations=3,
                       cache_dir=model_cache, cooldown={"enabled": True, "timeout_s": 1.5},
                       noise={k: float(DEFAULTS[k]) for k in
                              ("noise_other_cpu_pct", "noise_tail_ratio", "noise_cv")})
    runner = CellRunner(config, {n: s for n, (s, _) in models.items()},
                        {n: p for n, (_, p) in models.items()}, RunStore(tmp_path / "run").create())
    record = runner.run(BenchCase(info, "face_landmark", "fp32", "tflite"), "latency",
                        runner.settings(), "hot-cell")
    assert record.status == "ok" and record.latency["mean_ms"] > 0  # measured anyway
    assert record.conditions["hot_start"] is True
    reason = record.conditions["hot_start_reason"]
    assert reason.startswith("still battery 3") and "degC > 34 degC; thermal status 5 > 0" in reason
    cool = record.conditions["cooldown"]
    assert 1.5 <= cool["waited_s"] < 3.5 and cool["end_c"] > 34.0 and cool["timeout_s"] == 1.5
    print(f"\nhot start on a virtual pixel8 (tau 300 s, timeout 1.5 s): {reason}")
    # compat cells do not wait: their latency is not the point
    compat = runner.run(BenchCase(info, "face_landmark", "fp32", "tflite"), "compat",
                        runner.settings(), "hot-compat")
    assert "cooldown" not in compat.conditions and "hot_start" not in compat.conditions


def test_cooldown_option_reaches_the_host_records(tmp_path, model_files):
    from tests.conftest import read_records, run_pytest

    args = ["suites/test_latency.py", "--device=host", "--iterations=3", "--warmup=1",
            "--engine=onnxruntime", "--variant=fp32", "--model=ppocr_cls"]
    proc = run_pytest([*args, "--cooldown=30,timeout=1", "--report-dir", str(tmp_path / "on")])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    (record,) = read_records(next(p for p in (tmp_path / "on").iterdir() if p.is_dir() and not p.is_symlink()))
    cool = record["conditions"]["cooldown"]
    if "skipped" in cool:  # a VM or container: no thermal zones, nothing to wait for
        assert cool["skipped"] == "nothing to wait for: no readable thermal zone"
        assert "hot_start" not in record["conditions"]
    else:  # bare metal: judged by the hottest zone against the 30 degC given, 1 s at most
        assert cool["target_c"] == 30.0 and cool["waited_s"] <= 1.5
        assert record["conditions"]["hot_start"] == (cool["end_c"] > 30.0)
    proc = run_pytest([*args, "--cooldown=off", "--report-dir", str(tmp_path / "off")])
    (record,) = read_records(next(p for p in (tmp_path / "off").iterdir() if p.is_dir() and not p.is_symlink()))
    assert record["conditions"]["cooldown"] == {"skipped": "--cooldown=off"}
    bad = run_pytest([*args, "--cooldown=hot", "--report-dir", str(tmp_path / "bad")])
    assert bad.returncode == 4 and "--cooldown takes auto, off, or MAX_C" in bad.stdout + bad.stderr
