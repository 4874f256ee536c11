"""How a real `pytest suites/` run ends when it does not simply pass: cancelled with SIGTERM (as CI
cancels a job), SIGKILLed, measuring nothing, with a damaged baseline or a torn results line."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import REPO, read_records, run_pytest

pytestmark = pytest.mark.integration
FAST = ["--iterations", "5", "--warmup", "1"]
# four cells in this order: ok, unsupported, unsupported, ok; --min-time keeps the last one
# running long enough to be caught in flight
GRID = ["suites/test_latency.py", "--device=host", "--model=ppocr_cls,face_landmark",
        "--engine=onnxruntime,tflite", "--variant=fp32", *FAST, "--min-time=2"]


@pytest.fixture(autouse=True)
def _no_variant_builds(sources_only_cache, monkeypatch):
    """The grids here count unsupported cross-format cells: a cache without variant builds."""
    monkeypatch.setenv("EDGELAB_CACHE", str(sources_only_cache))


def start_pytest(args: list[str]) -> subprocess.Popen:
    """A suites run in its own process group, as CI runs a job step."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def engine_children(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for kid in kids:
        try:
            if "harness.engines.child" in " ".join(kid.cmdline()):
                out.append(kid)
        except psutil.Error:
            pass
    return out


def wait_for_cell_in_flight(proc: subprocess.Popen, report_dir) -> list[psutil.Process]:
    """Wait until one cell is recorded ok and the next one's engine child is running."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be signalled:\n{proc.stdout.read()[-3000:]}")
        results = list(report_dir.glob("2*/results.jsonl"))
        recorded = results and '"status":"ok"' in results[0].read_text()
        kids = engine_children(proc) if recorded else []
        if kids:
            return kids
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no cell was recorded and followed by another within 180 s")


def finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the run did not end after the signal:\n{proc.communicate()[0][-3000:]}")
    return out


def assert_dead(kids: list[psutil.Process]) -> None:
    time.sleep(0.5)
    alive = [k.pid for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"engine child processes outlived the run: {alive}"


def assert_finished_as_interrupted(report_dir, out: str) -> None:
    run_dir = report_dir / os.readlink(report_dir / "latest")  # reports/latest was updated
    info = json.loads((run_dir / "run.json").read_text())
    assert info["interrupted"] == "SIGTERM" and info["finished"] and info["planned"]["cells"] == 4
    text = "interrupted by SIGTERM: 3 of 4 cells recorded"  # the cell in flight left no record
    assert text in (run_dir / "report.html").read_text()
    assert (run_dir / "results.csv").read_text().count("\n") >= 4  # header + 3 records
    assert re.search(r"=+ edgelab =+", out) and f"edgelab: {text}" in out, out[-3000:]
    assert [r["status"] for r in read_records(run_dir)] == ["ok", "unsupported", "unsupported"]


def test_sigterm_finishes_the_run_as_interrupted(tmp_path):
    proc = start_pytest([*GRID, "--report-dir", str(tmp_path)])
    kids = wait_for_cell_in_flight(proc, tmp_path)
    os.kill(proc.pid, signal.SIGTERM)  # pytest alone: the harness must stop its engine child
    out = finish(proc)
    assert proc.returncode == 2, out[-3000:]  # pytest's INTERRUPTED, as on Ctrl-C
    assert_finished_as_interrupted(tmp_path, out)
    assert_dead(kids)


def test_sigterm_to_an_xdist_process_group(tmp_path):
    # CI signals the whole group: controller, workers and the engine child at once
    proc = start_pytest([*GRID, "-n", "2", "--dist", "loadgroup", "--report-dir", str(tmp_path)])
    kids = wait_for_cell_in_flight(proc, tmp_path)
    os.killpg(proc.pid, signal.SIGTERM)
    out = finish(proc)
    assert proc.returncode == 2, out[-3000:]
    assert "node down" not in out and "replacing crashed worker" not in out
    assert_finished_as_interrupted(tmp_path, out)
    assert_dead(kids)


def test_a_sigkilled_run_is_reported_as_incomplete(tmp_path):
    proc = start_pytest([*GRID, "--report-dir", str(tmp_path)])
    wait_for_cell_in_flight(proc, tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    finish(proc)
    (run_dir,) = tmp_path.iterdir()
    assert not (tmp_path / "latest").exists()  # nothing ran at session end
    report = subprocess.run([sys.executable, "-m", "harness", "report", str(run_dir)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-2000:]
    expected = f"incomplete: {len(read_records(run_dir))} of 4 cells recorded (run did not finish)"
    assert f"warning: {expected}" in report.stdout
    assert expected in (run_dir / "report.html").read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_run_that_measured_nothing_fails_and_says_why(tmp_path):
    # Core ML cannot run on a Linux host, and the adb server asked for is not there
    port = free_port()
    proc = run_pytest(["suites/test_latency.py", "--device=all", f"--adb-server=127.0.0.1:{port}",
                       "--model=ppocr_cls", "--engine=coreml", "--variant=fp32",
                       "--report-dir", str(tmp_path)])
    assert proc.returncode == 6, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "nothing was measured: every cell was unsupported" in proc.stdout
    assert "Core ML runs only on macOS/iOS" in proc.stdout and "(exit 6)" in proc.stdout
    # the discovery note: once as it happened, once more in the summary
    assert proc.stdout.count(f"no adb server on 127.0.0.1:{port}") >= 2
    assert (tmp_path / "latest" / "report.html").is_file()


def test_a_damaged_baseline_is_refused_before_measuring(tmp_path, model_files):
    base = tmp_path / "base"
    base.mkdir()
    (base / "results.jsonl").write_text('{"run_id": "b"}\nnot json\n{"run_id": "b"}\n')
    proc = run_pytest([*GRID, f"--baseline={base}", "--report-dir", str(tmp_path / "r")])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 4, output[-2000:]
    assert f"--baseline {base}: {base / 'results.jsonl'} line 2 is not a JSON record" in output
    assert "Traceback" not in output and not (tmp_path / "r").exists()  # nothing was measured


def test_a_torn_results_line_is_reported_in_the_terminal_and_the_report(tmp_path, repo_root):
    # a record cut short (as by a kill mid-write) ends the file when the run finishes
    (tmp_path / "test_lab.py").write_text(
        "def test_lab(bench):\n"
        "    bench.conclude(bench.measure())\n"
        "    with open(bench.session.store.results_path, 'a') as fh:\n"
        "        fh.write('{\"run_id\": \"x\", \"test_')\n")
    proc = run_pytest(["--device=host", "--model=ppocr_cls", "--engine=onnxruntime",
                       "--variant=fp32", *FAST, f"--edgelab-manifest={repo_root / 'models/manifest.toml'}",
                       "--report-dir", str(tmp_path / "r"), "test_lab.py"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"results\.jsonl: 1 damaged last line skipped", proc.stdout), proc.stdout[-3000:]
    report = (tmp_path / "r" / "latest" / "report.html").read_text()
    assert "results.jsonl: 1 damaged line skipped" in report


def test_a_damaged_results_line_fails_the_run_and_keeps_the_records(tmp_path, repo_root):
    # a line that is not a record, followed by a good one: not a torn write, so not skipped
    (tmp_path / "test_lab.py").write_text(
        "def test_lab(bench):\n"
        "    bench.measure()\n"
        "    with open(bench.session.store.results_path, 'a') as fh:\n"
        "        fh.write('edited by hand\\n')\n"
        "    bench.measure()\n")
    proc = run_pytest(["--device=host", "--model=ppocr_cls", "--engine=onnxruntime",
                       "--variant=fp32", *FAST, f"--edgelab-manifest={repo_root / 'models/manifest.toml'}",
                       "--report-dir", str(tmp_path / "r"), "test_lab.py"], cwd=tmp_path)
    assert proc.returncode == 7, proc.stdout[-3000:]
    assert "line 2 is not a JSON record" in proc.stdout and "python -m harness report" in proc.stdout
    (run_dir,) = [p for p in (tmp_path / "r").iterdir() if p.is_dir()]
    assert (run_dir / "results.jsonl").read_text().count("\n") == 3
