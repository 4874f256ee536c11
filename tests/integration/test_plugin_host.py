"""The real suites on the host device, run as a user runs them (a separate pytest process)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import read_records, run_pytest

pytestmark = pytest.mark.integration
FAST = ["--iterations", "5", "--warmup", "1"]
# the two engines whose fp32 cells exist without a variant build (the build has its own tests)
SOURCES_ONLY = ["--engine=onnxruntime,tflite", "--variant=fp32"]


@pytest.fixture(autouse=True)
def _no_variant_builds(sources_only_cache, monkeypatch):
    """The grids here count unsupported cross-format cells: a cache without variant builds."""
    monkeypatch.setenv("EDGELAB_CACHE", str(sources_only_cache))


def latest(report_dir):
    return report_dir / os.readlink(report_dir / "latest")


def test_host_run_records_both_engines(tmp_path, model_files):
    proc = run_pytest(["suites/", "--device=host", *FAST, *SOURCES_ONLY, "--report-dir",
                       str(tmp_path), "-v"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "test_latency[host-ppocr_cls-fp32-onnxruntime] PASSED" in proc.stdout
    assert "test_latency[host-face_landmark-fp32-tflite] PASSED" in proc.stdout
    run_dir = latest(tmp_path)
    records = read_records(run_dir)
    ok = {(r["model"]["name"], r["engine"]["name"]) for r in records
          if r["status"] == "ok" and r["suite"] == "latency"}
    assert ok == {("ppocr_cls", "onnxruntime"), ("face_landmark", "tflite")}
    for r in records:
        if r["status"] == "ok":
            assert r["latency"]["n"] == (5 if r["suite"] == "latency" else 3) and len(r["samples_ms"]) == r["latency"]["n"]
            assert r["latency"]["min_ms"] <= r["latency"]["median_ms"] <= r["latency"]["max_ms"]
            assert r["engine"]["version"] and r["engine"]["threads"] == 1
            assert r["memory"]["peak_rss_mb"] > r["memory"]["rss_before_load_mb"] > 0
            assert r["device"]["kind"] == "host" and r["device"]["abis"]
            assert "noisy" in r["conditions"] and r["variant"]["sha256"]
        if r["status"] == "ok" and r["suite"] == "latency":  # sampled around the child's loop
            power, telemetry = r["power"], r["extra"]["telemetry"]
            assert power["inferences"] == 5 and "CLOCK_MONOTONIC" in power["timed_window"]
            # RAPL where this machine exposes it, else the reason (VMs and containers: none)
            assert power["source"] == "rapl" or power["unavailable"], power
            assert telemetry["run_window"]["samples"] >= 2 and r["extra"]["trace"]["t_s"]
            assert r["conditions"]["throttled"] in (True, False, None)
    cross = [r for r in records if r["status"] == "unsupported"]
    assert cross and all(r["reason"].startswith(("no fp32 tflite artifact", "no fp32 onnx artifact"))
                         for r in cross)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["counts"]["ok"] == 4 and info["engines"]["onnxruntime"]
    assert (run_dir / "report.html").stat().st_size > 1000
    assert "edgelab" in proc.stdout and "median ms" in proc.stdout  # terminal summary


def test_xdist_run_keeps_one_device_per_worker_and_one_run(tmp_path, model_files):
    proc = run_pytest(["suites/test_latency.py", "--device=host", *FAST, *SOURCES_ONLY, "-n", "2",
                       "--dist", "loadgroup", "--report-dir", str(tmp_path)])
    assert proc.returncode == 0, proc.stdout[-3000:]
    runs = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 1  # workers wrote into the controller's run
    records = read_records(runs[0])
    assert len(records) == 4 and len({r["run_id"] for r in records}) == 1


@pytest.mark.parametrize("args, message", [
    (["--device=pixel99"], "--device: unknown device id(s) pixel99; available: all, host"),
    (["--engine=tensorrt"], "--engine: unknown value(s) tensorrt; valid: onnxruntime, tflite"),
    (["--model=resnet9000"], "--model: unknown model 'resnet9000'; valid: ppocr_cls"),
    (["--variant=int3"], "--variant: unknown value(s) int3; valid: fp32"),
    (["--iterations=0"], "argument --iterations: 0 must be at least 1"),
])
def test_bad_input_is_one_clear_usage_error(tmp_path, args, message):
    proc = run_pytest(["suites/", *args, "--report-dir", str(tmp_path)])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 4, output[-2000:]
    assert message in output
    assert "Traceback" not in output


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_corrupt_model_fails_its_cells_and_the_run_goes_on(tmp_path, model_files, suffix):
    good = model_files["ppocr_cls" if suffix == ".onnx" else "face_landmark"]
    broken = tmp_path / f"truncated{suffix}"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    proc = run_pytest(["suites/test_latency.py", "--device=host", *FAST, *SOURCES_ONLY,
                       f"--model={broken},ppocr_cls", "--report-dir", str(tmp_path / "r")])
    assert proc.returncode == 1  # the broken cell fails the test run ...
    records = read_records(latest(tmp_path / "r"))
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 1 and str(broken.name) in failed[0]["reason"]
    # ... and the good model was still measured afterwards
    assert any(r["status"] == "ok" and r["model"]["name"] == "ppocr_cls" for r in records)


def test_manifest_hash_mismatch_runs_nothing(tmp_path, repo_root, model_files):
    manifest = (repo_root / "models" / "manifest.toml").read_text()
    good = "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"
    cache = tmp_path / "cache"
    shutil.copytree(model_files["ppocr_cls"].parents[2], cache)  # the real cache, then tamper
    (tmp_path / "manifest.toml").write_text(manifest.replace(good, "f" * 64))
    proc = run_pytest(["suites/", "--device=host", "--model=ppocr_cls",
                       f"--edgelab-manifest={tmp_path / 'manifest.toml'}",
                       f"--edgelab-cache={cache}", "--report-dir", str(tmp_path / "r")])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 4 and "sha256 mismatch" in output, output[-2000:]
    assert "Traceback" not in output
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*/results.jsonl"))


@pytest.mark.parametrize("body, message", [
    ("[tool.edgelab.fidelity]\nmin_cosine = 0.99\ncolour = 1\n",
     "[tool.edgelab.fidelity]: unknown key(s) ['colour']"),
    ('[tool.edgelab]\nnoise_cv = "high"\n',
     'pyproject.toml [tool.edgelab] noise_cv = "high": must be a number >= 0'),
])
def test_bad_lab_config_is_a_usage_error(tmp_path, body, message):
    (tmp_path / "pyproject.toml").write_text(body)
    (tmp_path / "test_lab.py").write_text("def test_lab(bench):\n    pass\n")
    proc = run_pytest(["--device=host", "test_lab.py"], cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 4 and message in output, output[-2000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output


def test_a_broken_report_loses_no_record(tmp_path, model_files, repo_root):
    # a lab hook that breaks run.json serialisation stands in for any bug in report building
    (tmp_path / "conftest.py").write_text(
        "def pytest_edgelab_update_run_info(config, info):\n"
        "    if 'finished' in info:\n"
        "        raise RuntimeError('report bug')\n")
    (tmp_path / "test_lab.py").write_text("def test_lab(bench):\n    bench.conclude(bench.measure())\n")
    proc = run_pytest(["--device=host", "--model=ppocr_cls", "--engine=onnxruntime",
                       "--variant=fp32", *FAST, f"--edgelab-manifest={repo_root / 'models/manifest.toml'}",
                       "--report-dir", str(tmp_path / "r"), "test_lab.py"], cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert "report not written (RuntimeError: report bug)" in output, output[-2000:]
    assert "python -m harness report" in output and "INTERNALERROR" not in output
    assert proc.returncode == 7  # no report: `make bench` must not call this a success
    (run_dir,) = [p for p in (tmp_path / "r").iterdir() if p.is_dir()]
    assert [r["status"] for r in read_records(run_dir)] == ["ok"]
