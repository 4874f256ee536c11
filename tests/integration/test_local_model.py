"""A local model file end to end: the build command an unsupported cell prints, pasted as is,
builds its variants; the next `pytest suites/` finds them; --input-shape reaches the run and the
build, and without it the guessed shape is said in the terminal, the record and the report."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.conftest import read_records, run_pytest

pytestmark = pytest.mark.integration
FAST = ["--device=host", "--engine=onnxruntime", "--iterations", "3", "--warmup", "1"]
SHAPE = ["--input-shape", "x=1x3x48x192"]


@pytest.fixture
def local_model(tmp_path, model_files):
    """ppocr_cls under another name: its input x is declared (?, 3, ?, ?), H and W dynamic."""
    from harness.models.inputs import declared_inputs, is_dynamic

    path = tmp_path / "my_model.onnx"
    shutil.copyfile(model_files["ppocr_cls"], path)
    (x,) = declared_inputs(path, "onnx")
    assert x.name == "x" and is_dynamic(x.shape[2]) and is_dynamic(x.shape[3])
    return path


def _suites(model, report_dir, env, *args):
    proc = run_pytest(["suites/", f"--model={model}", *FAST, "--report-dir", str(report_dir),
                       *args], env=env)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    run_dir = report_dir / os.readlink(report_dir / "latest")
    return proc, run_dir, [r for r in read_records(run_dir) if r["suite"] == "latency"]


def test_local_file_variants_build_from_the_printed_command(tmp_path, local_model):
    env = {"EDGELAB_BUILD": str(tmp_path / "build")}
    # 1. nothing built yet: the fp16 cell is unsupported and says how to build
    _, _, records = _suites(local_model, tmp_path / "r1", env, "--variant=fp32,fp16", *SHAPE)
    reason = next(r["reason"] for r in records if r["variant"]["id"] == "fp16")
    assert r"variants not built yet (run `" in reason, reason
    command = reason.split("(run `", 1)[1].split("`", 1)[0]
    assert str(local_model) in command and "--input-shape x=1x3x48x192" in command
    # 2. pasted as is, from another directory (a plan there keeps the build to ONNX, for speed)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "models").mkdir(parents=True)
    (elsewhere / "models" / "variants.toml").write_text(
        '[default]\nvariants = ["fp32", "fp16", "int8"]\nformats = ["onnx"]\n')
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "harness"]
    built = subprocess.run([sys.executable, *argv[1:]], cwd=elsewhere, capture_output=True,
                           text=True, timeout=600, env={**os.environ, **env})
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert "2 built, 1 source" in built.stdout
    index = json.loads((tmp_path / "build" / "variants.json").read_text())["entries"]
    assert index["my_model/int8/onnx"]["input_shapes"] == {"x": [1, 3, 48, 192]}  # calibrated so
    # 3. the next run finds every variant and feeds the given shape
    _, _, records = _suites(local_model, tmp_path / "r2", env, "--variant=fp32,fp16,int8", *SHAPE)
    assert {r["variant"]["id"]: r["status"] for r in records}.keys() == {"fp32", "fp16", "int8"}
    for r in records:
        assert r["status"] in ("ok", "failed"), r["reason"]  # failed only as fidelity drift
        assert r["variant"]["id"] == "fp32" or r["variant"]["converter"] != "source"
        assert r["extra"]["input_shapes"] == {"x": [1, 3, 48, 192]}
        assert "input_shape_guessed" not in r["extra"]


def test_guessed_input_shape_is_said_everywhere(tmp_path, local_model):
    proc, run_dir, records = _suites(local_model, tmp_path / "r", {}, "--variant=fp32")
    (record,) = records
    assert record["status"] == "ok"
    assert record["extra"]["input_shape_guessed"] == {"x": [1, 3, 224, 224]}
    assert "--input-shape" in record["extra"]["input_shape_warning"]
    assert record["model"]["input_shape_guessed"] == {"x": [1, 3, 224, 224]}
    assert "my_model: dynamic input dims guessed: x=1x3x224x224" in proc.stdout  # at the start
    assert "input shapes guessed for dynamic dims" in proc.stdout  # and in the summary
    html = (run_dir / "report.html").read_text()
    assert "input shapes guessed for dynamic dims (my_model x=1x3x224x224)" in html


def test_bad_input_shape_is_one_usage_error(tmp_path, local_model):
    for spec, message in (("x=1x3xHx192", "is not NAME=DIMS, DIMS positive integers joined by x"),
                          ("y=1x3x48x192", "--input-shape y: no model input has that name "
                                           "(inputs of my_model: x)"),
                          ("x=1x3x48", "does not fit the model's ?x3x?x?")):
        proc = run_pytest(["suites/", f"--model={local_model}", *FAST, "--input-shape", spec,
                           "--report-dir", str(tmp_path / "r")])
        output = proc.stdout + proc.stderr
        assert proc.returncode == 4 and message in output, output[-2000:]
        assert "Traceback" not in output
