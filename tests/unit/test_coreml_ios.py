"""The EdgelabRunner job and results (harness/engines/coreml_ios.py): the job edgelab writes,
the results parsed from the example file in the runner's format into RawRuns, refusals by name,
and the iOS version a Core ML model needs, read from a real coremltools-built package."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.engines import coreml_ios
from harness.engines.base import RunSettings
from harness.errors import MeasurementError, Unsupported, UsageError

EXAMPLES = Path(__file__).resolve().parents[2] / "ios" / "EdgelabRunner" / "examples"


def test_job_matches_the_example_the_swift_decoder_reads():
    job = coreml_ios.build_job("ppocr_cls.mlpackage", RunSettings(warmup=10, iterations=50),
                               "all", "20261207-043425-d4c200/ppocr_cls-fp32-coreml-all", "17.0")
    assert job == json.loads((EXAMPLES / "job.json").read_text())


def test_job_refuses_unknown_compute_units_and_neural_engine_before_ios16():
    with pytest.raises(UsageError, match="'gpuOnly': use one of cpuOnly, cpuAndGPU, all, "
                                         "cpuAndNeuralEngine"):
        coreml_ios.build_job("m.mlpackage", RunSettings(), "gpuOnly", "j")
    with pytest.raises(Unsupported, match="cpuAndNeuralEngine need iOS 16\\+; this iPhone runs "
                                          "iOS 15.4"):
        coreml_ios.build_job("m.mlpackage", RunSettings(), "cpuAndNeuralEngine", "j", "15.4")
    with pytest.raises(UsageError, match="loads .mlpackage, .mlmodel or .mlmodelc"):
        coreml_ios.build_job("m.onnx", RunSettings(), "all", "j")


def test_results_become_one_raw_run_per_repeat():
    job = json.loads((EXAMPLES / "job.json").read_text())
    (run,) = coreml_ios.parse_results((EXAMPLES / "results.json").read_text(), job)
    assert run.samples_ms == (0.61, 0.58, 0.6, 0.59, 0.62)
    assert (run.load_ms, run.first_ms) == (88.1, 3.9)
    assert run.peak_rss_mb == 33.0 and run.rss_before_load_mb == 12.0  # bytes -> MiB
    assert run.extra["compile_ms"] == 412.8 and run.extra["throttled"] is True  # nominal -> fair
    assert run.extra["compute_units_available"] == ["cpu", "gpu", "neuralEngine(16 cores)"]
    assert run.backend == "Core ML all" and "iOS 17.0" in run.engine_version
    assert "phys_footprint" in run.memory["source"]


def test_results_refused_by_name():
    good = json.loads((EXAMPLES / "results.json").read_text())
    with pytest.raises(MeasurementError, match="not JSON"):
        coreml_ios.parse_results("{truncated")
    with pytest.raises(MeasurementError, match="schema 2; this edgelab reads schema 1"):
        coreml_ios.parse_results(json.dumps({**good, "schema": 2}))
    with pytest.raises(MeasurementError, match="stale results.json"):
        coreml_ios.parse_results(json.dumps(good), {"job_id": "another"})
    with pytest.raises(MeasurementError, match="EdgelabRunner: unsupported model input: x"):
        coreml_ios.parse_results(json.dumps({**good, "status": "error",
                                             "error": "unsupported model input: x"}))
    with pytest.raises(MeasurementError, match="no timed iterations"):
        coreml_ios.parse_results(json.dumps({**good, "repeats": [{"latencies_ms": []}]}))


def test_thermal_rise_is_throttling_and_unknown_stays_unknown():
    assert coreml_ios._rose("nominal", "nominal") is False
    assert coreml_ios._rose("fair", "serious") is True
    assert coreml_ios._rose("", "fair") is None


@pytest.fixture(scope="module")
def ios17_package(tmp_path_factory) -> Path:
    """A real ML program built by coremltools for iOS 17 (runs on Linux: conversion only)."""
    ct = pytest.importorskip("coremltools")
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.relu(x=x, name="y")

    path = tmp_path_factory.mktemp("coreml") / "tiny.mlpackage"
    ct.convert(prog, minimum_deployment_target=ct.target.iOS17, convert_to="mlprogram").save(
        str(path))
    return path


def test_a_model_for_a_newer_ios_is_unsupported_with_both_versions(ios17_package):
    assert coreml_ios.specification_version(ios17_package) == 8
    coreml_ios.check_deployment(ios17_package, "17.0")  # new enough: no objection
    coreml_ios.check_deployment(ios17_package, "18.1")
    with pytest.raises(Unsupported, match=r"specification-8 model, which needs iOS 17.0 or "
                                          r"newer; this iPhone runs iOS 16.7"):
        coreml_ios.check_deployment(ios17_package, "16.7")


def test_unknown_formats_are_not_held_against_the_phone(tmp_path):
    (tmp_path / "compiled.mlmodelc").mkdir()
    assert coreml_ios.specification_version(tmp_path / "compiled.mlmodelc") is None
    coreml_ios.check_deployment(tmp_path / "compiled.mlmodelc", "12.0")
