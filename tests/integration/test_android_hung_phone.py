"""A hung phone costs at most one timeout per run (issue 16 item 3).

`pytest suites/` as a user runs it, against three virtual phones behind the real adb server: a
healthy one, one that answers discovery and then nothing (``hang-after=2``: not even the OPEN of
the next stream, as a wedged adbd) and one hung from the start (``hang``: streams acknowledged,
never answered). Before the fix every cell of a hung phone waited 60 s.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 8  # --edgelab-timeout: short, yet roomy for a healthy tool run on a busy 2-core box
ENGINES = "onnxruntime,tflite,coreml"  # one cell that runs a tool, two decided without one
SLACK_S = 4.0  # pytest's own per-test work on a loaded machine


def _cell_seconds(junit: Path, serial: str) -> list[float]:
    cases = ET.parse(junit).getroot().iter("testcase")
    return [float(c.get("time")) for c in cases if f"[{serial}-" in c.get("name", "")]


def _records(report_dir: Path, serial: str) -> list[dict]:
    lines = next(report_dir.glob("*/results.jsonl")).read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return sorted((r for r in records if r["device"]["serial"] == serial),
                  key=lambda r: r["timestamp"])


def _run_suites(env: dict, serials: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    # a tiny plugin lowers the "still running" threshold so that this run shows such a line
    (tmp_path / "edgelab_fast_progress.py").write_text(
        "import harness.run.progress as progress\nprogress.STILL_RUNNING_AFTER_S = 1.0\n")
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path),
                                                                env.get("PYTHONPATH")]))}
    argv = [sys.executable, "-m", "pytest", "suites/", f"--device={','.join(serials)}",
            "--model", "ppocr_cls", "--engine", ENGINES, "--variant", "fp32",
            "--iterations", "3", "--warmup", "1", "--edgelab-timeout", str(TIMEOUT_S),
            "--report-dir", str(tmp_path / "reports"), "--junitxml", str(tmp_path / "junit.xml"),
            "-p", "edgelab_fast_progress", "-p", "no:cacheprovider", "-q"]
    try:
        return subprocess.run(argv, env=env, capture_output=True, text=True, cwd=REPO,
                              timeout=300)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the run took over {exc.timeout} s: hung phones still cost a timeout per "
                    f"cell\n{(exc.stderr or b'')[-2000:]!r}")


def test_a_hung_phone_costs_at_most_one_timeout_per_run(virtual_phone, adb_server, model_cache,
                                                        models, tmp_path):
    # `models`: the models are in the private cache, or the test fails saying how to fetch them
    healthy = virtual_phone("pixel8", connect=False)
    late = virtual_phone("mate20", faults=["hang-after=2"], connect=False)
    early = virtual_phone("nexus4", faults=["hang"], connect=False)
    serials = [healthy.serial, late.serial, early.serial]
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_ADB_CONNECT": ",".join(serials), "EDGELAB_CACHE": str(model_cache)}
    for name in ("EDGELAB_ADB_START", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "harness", "tools", "add-virtual", "--engine",
                    "onnxruntime"], env=env, check=True, capture_output=True, cwd=REPO)
    started = time.monotonic()
    run = _run_suites(env, serials, tmp_path)
    wall = time.monotonic() - started
    output = run.stdout[-3000:] + run.stderr[-3000:]
    assert run.returncode in (0, 1), output  # not interrupted, no internal or usage error

    cells = {s: _cell_seconds(tmp_path / "junit.xml", s) for s in serials}
    assert all(len(times) == 6 for times in cells.values()), cells  # 2 suites x 3 engines
    # the phone that hung mid-run: its first cell waits one housekeeping timeout, no other does
    assert sum(cells[late.serial]) < TIMEOUT_S + SLACK_S, cells[late.serial]
    assert sorted(cells[late.serial])[-2] < 1.0, cells[late.serial]
    # the phone hung from the start: discovery found out, so no cell waits at all
    assert sum(cells[early.serial]) < 2.0, cells[early.serial]

    first, *rest = _records(tmp_path / "reports", late.serial)
    assert first["status"] == "infra_error"
    assert f"device {late.serial} stopped answering at " in first["reason"]
    assert f"during getprop: no answer within {TIMEOUT_S} s" in first["reason"]
    assert "will not be attempted" in first["reason"] and "reboot" in first["reason"]
    assert all(r["status"] == "infra_error" and "were not attempted" in r["reason"]
               for r in rest), [r["reason"] for r in rest]
    early_records = _records(tmp_path / "reports", early.serial)
    assert all(r["status"] == "infra_error" and "during getprop (discovery)" in r["reason"]
               for r in early_records), [r["reason"] for r in early_records]
    assert all(r["device"]["virtual"] for r in early_records)  # labelled without an answer

    healthy_records = _records(tmp_path / "reports", healthy.serial)
    assert {(r["engine"]["name"], r["status"]) for r in healthy_records} == {
        ("onnxruntime", "ok"), ("tflite", "unsupported"), ("coreml", "unsupported")}, \
        [r["reason"] for r in healthy_records]

    # the terminal said which cell was waiting, and on what
    assert (f"edgelab: still running test_compat[{late.serial}-ppocr_cls-fp32-onnxruntime] "
            in run.stderr), run.stderr[-2000:]
    assert f"device call: getprop, timeout {TIMEOUT_S} s" in run.stderr
    print(f"\nwall {wall:.1f} s; seconds in cells per phone: "
          f"{ {s: round(sum(t), 1) for s, t in cells.items()} }")
    print("\n".join(line for line in (run.stdout + run.stderr).splitlines()
                    if line.startswith("edgelab")))
