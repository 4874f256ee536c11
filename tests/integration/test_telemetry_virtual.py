"""The streaming sampler against a virtual phone through the real adb server, and the host sampler.

What runs on the phone side is the harness's own sh script, in the virtual phone's shell; the
temperatures, battery current and throttling it reads are simulated (harness/virtual/physics.py).
"""
from __future__ import annotations

import re
import threading
import time

from harness.devices.adb_transport import AdbTransport
from harness.telemetry import HostSampler, StreamingSampler, summarize

TMP = "/data/local/tmp"


def _sampler(adb_server, phone) -> StreamingSampler:
    transport = AdbTransport(phone.serial, address=("127.0.0.1", adb_server.port))
    return StreamingSampler(transport).start()


def _phone_loops() -> list[threading.Thread]:
    """The virtual phone's shell streams still running (it serves in this process)."""
    return [t for t in threading.enumerate() if t.name.startswith("adbd-shell") and t.is_alive()]


def _wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_one_stream_samples_at_rate_and_is_pushed_once(adb_server, virtual_phone):
    phone = virtual_phone("pixel8")
    sampler = _sampler(adb_server, phone)
    with sampler.window("idle") as window:
        time.sleep(3)
    sampler.stop()
    assert sampler.lost is None and window.lost is None
    # adb round trips cost ~24 ms each, a dozen files per sample: streaming is what reaches this
    assert window.rate_hz >= 12, window.summary()
    sample = window.samples[-1]
    assert sample.freq_khz == {"policy0": 1197000, "policy4": 2130000, "policy8": 500000}
    assert set(sample.temp_c) == {"TPU", "G3D", "BIG", "LITTLE", "MID", "VIRTUAL-SKIN", "battery"}
    assert sample.battery["status"] == "Discharging" and sample.battery["current_raw"] < 0
    assert any(s.thermal_status == 0 for s in window.samples)  # dumpsys every 20 samples
    assert _wait_until(lambda: not _phone_loops(), 3), "the loop outlived its closed stream"
    again = _sampler(adb_server, phone)
    again.stop()
    listing = adb_server.run("-s", phone.serial, "shell", f"ls {TMP}/edgelab").stdout.split()
    assert len(listing) == 1 and listing[0].startswith("sampler-")  # pushed once, then reused


def test_temperature_rises_while_a_tool_runs(adb_server, virtual_phone, stub_dir, model_files):
    phone = virtual_phone("pixel8")
    for local in (stub_dir / "arm64-v8a" / "benchmark_model", model_files["face_landmark"]):
        assert adb_server.run("-s", phone.serial, "push", str(local), f"{TMP}/").returncode == 0
    sampler = _sampler(adb_server, phone)
    with sampler.window("idle") as idle:
        time.sleep(1.5)
    with sampler.window("timed") as timed:
        run = adb_server.run("-s", phone.serial, "shell",
                             f"{TMP}/benchmark_model --graph={TMP}/face_landmark.tflite "
                             "--num_threads=1 --num_runs=1 --warmup_runs=1 --min_secs=4 "
                             "--warmup_min_secs=0", timeout=90)
    sampler.stop()
    assert run.returncode == 0, run.stderr
    count = int(re.search(r"^count=(\d+)", run.stdout.split("Running benchmark for at least")[-1],
                          re.M).group(1))
    summary = summarize(timed, idle, inferences=count)
    idle_temps = summarize(idle)["temps"]
    assert idle_temps["end_c"] - idle_temps["start_c"] < 0.2  # idle: flat
    assert summary["temps"]["end_c"] - summary["temps"]["start_c"] >= 1.0, summary["temps"]
    power = summary["power"]
    assert power["source"] == "battery" and power["avg_power_mw"] > 1.5 * power["idle_power_mw"]
    assert power["energy_per_inference_mj"] > 0
    assert power["sources"]["battery"]["convention"]["sign"] == "charge-positive"
    assert summary["throttle"]["throttled"] is False  # 1 thread for a few seconds stays cool
    assert len(summary["trace"]["t_s"]) <= 200 and summary["trace"]["power_mw"]


def test_a_stream_killed_mid_run_says_lost_and_keeps_its_samples(adb_server, virtual_phone):
    phone = virtual_phone("nexus4")  # Android 5.1: no thermalservice, sysfs zones in mixed units
    sampler = _sampler(adb_server, phone)
    with sampler.window("timed") as window:
        time.sleep(1.0)
        adb_server.run("disconnect", phone.serial)  # the cable is pulled mid-measurement
        time.sleep(0.5)
    sampler.stop()
    assert window.lost and "sampler stream lost after" in window.lost
    assert len(window.samples) >= 8 and window.samples[-1].temp_c["tsens_tz_sensor9"] == 30.9
    assert summarize(window)["lost"] == window.lost  # the summary carries it, never raises
    assert _wait_until(lambda: not _phone_loops(), 3), "the loop outlived its closed stream"


def test_a_sampler_that_cannot_start_says_why(adb_server):
    transport = AdbTransport("127.0.0.1:1", address=("127.0.0.1", adb_server.port))
    sampler = StreamingSampler(transport).start()
    with sampler.window("timed") as window:
        pass
    sampler.stop()
    assert window.lost.startswith("sampler did not start:") and window.samples == []


def test_host_window_has_rapl_energy_or_the_reason(tmp_path):
    sampler = HostSampler(interval_s=0.05).start()
    with sampler.window("timed") as window:
        time.sleep(0.5)
    sampler.stop()
    assert window.lost is None and len(window.samples) >= 5
    assert all(s.cpu_pct is not None for s in window.samples[1:])
    power = summarize(window, inferences=1, unavailable=sampler.rapl_unavailable)["power"]
    if sampler.rapl_unavailable is None:
        assert power["source"] == "rapl" and power["avg_power_mw"] > 0
    else:  # VMs and containers: said, not guessed
        assert power["source"] is None and power["unavailable"] == sampler.rapl_unavailable
