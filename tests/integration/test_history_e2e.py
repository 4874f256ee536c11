"""Run history end to end on the host: real runs are added to REPORT_DIR/history.sqlite at
session end, the second run's report shows the cell's sparkline, `python -m harness history`
reads the folder's database, a corrupt database is a note (exit status and report unaffected)
and is left untouched, and `--edgelab-history off` writes none."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_pytest

pytestmark = pytest.mark.integration
CELL = ["suites/", "--device=host", "--model=ppocr_cls", "--engine=onnxruntime", "--variant=fp32",
        "--iterations", "10"]


def output(proc) -> str:
    return proc.stdout[-4000:] + proc.stderr[-2000:]


def test_runs_are_added_to_history_and_the_report_shows_the_trend(tmp_path, model_files):
    reports = tmp_path / "reports"
    db = reports / "history.sqlite"
    for n in (1, 2):
        proc = run_pytest([*CELL, "--report-dir", str(reports)])
        assert proc.returncode == 0, output(proc)
        assert f"edgelab: history: 1 cells added to {db}" in proc.stdout, output(proc)
    html = (reports / "latest" / "report.html").read_text()
    assert html.count('<svg class="sparkline"') == 1 and "ppocr_cls fp32 onnxruntime" in html
    cli = subprocess.run([sys.executable, "-m", "harness", "history", "--db", str(db), "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    data = json.loads(cli.stdout)
    assert len(data["runs"]) == 2 and len(data["trends"]) == 1
    assert [p["stat"] for p in data["trends"][0]["points"]] == ["median", "median"]
    assert data["runs"][0]["commit"]  # the lab repo's git commit

    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database\n" * 300)
    digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    proc = run_pytest([*CELL, "--report-dir", str(reports), f"--edgelab-history={bad}"])
    assert proc.returncode == 0, output(proc)  # a note: the run and its report stand
    assert "run not added to history: history database" in proc.stdout
    assert "left untouched" in proc.stdout and "report: " in proc.stdout
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == digest

    off = tmp_path / "off"
    proc = run_pytest([*CELL, "--report-dir", str(off), "--edgelab-history=off"])
    assert proc.returncode == 0 and not (off / "history.sqlite").exists(), output(proc)
