"""`--stf-url`: phones reserved from an STF (DeviceFarmer) stand-in, measured, released.

The stand-in (stf_standin.py) follows STF's REST API and hands out virtual phones; the suites run
in a subprocess as a user runs them. Checked: only free phones are reserved, each is
remote-connected and `adb connect`ed, measured, then disconnected and released even when the run
fails; the token goes only into the Authorization header, never into output or artifacts.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)
from stf_standin import StfStandIn

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "stf-token-3f9c2a7be1d04c55a8e6"


@pytest.fixture
def stf(virtual_phone):
    phones = {"STF-PIXEL8": virtual_phone("pixel8", connect=False),
              "STF-MATE20": virtual_phone("mate20", connect=False),
              "STF-TAKEN": virtual_phone("pixel8", connect=False)}
    server = StfStandIn(TOKEN, phones, busy={"STF-TAKEN"})
    yield server
    server.close()


def _run(stf, adb_server, model_cache, tmp_path, *args, token=TOKEN):
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_CACHE": str(model_cache), "EDGELAB_LEASE_DIR": str(tmp_path / "leases"),
           "EDGELAB_STF_TOKEN": token}
    for name in ("EDGELAB_ADB_CONNECT", "EDGELAB_ADB_START"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "pytest", "suites/", "--stf-url", stf.url,
                           "--model=ppocr_cls", "--variant=fp32", "--engine=onnxruntime",
                           "--iterations=3", "--warmup=1", "--cooldown=off",
                           "--edgelab-idle-window=0", "--report-dir", str(tmp_path / "reports"),
                           "-p", "no:cacheprovider", "-q", *args],
                          env=env, capture_output=True, text=True, cwd=REPO, timeout=600)


def test_stf_phones_are_reserved_measured_and_released(stf, adb_server, model_cache, models,
                                                       tmp_path):
    run = _run(stf, adb_server, model_cache, tmp_path, "--device=all", "-n", "auto")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    run_dir = next(p.parent for p in (tmp_path / "reports").glob("*/run.json")
                   if not p.parent.is_symlink())
    records = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines() if x]
    measured = {r["device"]["serial"] for r in records if r["device"]["kind"] != "host"}
    assert measured == {stf.phones["STF-PIXEL8"].serial, stf.phones["STF-MATE20"].serial}
    calls = [(method, path) for method, path, _ in stf.log]
    for serial in ("STF-PIXEL8", "STF-MATE20"):
        assert ("POST", f"/api/v1/user/devices/{serial}/remoteConnect") in calls
        assert ("DELETE", f"/api/v1/user/devices/{serial}/remoteConnect") in calls
        assert ("DELETE", f"/api/v1/user/devices/{serial}") in calls
    assert not any("STF-TAKEN" in path for _, path in calls)  # someone else's: not touched
    assert stf.owner == {"STF-TAKEN": "someone@else"} and not stf.connected  # all given back
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in stf.log)
    leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file()
              and TOKEN.encode() in p.read_bytes()]
    assert not leaked and TOKEN not in run.stdout + run.stderr, leaked


def test_a_failing_run_still_releases_and_a_bad_token_is_named_not_shown(stf, adb_server,
                                                                        model_cache, models,
                                                                        tmp_path):
    run = _run(stf, adb_server, model_cache, tmp_path, "--device=STF-PIXEL8",
               "--variant=no-such-variant")
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]  # refused before running
    assert stf.owner == {"STF-TAKEN": "someone@else"} and not stf.connected
    bad = _run(stf, adb_server, model_cache, tmp_path, "--device=all", token="wrong-token-123")
    assert bad.returncode == 4
    assert "refused the access token in EDGELAB_STF_TOKEN" in bad.stderr
    assert "wrong-token-123" not in bad.stdout + bad.stderr
    missing = _run(stf, adb_server, model_cache, tmp_path, "--device=all", token="")
    assert missing.returncode == 4 and "no access token; put it in EDGELAB_STF_TOKEN" in \
        missing.stderr
