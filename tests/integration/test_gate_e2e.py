"""The release gate end to end on the host: a real run saved as a named baseline, a rerun with a
real, deliberate slowdown under the same comparison key fails with exit 8, an identical rerun
passes, and ``python -m harness compare`` agrees on the folders they left.

The slowdown is test-only (tests/integration/slowdown/sitecustomize.py, enabled by PYTHONPATH and
EDGELAB_TEST_SLOWDOWN_MS for one run): every ONNX Runtime invoke in the measuring child computes
12 ms longer (the model takes ~1.2 ms: ~11x), with the same model file, engine, threads and device.
The gate rule is loosened to median:200% on the command line: this 2-core box is shared with other
test runs, whose contention moved 1-thread medians of this model by up to 15% between identical
runs, and by +59% once (1.20 -> 1.93 ms) while the other xdist worker was starting up
(docs/gating.md); a 3x band still leaves the ~11x slowdown far outside it. The gate's statistics at the default 5% are calibrated by
benchmarks/gate_calibration.py and tests/unit/test_gate.py, this test is about keys, exit codes
and what the user sees.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_pytest

pytestmark = pytest.mark.integration
CELL = ["suites/", "--device=host", "--model=ppocr_cls", "--engine=onnxruntime", "--variant=fp32",
        "--iterations", "30"]
LOOSE = "--gate=latency=median:200%"
SLOWDOWN = {"PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent / "slowdown"),
                                                         os.environ.get("PYTHONPATH")])),
            "EDGELAB_TEST_SLOWDOWN_MS": "12"}


def output(proc) -> str:
    return proc.stdout[-4000:] + proc.stderr[-2000:]


def test_gate_fails_a_real_slowdown_and_passes_an_identical_rerun(tmp_path, model_files):
    reports = tmp_path / "reports"
    common = [*CELL, "--report-dir", str(reports)]
    base = run_pytest([*common, "--save-baseline", "main"])
    assert base.returncode == 0, output(base)
    saved = reports / "baselines" / "main"
    assert (saved / "results.jsonl").is_file() and not saved.is_symlink()
    assert f"baseline 'main' saved: {saved} (use --baseline main)" in base.stdout

    same = run_pytest([*common, "--baseline", "main", LOOSE])
    assert same.returncode == 0, output(same)
    # passes: unchanged, or inconclusive when another job on this box made one run very noisy
    gate = next(x for x in same.stdout.splitlines() if x.startswith("gate vs baseline main (run "))
    assert gate.endswith(("1 unchanged", "1 inconclusive")), output(same)

    slow = run_pytest([*common, "--baseline", "main", LOOSE, "--save-baseline", "main"],
                      env=SLOWDOWN)
    assert slow.returncode == 8, output(slow)
    assert "1 regressed" in slow.stdout
    assert "REGRESSED: host ppocr_cls fp32 onnxruntime latency" in slow.stdout
    assert "edgelab: gate failed: 1 regressed or broke against the baseline (exit 8)" in slow.stdout
    # a regressed run never replaces the baseline it failed against
    assert "baseline 'main' not saved: the run ended with exit 8" in slow.stdout
    assert (saved / "results.jsonl").read_bytes() == (_run_dir(reports, base) / "results.jsonl").read_bytes()
    html = (reports / "latest" / "report.html").read_text()
    assert "regressed" in html and "Mann–Whitney" in html

    # the same verdicts offline, on the folders the runs left
    def compare(current: Path):
        return subprocess.run([sys.executable, "-m", "harness", "compare", "main", str(current),
                               "--report-dir", str(reports), LOOSE], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    assert compare(_run_dir(reports, same)).returncode == 0
    offline = compare(reports / "latest")
    assert offline.returncode == 1 and "REGRESSED: host ppocr_cls fp32 onnxruntime" in offline.stdout


def _run_dir(reports: Path, proc) -> Path:
    """The run directory a pytest run printed its report path for."""
    line = next(x for x in proc.stdout.splitlines() if x.startswith("report: "))
    return Path(line.removeprefix("report: ")).parent


@pytest.mark.parametrize("args, message", [
    ([LOOSE], "--gate needs a baseline to compare with: add --baseline NAME|RUN_DIR"),
    (["--baseline", "nightly"], "--baseline nightly: no such run directory, and no baseline "
                                "named 'nightly' in"),
    (["--baseline", "x", "--gate=latency=fast"], "argument --gate: latency=fast: missing ':'"),
    (["--save-baseline", "../up"], "'../up' is not a baseline name"),
])
def test_gate_usage_errors(tmp_path, args, message):
    proc = run_pytest([*CELL, "--report-dir", str(tmp_path), *args])
    assert proc.returncode == 4, output(proc)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_help_lists_the_gate_options():
    proc = run_pytest(["--help"])
    text = " ".join(proc.stdout.split())
    assert "--baseline=NAME|RUN_DIR" in text and "--save-baseline=NAME" in text
    assert "--gate=[RULES]" in text and "latency=median:3%,memory=peak:10%" in text


def test_an_inconclusive_cell_is_measured_again_and_every_record_kept(tmp_path, model_files):
    """A rule no data can settle (a 0% threshold that "unchanged" can never rule out, an alpha
    no 20-iteration comparison reaches) keeps the cell inconclusive: it is measured exactly
    ``rechecks`` more times, each a whole repeat with its own record saying why."""
    from tests.conftest import read_records

    reports = tmp_path / "reports"
    common = [*CELL[:-1], "20", "--report-dir", str(reports)]
    assert run_pytest([*common, "--save-baseline", "main"]).returncode == 0
    undecidable = "--gate=latency=median:0%,latency_floor_ms=0,alpha=1e-12,rechecks=2"
    proc = run_pytest([*common, "--baseline", "main", undecidable])
    assert proc.returncode == 0, output(proc)  # inconclusive never fails a build
    records = [r for r in read_records((reports / "latest").resolve()) if r["suite"] == "latency"]
    assert len(records) == 3, [r.get("extra", {}).get("repeat") for r in records]
    assert "repeat" not in records[0]["extra"]  # the cell as planned: one run
    for attempt, record in enumerate(records[1:], start=1):
        repeat = record["extra"]["repeat"]
        assert repeat["recheck"] == attempt and repeat["of_rechecks"] == 2
        assert repeat["why"].startswith("latency inconclusive: "), repeat
        assert record["status"] == "ok" and record["latency"]["n"] == 20
    gate = next(x for x in proc.stdout.splitlines() if x.startswith("gate vs baseline main (run "))
    assert gate.endswith("1 inconclusive"), output(proc)

    proc = run_pytest([*common, "--baseline", "main",
                       "--gate=latency=median:0%,latency_floor_ms=0,alpha=1e-12,rechecks=0"])
    records = [r for r in read_records((reports / "latest").resolve()) if r["suite"] == "latency"]
    assert proc.returncode == 0 and len(records) == 1, output(proc)
