"""Governor sweeps end to end: `pytest suites/ --governor=...` against virtual phones behind the
real adb server, as a user runs it (a subprocess), and the repair of a killed run with
`python -m harness devices --restore`.

Each test has its own EDGELAB_CACHE, so the restore journals it makes and reads are its own.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from android_fixtures import model_cache  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CPUFREQ = "/sys/devices/system/cpu/cpu{}/cpufreq/{}"
FAST = ["--model=ppocr_cls", "--engine=onnxruntime", "--variant=fp32", "--warmup", "1"]


@pytest.fixture
def lab(adb_server, model_cache, tmp_path):  # noqa: F811
    """Environment for subprocess runs: the test adb server, a private cache holding the
    models and a virtual onnxruntime tool for arm64-v8a."""
    cache = tmp_path / "cache"
    shutil.copytree(model_cache / "models", cache / "models")
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_CACHE": str(cache)}
    for name in ("EDGELAB_ADB_START", "EDGELAB_ADB_CONNECT", "PYTEST_XDIST_WORKER",
                 "PYTEST_ADDOPTS"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "harness", "tools", "add-virtual", "--engine",
                    "onnxruntime", "--abi", "arm64-v8a"], env=env, check=True,
                   capture_output=True, cwd=REPO)
    return env


def suites(env, report_dir, *options, popen=False, iterations="3"):
    argv = [sys.executable, "-m", "pytest", "suites/", *FAST, "--iterations", iterations,
            "--report-dir", str(report_dir), "-p", "no:cacheprovider", "-q", *options]
    if popen:
        return subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


def policies(adb_server, serial, cpus=(0, 4, 8)) -> dict:
    """governor, min and max of each policy's first CPU, read through the real adb server."""
    out = {}
    for cpu in cpus:
        values = [adb_server.run("-s", serial, "shell", "cat", CPUFREQ.format(cpu, name)).stdout.strip()
                  for name in ("scaling_governor", "scaling_min_freq", "scaling_max_freq")]
        out[cpu] = tuple(values)
    return out


def pin(adb_server, serial, cpu, khz):
    for name in ("scaling_max_freq", "scaling_min_freq"):
        adb_server.run("-s", serial, "shell", f"echo {khz} > {CPUFREQ.format(cpu, name)}", check=True)


def records_of(report_dir) -> list[dict]:
    found = list(Path(report_dir).glob("*/results.jsonl"))
    if not found:
        return []
    return [json.loads(line) for line in found[0].read_text().splitlines() if line.endswith("}")]


def uptime_reads(phone) -> list[float]:
    """When the phone's /proc/uptime was read: the telemetry sampler reads it every sample."""
    physics, log = phone.state.physics, []
    original = physics._readers["/proc/uptime"]

    def logged():
        log.append(time.monotonic())
        return original()
    physics._readers["/proc/uptime"] = logged
    return log


def governor_writes(phone) -> list[tuple[str, str]]:
    """Log every cpufreq write the virtual phone's kernel stand-in takes."""
    fs, log = phone.state.fs, []
    original = fs._write_cpufreq

    def logged(path, value):
        log.append((path.rsplit("/", 3)[-3] + "/" + path.rsplit("/", 1)[-1], value,
                    time.monotonic()))
        return original(path, value)
    fs._write_cpufreq = logged
    return log


@pytest.mark.parametrize("workers", [(), ("-n", "2", "--dist", "loadgroup")],
                         ids=["serial", "xdist"])
def test_rooted_phone_sweep_records_each_governor_and_restores_every_policy(
        virtual_phone, adb_server, lab, tmp_path, capsys, workers):
    phone = virtual_phone("pixel8")
    pin(adb_server, phone.serial, 4, 1197000)  # limits an earlier tool left: put back as found
    before = policies(adb_server, phone.serial)
    assert before[4] == ("sched_pixel", "1197000", "1197000")
    writes = governor_writes(phone)
    started = time.monotonic()
    run = suites(lab, tmp_path / "reports", f"--device={phone.serial}",
                 "--governor=performance,powersave", "-vv", *workers)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for suite in ("compat", "latency"):
        for governor in ("performance", "powersave"):
            test_id = f"test_{suite}[{phone.serial}-ppocr_cls-fp32-onnxruntime-{governor}]"
            assert any(test_id in line and "PASSED" in line for line in run.stdout.splitlines())
    records = records_of(tmp_path / "reports")
    assert [(r["suite"], r["conditions"]["governor_requested"]) for r in records] == [
        ("compat", "performance"), ("latency", "performance"),
        ("compat", "powersave"), ("latency", "powersave")]  # grouped across the suite files
    for r in records:
        governor = r["conditions"]["governor_requested"]
        assert r["status"] == "ok" and r["conditions"]["governor"] == governor
        assert r["conditions"]["governors_observed"] == dict.fromkeys(
            ("policy0", "policy4", "policy8"), governor)
        assert r["conditions"]["freq_limits_khz"]["policy4"] == [402000, 2367000]  # whole range
        assert r["conditions"]["applied"] == ["governors"]

    assert policies(adb_server, phone.serial) == before  # every policy back to its snapshot
    assert not list((Path(lab["EDGELAB_CACHE"]) / "journal").glob("*.json"))
    governor_sets = [value for path, value, _ in writes if path.endswith("scaling_governor")]
    # one apply and one restore per governor for the three policies, not one per cell
    assert governor_sets == ["performance"] * 3 + ["sched_pixel"] * 3 + ["powersave"] * 3 + \
        ["sched_pixel"] * 3
    # raising a pinned policy: max before min, and back to the pinned values on restore
    cpu4 = [(p, v) for p, v, _ in writes if p.startswith("cpu4/") and "freq" in p]
    assert cpu4[:2] == [("cpu4/scaling_max_freq", "2367000"), ("cpu4/scaling_min_freq", "402000")]

    from harness.report.model import build_model

    model = build_model(next((tmp_path / "reports").glob("*/results.jsonl")).parent)
    assert model["governor"]["present"]
    spec = model["tables"]["latency"]
    keys = [c["key"] for c in spec["columns"]]
    assert sorted(dict(zip(keys, row))["governor"] for row in spec["rows"]) == ["performance", "powersave"]
    with capsys.disabled():
        print(f"\nrooted sweep ({'xdist' if workers else 'serial'}, 4 cells, 2 governors): "
              f"{took:.1f} s; cpufreq writes: {len(writes)}")


def test_each_phone_is_restored_when_its_cells_end_not_at_session_end(
        virtual_phone, adb_server, lab, tmp_path):
    first, second = virtual_phone("pixel8"), virtual_phone("mate20")
    before = {p.serial: policies(adb_server, p.serial, cpus=(0, 4)) for p in (first, second)}
    writes = {p.serial: governor_writes(p) for p in (first, second)}
    reads = {p.serial: uptime_reads(p) for p in (first, second)}
    run = suites(lab, tmp_path / "reports", f"--device={first.serial},{second.serial}",
                 "--governor=powersave")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    records = records_of(tmp_path / "reports")
    assert [(r["device"]["id"], r["suite"]) for r in records] == [
        (first.serial, "compat"), (first.serial, "latency"),
        (second.serial, "compat"), (second.serial, "latency")]  # device by device across suites
    assert all(r["conditions"]["governors_observed"]["policy4"] == "powersave" for r in records)
    restored_first = max(t for _, _, t in writes[first.serial])
    applied_second = min(t for _, _, t in writes[second.serial])
    assert restored_first < applied_second
    # its telemetry sampler stopped with it (run/sampling.py), not at session end
    assert reads[first.serial] and max(reads[first.serial]) < restored_first + 1.0
    assert max(reads[second.serial]) > applied_second
    assert {serial: policies(adb_server, serial, cpus=(0, 4)) for serial in before} == before


def test_unrooted_phone_governors_unsupported_and_fixed_performance_works(
        virtual_phone, adb_server, lab, tmp_path):
    phone = virtual_phone("pixel8_user")
    before = policies(adb_server, phone.serial)
    run = suites(lab, tmp_path / "reports", f"--device={phone.serial}",
                 "--governor=performance,fixed-performance")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    records = records_of(tmp_path / "reports")
    refused = [r for r in records if r["conditions"]["governor_requested"] == "performance"]
    fixed = [r for r in records if r["conditions"]["governor_requested"] == "fixed-performance"]
    assert len(refused) == len(fixed) == 2
    for r in refused:
        assert r["status"] == "unsupported"
        assert r["reason"] == (
            "governor performance: setting governors needs root: adbd runs as uid=2000(shell); "
            "no su; adb root is refused on a user build (ro.debuggable=0); without root this "
            "phone offers --governor=fixed-performance (cmd power "
            "set-fixed-performance-mode-enabled true)")
    for r in fixed:
        assert r["status"] == "ok" and r["conditions"]["fixed_performance"] is True
        assert r["conditions"]["applied"] == ["fixed_performance"]
        assert set(r["conditions"]["governors_observed"].values()) == {"sched_pixel"}
    # set once for both suites' cells, restored to false at the end; governors never touched
    assert phone.state.power_log == [("fixed_performance", True), ("fixed_performance", False)]
    assert policies(adb_server, phone.serial) == before


def test_a_governor_no_device_offers_is_a_usage_error(virtual_phone, lab, tmp_path):
    phone = virtual_phone("pixel8")
    run = suites(lab, tmp_path / "reports", f"--device={phone.serial}", "--governor=ondemand")
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    assert (f"--governor: ondemand is offered by no device ({phone.serial}: conservative, "
            f"performance, powersave, sched_pixel, schedutil); default and fixed-performance "
            f"are valid everywhere") in run.stderr


def _kill_after_first_record(proc, report_dir, sig) -> list[dict]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        records = records_of(report_dir)
        if records:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=120)
            return records
        time.sleep(0.05)
    pytest.fail(f"no record before the run ended: {proc.communicate()[0][-3000:]}")


def test_sigterm_restores_and_sigkill_is_repaired_by_devices_restore(
        virtual_phone, adb_server, lab, tmp_path, capsys):
    phone = virtual_phone("pixel8")
    pin(adb_server, phone.serial, 8, 1200000)
    before = policies(adb_server, phone.serial)
    journals = Path(lab["EDGELAB_CACHE"]) / "journal"
    options = (f"--device={phone.serial}", "--governor=performance,powersave")

    proc = suites(lab, tmp_path / "term", *options, popen=True, iterations="3000")
    first = _kill_after_first_record(proc, tmp_path / "term", signal.SIGTERM)
    assert first[0]["conditions"]["governor_requested"] == "performance"
    assert proc.returncode != 0
    assert policies(adb_server, phone.serial) == before  # restored on the Ctrl-C path
    assert not list(journals.glob("*.json"))

    proc = suites(lab, tmp_path / "kill", *options, popen=True, iterations="3000")
    _kill_after_first_record(proc, tmp_path / "kill", signal.SIGKILL)
    left = policies(adb_server, phone.serial)
    assert {g for g, _, _ in left.values()} == {"performance"} and left[8][1:] != before[8][1:]
    (journal,) = journals.glob("*.json")
    assert json.loads(journal.read_text())["device"]["id"] == phone.serial

    harness = [sys.executable, "-m", "harness", "devices"]
    listed = subprocess.run(harness + ["--no-probe"], env=lab, cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert (f"restore journal: {phone.serial}: governors changed; left by pid {proc.pid}"
            in listed.stdout), listed.stdout
    started = time.monotonic()
    repaired = subprocess.run(harness + ["--restore", phone.serial], env=lab, cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"{phone.serial}: restored governors left by a run that died (pid {proc.pid}" in repaired.stdout
    assert policies(adb_server, phone.serial) == before  # every policy back, limits included
    assert not journal.exists()
    again = subprocess.run(harness + ["--restore"], env=lab, cwd=REPO, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and "nothing to restore" in again.stdout
    with capsys.disabled():
        print(f"\ndevices --restore after SIGKILL: {took:.2f} s (process start included)")
