"""`pytest suites/ -n auto` on a farm of virtual phones: one worker per device, one run.

The suites run in a subprocess as a user runs them, with `-n auto` and no `--dist`: edgelab must
pick loadgroup itself and start one worker per device (not one per host CPU); every device's cells
must run on one worker, each on its own; one run directory, one report, no cell lost.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SUITE_ARGS = ["--model=ppocr_cls,face_landmark", "--variant=fp32", "--engine=onnxruntime,tflite",
              "--iterations=3",
              "--warmup=1", "--cooldown=off", "--edgelab-idle-window=0", "-p", "no:cacheprovider"]


def _env(adb_server, model_cache, phones) -> dict:
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_ADB_CONNECT": ",".join(p.serial for p in phones),
           "EDGELAB_CACHE": str(model_cache)}
    env.pop("EDGELAB_ADB_START", None)
    return env


def test_n_auto_runs_one_worker_per_phone_in_one_run(virtual_phone, adb_server, model_cache,
                                                     models, tmp_path):
    phones = [virtual_phone(p, connect=False) for p in ("pixel8", "mate20", "pixel8")]
    # two models x two engines x two suites: 8 cells per phone, more than one per worker, so
    # plain load balancing would spread a phone's cells (it happened to pass with 2 per phone)
    env = _env(adb_server, model_cache, phones)
    subprocess.run([sys.executable, "-m", "harness", "tools", "add-virtual", "--engine",
                    "onnxruntime"], env=env, check=True, capture_output=True, cwd=REPO)
    report_dir = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/", "-n", "auto", "-v",
                          "--device=" + ",".join(p.serial for p in phones),
                          "--report-dir", str(report_dir), *SUITE_ARGS],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert re.search(r"\b3 workers \[", out) or "created: 3/3 workers" in out, out[-3000:]
    worker_of: dict[str, set[str]] = {}
    for gw, test_id in re.findall(r"\[(gw\d+)\][^\n]*?(?:PASSED|SKIPPED|FAILED|XFAIL) "
                                  r"(suites/\S+)", out):
        serial = next(p.serial for p in phones if p.serial in test_id)
        worker_of.setdefault(serial, set()).add(gw)
    assert set(worker_of) == {p.serial for p in phones}, out[-3000:]
    assert all(len(w) == 1 for w in worker_of.values()), worker_of  # a device stays on one
    assert len({next(iter(w)) for w in worker_of.values()}) == 3, worker_of  # ...its own worker
    runs = [d for d in report_dir.iterdir() if d.is_dir() and not d.is_symlink()
            and (d / "results.jsonl").is_file()]
    assert len(runs) == 1, runs
    records = [json.loads(x) for x in (runs[0] / "results.jsonl").read_text().splitlines() if x]
    info = json.loads((runs[0] / "run.json").read_text())
    assert len(records) == info["planned"]["cells"]  # every planned cell has its record
    assert {r["device"]["serial"] for r in records} == {p.serial for p in phones}
    assert (runs[0] / "report.html").is_file()


def test_dist_mode_that_splits_a_phone_is_refused(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/", "-n", "2", "--dist", "load",
                          "--device=host", "--report-dir", str(tmp_path), *SUITE_ARGS],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 4, run.stdout[-2000:] + run.stderr[-2000:]
    assert "--dist load: edgelab needs --dist loadgroup" in run.stderr
