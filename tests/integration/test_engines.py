"""ncnn, MNN and Core ML behind the one Engine interface, run as the harness runs them:
a measuring child process on the host (hostrun.run_on_host) on artifacts the build made."""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from harness.models.build.index import VariantIndex
from harness.models.build.pipeline import Plan, build_model
from harness.engines import get_engine
from harness.engines.base import RunSettings
from harness.engines.hostrun import run_on_host
from harness.errors import MeasurementError
from harness.models.fidelity import compare
from harness.models.manifest import load_manifest
from harness.models.variants import resolve_artifact

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
QUICK = RunSettings(warmup=1, iterations=5)
HOST = {"kind": "host", "os": platform.platform(), "arch": platform.machine()}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from harness.models.fetch import default_cache_dir, fetch

    manifest = load_manifest(REPO / "models" / "manifest.toml")
    build_dir = tmp_path_factory.mktemp("build")
    index = VariantIndex.load(build_dir)
    plans = {"ppocr_cls": Plan(("fp32", "fp16", "int8"), ("ncnn", "mnn")),
             "face_landmark": Plan(("fp32", "int8-weight"), ("mnn",))}
    sources = {}
    for name, plan in plans.items():
        sources[name] = fetch(manifest[name], default_cache_dir(), log=lambda _m: None)
        build_model(manifest[name], sources[name], index, plan, log=lambda _m: None)
    return manifest, sources, build_dir


def reference(lab, name, tmp_path):
    manifest, sources, _ = lab
    engine = get_engine("onnxruntime" if manifest[name].format == "onnx" else "tflite")
    out = tmp_path / f"ref-{name}.npz"
    run_on_host(engine, sources[name], manifest[name].input,
                RunSettings(warmup=0, iterations=1, save_outputs=str(out)))
    return load(out)


def load(path):
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


@pytest.mark.parametrize("engine_name, model, variant", [
    ("ncnn", "ppocr_cls", "fp32"), ("ncnn", "ppocr_cls", "fp16"),
    ("mnn", "ppocr_cls", "fp32"), ("mnn", "ppocr_cls", "int8"),
    ("mnn", "face_landmark", "fp32"), ("mnn", "face_landmark", "int8-weight"),
])
def test_engine_runs_its_artifact_on_the_host(lab, tmp_path, engine_name, model, variant):
    manifest, sources, build_dir = lab
    engine = get_engine(engine_name)
    artifact = resolve_artifact(manifest[model], sources[model], variant, engine.formats[0],
                                build_dir)
    assert engine.supports(artifact.format, HOST).ok
    outputs = tmp_path / "out.npz"
    raw = run_on_host(engine, artifact.path, manifest[model].input,
                      RunSettings(warmup=1, iterations=5, save_outputs=str(outputs)))
    assert len(raw.samples_ms) == 5 and all(0 < s < 2000 for s in raw.samples_ms)
    assert raw.engine_version == engine.version() and raw.threads == 1
    assert raw.extra["input_source"].startswith("skimage.data.")
    assert raw.peak_rss_mb > raw.rss_before_load_mb > 0
    if engine_name == "ncnn":
        assert "1 thread(s)" in raw.backend and "fp16 arithmetic" in raw.backend
    else:
        assert raw.backend.startswith("CPU 1 thread(s), precision=high")
    result = compare(reference(lab, model, tmp_path), load(outputs), manifest[model].task)
    # FP32 must match the source engine; quantized variants only need to be the same model
    # (how far they drift is a finding the fidelity check reports, e.g. MNN INT8 cls ~0.95)
    floor = 0.999 if variant == "fp32" else 0.8
    assert result["finite"] and result["cosine"] > floor, result


def test_ncnn_pair_needs_its_bin(lab, tmp_path):
    manifest, sources, build_dir = lab
    artifact = resolve_artifact(manifest["ppocr_cls"], sources["ppocr_cls"], "fp32", "ncnn",
                                build_dir)
    lonely = tmp_path / "model.param"
    lonely.write_bytes(artifact.path.read_bytes())
    with pytest.raises(MeasurementError, match="missing model.bin"):
        run_on_host(get_engine("ncnn"), lonely, manifest["ppocr_cls"].input, QUICK)


def test_corrupt_mnn_file_fails_as_a_measurement(tmp_path, lab):
    manifest = lab[0]
    bad = tmp_path / "bad.mnn"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(MeasurementError):
        run_on_host(get_engine("mnn"), bad, manifest["ppocr_cls"].input, QUICK)


def test_coreml_is_unsupported_off_apple_with_the_reason():
    engine = get_engine("coreml")
    support = engine.supports("coreml", {"kind": "host", "os": "Linux-6.1-x86_64-with-glibc2.36"})
    assert not support.ok and support.reason.startswith("Core ML runs only on macOS/iOS")
    android = engine.supports("coreml", {"kind": "android", "os": "Android 14"})
    assert "Core ML runs only on macOS/iOS (this device: Android 14)" == android.reason
    assert engine.formats == ("coreml",)


def test_engines_report_versions_without_importing():
    for name in ("ncnn", "mnn"):
        assert get_engine(name).version()
    assert not get_engine("mnn").supports("onnx", HOST).ok
    assert get_engine("ncnn").supports("mnn", HOST).reason == "ncnn runs ncnn models, not mnn"


def test_suite_cells_get_precise_statuses_and_fidelity(lab, tmp_path):
    """The compat suite over engines x variants, as a user runs it, on this module's build."""
    from tests.conftest import read_records, run_pytest

    build_dir = lab[2]
    proc = run_pytest(["suites/test_compat.py", "--device=host", "--model=ppocr_cls",
                       "--engine=onnxruntime,ncnn,mnn,coreml", "--variant=fp32,fp16,int8",
                       "--report-dir", str(tmp_path)], env={"EDGELAB_BUILD": str(build_dir)})
    runs = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = {(r["variant"]["id"], r["engine"]["name"]): r for r in read_records(runs[0])}
    assert len(records) == 12
    for key, record in records.items():
        assert record["reason"] or record["status"] == "ok", key
        if record["status"] in ("ok", "failed"):
            assert record["fidelity"]["cosine"] is not None, key
            assert record["status"] == "ok" or record["reason"].startswith("output drift: "), key
    assert records[("fp32", "ncnn")]["status"] == "ok"
    assert records[("fp32", "ncnn")]["fidelity"]["top1_agreement"] == 1.0
    assert records[("fp32", "ncnn")]["variant"]["format"] == "ncnn"
    assert records[("fp32", "mnn")]["fidelity"]["cosine"] > 0.999
    # ncnn INT8 is built (edgelab's writer of ncnn's int8 format): a measured cell, judged on
    # fidelity like every other
    assert records[("int8", "ncnn")]["status"] in ("ok", "failed")
    assert records[("int8", "ncnn")]["variant"]["converter"].startswith(("edgelab", "ncnn-tools"))
    for variant in ("fp32", "fp16", "int8"):
        coreml = records[(variant, "coreml")]
        assert coreml["status"] == "unsupported"
        assert coreml["reason"].startswith("Core ML runs only on macOS/iOS")
        # a built .mlpackage is listed as built-but-unsupported-here, with its size
        built = coreml["variant"].get("bytes")
        assert ("the coreml artifact is built" in coreml["reason"]) == bool(built), coreml
    # the ONNX variants were not built into this build dir: the reason says how to get them
    assert "variants not built yet" in records[("fp16", "onnxruntime")]["reason"]
    assert records[("fp32", "onnxruntime")]["status"] == "ok"  # the source needs no build
