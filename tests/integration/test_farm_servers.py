"""Several adb servers (one per lab host): device identity is server + serial.

Two real adb servers on loopback ports stand for two lab hosts. The same virtual phone connected
to both is listed by each under the same serial (`127.0.0.1:PORT`), as two lab hosts' phones of
one cheap serial would be: edgelab must see two devices, with two ids, two xdist groups and two
sets of records, none overwriting the other.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def second_server(adb_server, tmp_path):
    from conftest import AdbServer, _free_port

    home = tmp_path / "adb-home-2"
    home.mkdir()
    port = _free_port()
    env = {**adb_server.env, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port),
           "ANDROID_SDK_HOME": str(home), "ANDROID_USER_HOME": str(home / ".android")}
    server = AdbServer(port, env)
    assert server.run("-P", str(port), "start-server", timeout=30).returncode == 0
    yield server
    server.run("-P", str(port), "kill-server", timeout=10)


def _connect(server, serial: str) -> None:
    assert "connected to" in server.run("connect", serial).stdout
    assert server.wait_for_state(serial, "device") == "device"


def test_same_serial_on_two_servers_is_two_devices(adb_server, second_server, virtual_phone,
                                                    monkeypatch):
    shared = virtual_phone("pixel8")            # connected to the first server by the fixture
    only_second = virtual_phone("mate20", connect=False)
    _connect(second_server, shared.serial)
    _connect(second_server, only_second.serial)
    first, second = f"127.0.0.1:{adb_server.port}", f"127.0.0.1:{second_server.port}"
    monkeypatch.setenv("EDGELAB_ADB_SERVER", f"{first},{second}")
    monkeypatch.delenv("EDGELAB_ADB_CONNECT", raising=False)
    from harness.devices.android import AndroidDevice, discover

    notes: list[str] = []
    found = {info.id: info for info in discover(notes=notes)
             if info.serial in (shared.serial, only_second.serial)}
    assert set(found) == {f"{first}/{shared.serial}", f"{second}/{shared.serial}",
                          f"{second}/{only_second.serial}"}, (found, notes)
    assert found[f"{second}/{shared.serial}"].details["adb_server"] == second
    # each identity talks to its own server: the mate20 is reachable only through the second
    model = AndroidDevice(found[f"{second}/{only_second.serial}"], timeout_s=20).exec(
        ["getprop", "ro.product.model"]).stdout.strip()
    assert model == "HMA-L29", model
    assert AndroidDevice(found[f"{first}/{shared.serial}"], timeout_s=20).exec(
        ["getprop", "ro.product.model"]).stdout.strip() == "Pixel 8"


def test_suites_across_two_servers_record_each_identity(adb_server, second_server, virtual_phone,
                                                        model_cache, models, tmp_path):
    shared = virtual_phone("pixel8")
    _connect(second_server, shared.serial)
    first, second = f"127.0.0.1:{adb_server.port}", f"127.0.0.1:{second_server.port}"
    ids = [f"{first}/{shared.serial}", f"{second}/{shared.serial}"]
    env = {**os.environ, "EDGELAB_CACHE": str(model_cache)}
    for name in ("EDGELAB_ADB_SERVER", "EDGELAB_ADB_CONNECT", "EDGELAB_ADB_START"):
        env.pop(name, None)
    report_dir = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/", "-n", "auto",
                          "--adb-server", first, "--adb-server", second,
                          "--device=" + ",".join(ids), "--model=ppocr_cls", "--variant=fp32",
                          "--engine=onnxruntime", "--iterations=3", "--warmup=1",
                          "--cooldown=off", "--edgelab-idle-window=0", "--report-dir",
                          str(report_dir), "-p", "no:cacheprovider", "-q"],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = next(p for p in report_dir.glob("*/results.jsonl"))
    records = [json.loads(x) for x in results.read_text().splitlines() if x]
    by_id: dict[str, list] = {}
    for record in records:
        by_id.setdefault(record["device"]["id"], []).append(record)
    assert set(by_id) == set(ids)
    assert all(len(rows) == 2 for rows in by_id.values()), {k: len(v) for k, v in by_id.items()}
    assert all(r["device"]["serial"] == shared.serial for r in records)
