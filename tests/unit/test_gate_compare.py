"""``python -m harness compare`` exit codes on run folders written through RunStore, named
baselines, and the verdicts in the report model and the terminal."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from gate_records import PIXEL, record, samples, write_run

from harness.errors import UsageError
from harness.report.compare import gate_lines
from harness.report.model import build_model
from harness.results import baselines
from tests.conftest import REPO


def harness(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def runs(tmp_path):
    """A baseline, an identical rerun, a faster and a slower run of two host cells."""
    def run(name, fp32_ms, seed):
        return write_run(tmp_path / name, [
            record(name, values=samples(fp32_ms, seed=seed)),
            record(name, variant="int8", values=samples(5.0, seed=seed + 1))])
    return {"base": run("base", 10.0, 1), "same": run("same", 10.0, 11),
            "faster": run("faster", 8.0, 21), "slower": run("slower", 12.0, 31)}


def test_compare_exit_codes(runs, tmp_path):
    same = harness("compare", runs["base"], runs["same"])
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("gate vs baseline base (latency median:5% (floor 0.05 ms), "
                                  "alpha 0.01, run_cv 0.01, rechecks 2): 2 unchanged")
    assert harness("compare", runs["base"], runs["faster"]).returncode == 0   # improved
    slower = harness("compare", runs["base"], runs["slower"])
    assert slower.returncode == 1
    assert "1 regressed, 1 unchanged" in slower.stdout
    assert "  REGRESSED: host ppocr_cls fp32 onnxruntime latency 10" in slower.stdout
    assert "past latency median:5%" in slower.stdout
    # a looser rule on the command line lets the same runs pass
    assert harness("compare", runs["base"], runs["slower"], "--gate=latency=median:25%").returncode == 0


@pytest.mark.parametrize("args, message", [
    (["{tmp}/nowhere", "{same}"], "edgelab: error: BASE {tmp}/nowhere: no such run directory, and "
                                  "no baseline named '{tmp}/nowhere'"),
    (["{tmp}", "{same}"], "edgelab: error: BASE {tmp}: no results.jsonl there"),
    (["{base}", "{same}", "--gate=latency=median5%"], "argument --gate: latency=median5%: "
                                                      "missing ':'"),
    (["{damaged}", "{same}"], "BASE {damaged}: {damaged}/results.jsonl line 1 is not a JSON record"),
    (["{empty}", "{same}"], "BASE {empty}: results.jsonl holds no records"),
])
def test_compare_bad_input_exits_2(runs, tmp_path, args, message):
    damaged = write_run(tmp_path / "damaged", [record("d")])
    text = (damaged / "results.jsonl").read_text()
    (damaged / "results.jsonl").write_text("{oops\n" + text)
    empty = write_run(tmp_path / "empty", [])
    names = {"tmp": tmp_path, "damaged": damaged, "empty": empty, **runs}
    proc = harness("compare", *[a.format(**names) for a in args])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message.format(**names) in proc.stderr


def test_compare_json(runs):
    proc = harness("compare", runs["base"], runs["slower"], "--json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1 and data["regressed"] == 1 and data["counts"] == {
        "regressed": 1, "unchanged": 1}
    top = data["rows"][0]
    assert (top["verdict"], top["metric"], top["model"], top["variant"]) == (
        "regressed", "latency", "ppocr_cls", "fp32")
    assert top["change"] == pytest.approx(0.2, abs=0.03) and top["ci_low"] < top["change"] < top["ci_high"]
    assert top["samples"] == "50 vs 50 iterations" and float(top["p_value"]) < 1e-6


def test_named_baselines_are_copies_and_missing_names_list_the_saved_ones(runs, tmp_path):
    reports = tmp_path / "reports"
    with pytest.raises(UsageError, match=r"--baseline nightly: no such run directory, and no "
                                         r"baseline named 'nightly' in .*/reports/baselines; none "
                                         r"is saved there yet: save one with --save-baseline NAME"):
        baselines.resolve("nightly", reports)
    saved = baselines.save(runs["base"], reports, "main")
    assert saved == reports / "baselines" / "main" and not saved.is_symlink()
    assert (saved / "results.jsonl").read_bytes() == (runs["base"] / "results.jsonl").read_bytes()
    baselines.save(runs["slower"], reports, "main")      # replaced whole
    assert "slower" in (saved / "run.json").read_text()
    baselines.save(runs["same"], reports, "release-1.0")
    assert baselines.resolve("main", reports) == saved
    assert baselines.resolve(str(runs["base"]), reports) == runs["base"]   # a path still works
    with pytest.raises(UsageError, match=r"baselines saved there: main, release-1.0$"):
        baselines.resolve("nightly", reports)
    assert sorted(p.name for p in (reports / "baselines").iterdir()) == ["main", "release-1.0"]
    # the CLI takes names too, from --report-dir
    proc = harness("compare", "release-1.0", "main", "--report-dir", reports)
    assert proc.returncode == 1 and "gate vs baseline release-1.0 (run same)" in proc.stdout


def test_report_model_regressions_table_and_terminal_lines(runs, tmp_path):
    extra = write_run(tmp_path / "mixed", [
        record("mixed", values=samples(12.0, seed=31)),
        record("mixed", variant="int8", status="infra_error", reason="device offline"),
        record("mixed", PIXEL, engine="ncnn", tool_mean=4.0)])
    model = build_model(extra, runs["base"])
    spec = model["tables"]["regressions"]
    keys = [c["key"] for c in spec["columns"]]
    rows = [dict(zip(keys, r)) for r in spec["rows"]]
    assert [r["verdict"] for r in rows] == ["regressed", "infra_error", "new"]
    assert model["summary"]["regressions"] == 1 and model["regressions"]["counts"] == {
        "regressed": 1, "infra_error": 1, "new": 1}
    assert rows[0]["central_kind"] == "median of iterations" and rows[0]["device_key"] == \
        "Intel(R) Xeon(R) CPU"
    lines = gate_lines(model["regressions"], model["tables"])
    assert lines[0] == ("gate vs baseline base (latency median:5% (floor 0.05 ms), alpha 0.01, "
                        "run_cv 0.01, rechecks 2): 1 regressed, 1 infra_error, 1 new")
    assert lines[1].startswith("  REGRESSED: host ppocr_cls fp32 onnxruntime latency 10")
    assert lines[2] == ("  infra_error: host ppocr_cls int8 onnxruntime: infra error now (not a "
                        "regression): device offline")
    assert len(lines) == 3   # new cells are counted, not listed


def test_report_command_takes_a_baseline_name(runs, tmp_path):
    reports = tmp_path / "reports"
    baselines.save(runs["base"], reports, "main")
    (tmp_path / "pyproject.toml").write_text(f'[tool.edgelab]\nreport_dir = "{reports}"\n')
    out = tmp_path / "r.html"
    proc = harness("report", runs["slower"], "--baseline", "main", "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 regressions vs main (run base)" in proc.stdout and out.is_file()
    missing = harness("report", runs["slower"], "--baseline", "nightly", cwd=tmp_path)
    assert missing.returncode == 2 and "baselines saved there: main" in missing.stderr
