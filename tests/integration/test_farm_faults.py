"""Faults switched on virtual phones while a farm run goes on (issue 20, deliverable 5).

The suites run as a user runs them (a pytest subprocess, `-n auto`, one worker per phone); the
test watches results.jsonl and switches a phone's fault (VirtualDevice.set_faults) once that
phone has recorded its first cell, so the fault lands mid-run. Every check ends with: each
planned cell has its record (nothing lost), the other phones finished, the report was written.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _records(report_dir: Path) -> list[dict]:
    found = list(report_dir.glob("*/results.jsonl"))
    if not found:
        return []
    records = []
    for line in found[0].read_text().splitlines():  # read while the run appends: the last
        try:                                         # line may be half written
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _when_first_record(report_dir: Path, serial: str, action, stop: threading.Event) -> None:
    while not stop.is_set():
        if any(r["device"]["serial"] == serial for r in _records(report_dir)):
            action()
            return
        time.sleep(0.05)


def run_farm(phones, adb_server, model_cache, tmp_path, triggers, extra=()):
    """The suites on ``phones`` with ``triggers`` {serial: action} fired mid-run."""
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_CACHE": str(model_cache), "EDGELAB_LEASE_DIR": str(tmp_path / "leases")}
    env.pop("EDGELAB_ADB_CONNECT", None)
    env.pop("EDGELAB_ADB_START", None)
    report_dir = tmp_path / "reports"
    stop = threading.Event()
    watchers = [threading.Thread(target=_when_first_record, args=(report_dir, s, a, stop),
                                 daemon=True) for s, a in triggers.items()]
    for watcher in watchers:
        watcher.start()
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "suites/", "-n", "auto",
                              "--device=" + ",".join(p.serial for p in phones),
                              "--model=ppocr_cls,face_landmark", "--variant=fp32",
                              "--engine=onnxruntime,tflite", "--iterations=150", "--warmup=1",
                              "--cooldown=off", "--edgelab-idle-window=0",
                              "--edgelab-history=off", "--report-dir", str(report_dir),
                              "-p", "no:cacheprovider", "-q", "-rs", *extra],
                             env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    finally:
        stop.set()
    run_dir = next(report_dir.glob("*/results.jsonl")).parent
    planned = json.loads((run_dir / "run.json").read_text())["planned"]["cells"]
    records = _records(report_dir)
    assert len(records) == planned, (len(records), planned, run.stdout[-3000:])  # none lost
    assert (run_dir / "report.html").is_file(), run.stdout[-3000:]
    by_serial: dict[str, list[dict]] = {}
    for record in records:
        by_serial.setdefault(record["device"]["serial"], []).append(record)
    return run, by_serial


def test_disconnect_mid_run_reconnects_once_then_quarantines(virtual_phone, adb_server,
                                                             model_cache, models, tmp_path):
    gone = virtual_phone("pixel8", compute_sleep_ms=20)      # the cable stays pulled
    blip = virtual_phone("pixel8", compute_sleep_ms=20)      # the cable is back within 1.5 s
    fine = virtual_phone("mate20", compute_sleep_ms=20)

    def short_blip():
        blip.set_faults(["disconnect"])
        threading.Timer(1.5, blip.set_faults, args=([],)).start()

    # a short reappearance bound: a truly gone phone is quarantined once it has passed (the
    # default, 120 s, waits out a real phone's reboot), a 1.5 s blip is back well within it
    run, by_serial = run_farm([gone, blip, fine], adb_server, model_cache, tmp_path, {
        gone.serial: lambda: gone.set_faults(["disconnect"]), blip.serial: short_blip},
        extra=["--reboot-wait=4"])
    assert run.returncode in (0, 1), run.stdout[-3000:]

    lost = [r for r in by_serial[gone.serial] if r["status"] == "infra_error"]
    assert lost, [r["status"] for r in by_serial[gone.serial]]
    assert "did not bring it back within 4 s (--reboot-wait)" in lost[0]["reason"] and \
        "quarantined" in lost[0]["reason"], lost[0]["reason"]
    assert all("quarantined" in r["reason"] for r in lost)
    assert "adb" in lost[0]["reason"].split(";")[0]  # the call that found it gone
    assert all("its remaining cells were not attempted" in r["reason"] for r in lost[1:])

    cut = [r for r in by_serial[blip.serial] if r["status"] == "infra_error"]
    assert len(cut) == 1 and "brought it back" in cut[0]["reason"], [r["reason"] for r in cut]
    after = by_serial[blip.serial][by_serial[blip.serial].index(cut[0]) + 1:]
    assert any(r["status"] == "ok" and r["suite"] == "latency" for r in after), \
        [(r["suite"], r["status"]) for r in after]  # cells after the blip measured again

    assert all(r["status"] in ("ok", "unsupported") for r in by_serial[fine.serial])


def test_storage_full_hung_tool_slow_link_and_unusable_phones(virtual_phone, adb_server,
                                                              model_cache, models, tmp_path):
    full = virtual_phone("pixel8", compute_sleep_ms=20)
    hung = virtual_phone("pixel8", compute_sleep_ms=20)
    slow = virtual_phone("pixel8", compute_sleep_ms=20, faults=["latency=30"])
    locked = virtual_phone("pixel8", faults=["unauthorized"], connect=False)
    dead = virtual_phone("pixel8", faults=["offline"], connect=False)
    for phone in (locked, dead):
        adb_server.run("connect", phone.serial, timeout=30)  # adb lists them, not as `device`
    run, by_serial = run_farm(
        [full, hung, slow, locked, dead], adb_server, model_cache, tmp_path,
        {full.serial: lambda: full.set_faults(["storage-full"]),
         hung.serial: lambda: hung.set_faults(["hang=tools"])}, extra=["--edgelab-timeout=8"])

    storage = [r for r in by_serial[full.serial] if r["status"] == "infra_error"]
    assert storage and "storage full" in storage[0]["reason"], [r["reason"] for r in storage]
    assert "bytes) does not fit" in storage[0]["reason"] and "MB free" in storage[0]["reason"]

    # a hung tool on a phone that still answers: killed by the device's `timeout`, recorded as
    # the tool's failure (failed: timeout), not the device's (infra_error), and the next cell runs
    hung_rows = by_serial[hung.serial]
    timed_out = [r for r in hung_rows if r["status"] == "failed"]
    assert len(timed_out) >= 2, [(r["status"], r.get("reason")) for r in hung_rows]
    assert all(r["reason"].startswith("timeout: ") and "did not finish within 8 s; killed on "
               "the device (rc 124)" in r["reason"] for r in timed_out), \
        [r["reason"] for r in timed_out]
    assert not [r for r in hung_rows if r["status"] == "infra_error"], \
        [r["reason"] for r in hung_rows if r["status"] == "infra_error"]
    assert "timed out: the tool was killed at --edgelab-timeout" in \
        (next(tmp_path.glob("reports/*/report.html"))).read_text()

    assert all(r["status"] in ("ok", "unsupported") for r in by_serial[slow.serial]), \
        [r.get("reason") for r in by_serial[slow.serial]]  # a slow link completes

    for phone, state, fix in ((locked, "unauthorized", "Allow USB debugging"),
                              (dead, "offline", "adb reconnect offline")):
        rows = by_serial[phone.serial]
        assert rows and all(r["status"] == "infra_error" and f"is {state}" in r["reason"]
                            and fix in r["reason"] for r in rows), [r["reason"] for r in rows]


def test_a_crashed_worker_leaves_records_for_its_device_and_the_run_reports(
        virtual_phone, adb_server, model_cache, models, tmp_path, monkeypatch):
    doomed = virtual_phone("pixel8", compute_sleep_ms=20)
    fine = virtual_phone("mate20", compute_sleep_ms=20)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(Path(__file__).parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(
            os.pathsep) if p]))
    crash_cell = f"test_latency[{doomed.serial}-ppocr_cls-fp32-onnxruntime]"
    monkeypatch.setenv("EDGELAB_TEST_CRASH_CELL", crash_cell)
    run, by_serial = run_farm([doomed, fine], adb_server, model_cache, tmp_path, {},
                              extra=["-p", "crash_plugin"])
    assert run.returncode == 1, run.stdout[-3000:]  # the crashed cell fails the run...
    assert "crashed while running" in run.stdout
    rows = by_serial[doomed.serial]
    crashed = [r for r in rows if crash_cell in r["test_id"]]
    assert len(crashed) == 1 and crashed[0]["status"] == "infra_error"
    assert "worker" in crashed[0]["reason"] and "crashed" in crashed[0]["reason"]
    after = rows[rows.index(crashed[0]) + 1:]
    assert after and all(r["status"] in ("infra_error", "unsupported") for r in after), \
        [(r["status"], r.get("reason")) for r in after]
    assert any("were not attempted" in (r.get("reason") or "") for r in after)
    assert all(r["status"] in ("ok", "unsupported") for r in by_serial[fine.serial])


def test_sigkilled_farm_run_keeps_its_records_and_the_next_run_starts_cleanly(
        virtual_phone, adb_server, model_cache, models, tmp_path):
    import signal

    phone = virtual_phone("pixel8", compute_sleep_ms=20)
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_CACHE": str(model_cache), "EDGELAB_LEASE_DIR": str(tmp_path / "leases")}
    env.pop("EDGELAB_ADB_CONNECT", None)
    env.pop("EDGELAB_ADB_START", None)
    command = [sys.executable, "-m", "pytest", "suites/", "-n", "auto", f"--device={phone.serial}",
               "--model=ppocr_cls,face_landmark", "--variant=fp32", "--engine=onnxruntime,tflite",
               "--iterations=150", "--warmup=1", "--cooldown=off", "--edgelab-idle-window=0",
               "--edgelab-history=off", "-p", "no:cacheprovider", "-q"]
    first_dir = tmp_path / "first"
    killed = subprocess.Popen(command + ["--report-dir", str(first_dir)], env=env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 300
    while len(_records(first_dir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)  # controller and workers, mid-cell
    killed.wait()
    kept = _records(first_dir)  # every line parses: nothing written before the kill is torn
    assert len(kept) >= 2 and all(r["status"] for r in kept)
    again = subprocess.run(command + ["--report-dir", str(tmp_path / "second")], env=env,
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:]  # the phone's lease died with the kill
    rows = _records(tmp_path / "second")
    assert len(rows) == 8 and all(r["status"] in ("ok", "unsupported") for r in rows)


def test_reboot_mid_run_waits_for_boot_and_goes_on(virtual_phone, adb_server, model_cache,
                                                   models, tmp_path):
    # off adb for 15 s, longer than the 10 s short-call bound that once capped the wait (a real
    # phone takes 30-90 s): the default --reboot-wait (120 s) sees it back, then booted
    phone = virtual_phone("pixel8", compute_sleep_ms=20)
    run, by_serial = run_farm([phone], adb_server, model_cache, tmp_path,
                              {phone.serial: lambda: phone.set_faults(["reboot=15"])})
    assert run.returncode in (0, 1), run.stdout[-3000:]
    rows = by_serial[phone.serial]
    cut = [r for r in rows if r["status"] == "infra_error"]
    assert len(cut) == 1 and "brought it back (booted)" in cut[0]["reason"], \
        [r.get("reason") for r in cut]
    took = float(cut[0]["reason"].split("brought it back (booted) after ")[1].split(" s")[0])
    assert 15 <= took < 60, cut[0]["reason"]
    after = rows[rows.index(cut[0]) + 1:]
    assert any(r["status"] == "ok" and r["suite"] == "latency" for r in after)
    assert phone.state.props["sys.boot_completed"] == "1"
    assert f"{phone.serial} dropped off adb; waiting for it to come back (at most 120 s" in \
        run.stderr, run.stderr[-3000:]


def test_a_link_that_drops_packets_completes_or_fails_cleanly(virtual_phone, adb_server,
                                                              model_cache, models, tmp_path):
    # loss=0.05: one message in twenty is 200 ms late (TCP's RTO), the run completes; loss=0.5
    # from mid-run: one message in 32 is lost five times in a row and resets the connection,
    # so that phone's cells end as infra_error records about the lost link, within the bounds
    late = virtual_phone("pixel8", compute_sleep_ms=20, faults=["loss=0.05"])
    flaky = virtual_phone("pixel8", compute_sleep_ms=20)
    fine = virtual_phone("mate20", compute_sleep_ms=20)
    started = time.monotonic()
    run, by_serial = run_farm([late, flaky, fine], adb_server, model_cache, tmp_path,
                              {flaky.serial: lambda: flaky.set_faults(["loss=0.5"])},
                              extra=["--reboot-wait=5", "--edgelab-timeout=20"])
    took = time.monotonic() - started
    assert run.returncode in (0, 1), run.stdout[-3000:]
    assert "Traceback" not in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
    # the fault was really exercised: messages were lost and waited for, without a reset
    assert late.state.lossy_out.lost + late.state.lossy_in.lost > 0
    assert late.state.lossy_out.resets + late.state.lossy_in.resets == 0
    assert flaky.state.lossy_out.resets + flaky.state.lossy_in.resets > 0
    assert all(r["status"] in ("ok", "unsupported") for r in by_serial[late.serial]), \
        [r.get("reason") for r in by_serial[late.serial]]
    assert all(r["status"] in ("ok", "unsupported") for r in by_serial[fine.serial])
    flaky_rows = by_serial[flaky.serial]
    cut = [r for r in flaky_rows if r["status"] not in ("ok", "unsupported")]
    assert cut, [(r["status"], r.get("reason")) for r in flaky_rows]
    assert all(r["status"] == "infra_error" for r in cut), [(r["status"], r["reason"]) for r in cut]
    # each names the link: it dropped (then came back, or not), or it went silent (a hung
    # phone and a link losing everything look alike to adb: the reason says both)
    assert all("adb link" in r["reason"] or "dropped off adb" in r["reason"] or
               "a link that loses packets" in r["reason"] for r in cut), [r["reason"] for r in cut]
    assert took < 240, took
