"""Leases: one edgelab process per phone on a host, across processes (devices/lease.py).

Holders are real other processes (a `python -c` that takes a lease, as a second run would);
the kernel lock behind a lease is released when its holder is SIGKILLed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)

from harness.devices.lease import DeviceBusy, Lease, holders, lock_path

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time\nfrom harness.devices.lease import Lease\n"
        "lease = Lease(sys.argv[1]); lease.acquire(0, 'other-run')\n"
        "print('held', flush=True)\ntime.sleep(float(sys.argv[2]))\nlease.release()\n")


@pytest.fixture
def lease_dir(tmp_path, monkeypatch):
    folder = tmp_path / "leases"
    monkeypatch.setenv("EDGELAB_LEASE_DIR", str(folder))
    return folder


@pytest.fixture
def holder(lease_dir):
    started: list[subprocess.Popen] = []

    def hold(device_id: str, seconds: float = 60) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD, device_id, str(seconds)],
                                   cwd=REPO, stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "EDGELAB_LEASE_DIR": str(lease_dir)})
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


def test_busy_phone_names_its_holder_and_a_killed_holder_frees_it(holder, lease_dir):
    other = holder("127.0.0.1:5555")
    mine = Lease("127.0.0.1:5555")
    with pytest.raises(DeviceBusy) as busy:
        mine.acquire(0.3, "my-run")
    assert f"pid {other.pid} (run other-run" in str(busy.value)
    assert "--lease-wait" in busy.value.fix
    (listed,) = holders()
    assert (listed["device"], listed["pid"], listed["run_id"]) == ("127.0.0.1:5555", other.pid,
                                                                   "other-run")
    os.kill(other.pid, signal.SIGKILL)  # a crashed run: the kernel drops its lock
    other.wait()
    assert holders() == []  # the holder record it left is stale: cleared
    assert lock_path("127.0.0.1:5555").read_text() == ""
    mine.acquire(0, "my-run")
    assert holders()[0]["pid"] == os.getpid()
    mine.release()
    assert holders() == []


def test_a_busy_phone_is_waited_for_until_its_holder_ends(holder, lease_dir):
    holder("phone-A", seconds=1.0)
    start = time.monotonic()
    lease = Lease("phone-A")
    lease.acquire(20, "waiting-run")  # the holder ends after ~1 s: no DeviceBusy
    assert 0.5 < time.monotonic() - start < 15
    lease.release()


def test_run_on_a_leased_phone_records_infra_error_naming_the_holder(
        virtual_phone, adb_server, model_cache, models, holder, lease_dir, tmp_path):
    phone = virtual_phone("pixel8")
    other = holder(phone.serial)
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_CACHE": str(model_cache), "EDGELAB_LEASE_DIR": str(lease_dir)}
    env.pop("EDGELAB_ADB_CONNECT", None)
    env.pop("EDGELAB_ADB_START", None)
    devices = subprocess.run([sys.executable, "-m", "harness", "devices", "--no-probe"], env=env,
                             capture_output=True, text=True, cwd=REPO, timeout=60)
    assert f"in use by" in devices.stdout and f"pid {other.pid}" in devices.stdout, devices.stdout
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/", f"--device={phone.serial}",
                          "--model=ppocr_cls", "--variant=fp32", "--engine=onnxruntime",
                          "--iterations=3", "--warmup=1", "--cooldown=off",
                          "--edgelab-idle-window=0", "--lease-wait=0.5", "--report-dir",
                          str(tmp_path / "reports"), "-p", "no:cacheprovider", "-rs"],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "2 skipped" in run.stdout, run.stdout[-3000:]
    records = [json.loads(x) for x in next((tmp_path / "reports").glob("*/results.jsonl"))
               .read_text().splitlines() if x]
    assert len(records) == 2 and all(r["status"] == "infra_error" for r in records)
    assert all(f"in use by" in r["reason"] and f"pid {other.pid}" in r["reason"] for r in records)
    other.kill()
    other.wait()
    again = subprocess.run(run.args, env=env, capture_output=True, text=True, cwd=REPO,
                           timeout=300)
    assert again.returncode == 0, again.stdout[-3000:]
    assert holders() == []  # the run released its lease at its end
