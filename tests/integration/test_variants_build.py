"""The variant build with the real converters on small real models (ppocr_cls, face/iris landmarks)."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from harness.models.build.index import VariantIndex, tree_sha256
from harness.models.build.pipeline import Plan, all_recipes, build_model, load_plan
from harness.models.build.recipe import Recipe
from harness.errors import Unsupported, UsageError
from harness.models.manifest import load_manifest
from harness.models.variants import resolve_artifact

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
MODELS = ("ppocr_cls", "face_landmark", "iris_landmark")
HAS_COREML = all(importlib.util.find_spec(m) for m in ("coremltools", "torch", "onnx2torch"))
PLANS = {
    # Core ML costs ~20 s per variant on 2 cores: one is enough to prove the path
    "ppocr_cls": Plan(("fp32", "fp16", "int8", "int8-dynamic", "int8-weight"),
                      ("onnx", "ncnn", "mnn", "tflite")),
    "face_landmark": Plan(("fp32", "fp16", "int8", "int8-dynamic", "int8-weight"),
                          ("tflite", "mnn", "ncnn")),
    "iris_landmark": Plan(("fp32", "int8"), ("tflite",)),
}


def quiet(_message):
    pass


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(REPO / "models" / "manifest.toml")


@pytest.fixture(scope="module")
def sources(manifest):
    from harness.models.fetch import default_cache_dir, fetch

    return {name: fetch(manifest[name], default_cache_dir(), log=quiet) for name in MODELS}


@pytest.fixture(scope="module")
def built(tmp_path_factory, manifest, sources):
    build_dir = tmp_path_factory.mktemp("build")
    index = VariantIndex.load(build_dir)
    results = {}
    for name in MODELS:
        results[name] = build_model(manifest[name], sources[name], index, PLANS[name], log=quiet)
    coreml = [r for r in all_recipes() if r.format == "coreml" and r.variant == "fp16"]
    results["coreml"] = build_model(manifest["ppocr_cls"], sources["ppocr_cls"], index,
                                    Plan(("fp16",), ("coreml",)), log=quiet, recipes=coreml)
    return build_dir, results


def entries(build_dir: Path) -> dict:
    return json.loads((build_dir / "variants.json").read_text())["entries"]


def test_index_lists_every_planned_cell_with_its_facts(built):
    build_dir, _ = built
    index = entries(build_dir)
    ok = {k for k, e in index.items() if e["status"] == "ok"}
    assert {"ppocr_cls/fp32/onnx", "ppocr_cls/fp16/onnx", "ppocr_cls/int8/onnx",
            "ppocr_cls/int8-dynamic/onnx", "ppocr_cls/fp32/ncnn", "ppocr_cls/fp16/ncnn",
            "ppocr_cls/fp32/mnn", "ppocr_cls/fp16/mnn", "ppocr_cls/int8-weight/mnn",
            "ppocr_cls/int8/mnn", "face_landmark/fp16/tflite", "face_landmark/int8/tflite",
            "face_landmark/int8-dynamic/tflite", "face_landmark/int8-weight/tflite",
            "face_landmark/fp32/mnn", "iris_landmark/int8/tflite"} <= ok
    for key in ok:
        entry = index[key]
        path = Path(entry["path"]) if Path(entry["path"]).is_absolute() else build_dir / entry["path"]
        assert (entry["sha256"], entry["bytes"]) == tree_sha256(path), key
        assert entry["compression_ratio"] == pytest.approx(entry["source"]["bytes"] / entry["bytes"],
                                                           abs=1e-3)
        assert entry["source"]["sha256"] and entry["precision"] and entry["key"]
        if entry["converter"]["name"] != "source":
            assert entry["converter"]["version"], key
    # quantization really happened: the trap of ai-edge-quantizer is a silent x1.00
    assert index["face_landmark/int8-dynamic/tflite"]["compression_ratio"] > 3
    assert index["face_landmark/fp16/tflite"]["compression_ratio"] > 1.8
    assert index["ppocr_cls/int8/onnx"]["compression_ratio"] > 1.5
    ncnn = build_dir / index["ppocr_cls/fp32/ncnn"]["path"]
    assert ncnn.suffix == ".param" and ncnn.with_suffix(".bin").is_file()


def test_impossible_cells_say_why(built):
    index = entries(built[0])
    reasons = {k: e["reason"] for k, e in index.items() if e["status"] == "unconvertible"}
    assert "no dynamic-range INT8 mode" in reasons["ppocr_cls/int8-dynamic/ncnn"]
    assert "no weight-only INT8 mode" in reasons["face_landmark/int8-weight/ncnn"]
    assert "weight-only" in reasons["ppocr_cls/int8-weight/onnx"]
    coreml = index["ppocr_cls/fp16/coreml"]
    if HAS_COREML:
        package = built[0] / coreml["path"]
        assert coreml["status"] == "ok" and package.suffix == ".mlpackage" and package.is_dir()
    else:
        assert coreml["reason"] == "coremltools not installed (pip install 'edgelab[coreml]')"


def test_second_build_converts_nothing(built, manifest, sources):
    build_dir, _ = built
    before = {p: p.stat().st_mtime_ns for p in build_dir.rglob("*") if p.is_file()}
    index = VariantIndex.load(build_dir)
    for name in MODELS:
        again = build_model(manifest[name], sources[name], index, PLANS[name], log=quiet)
        assert {r["action"] for r in again} == {"cached"}, name
    after = {p: p.stat().st_mtime_ns for p in build_dir.rglob("*") if p.is_file()
             if p.name != "variants.json" and p.name != ".lock"}
    assert all(before[p] == t for p, t in after.items())


def test_resolution_reads_the_index(built, manifest, sources):
    build_dir, _ = built
    spec, source = manifest["ppocr_cls"], sources["ppocr_cls"]
    artifact = resolve_artifact(spec, source, "fp16", "ncnn", build_dir)
    assert artifact.path.suffix == ".param" and artifact.converter.startswith("pnnx ")
    assert resolve_artifact(spec, source, "fp32", "onnx", build_dir).path == source
    with pytest.raises(Unsupported, match="no int8-dynamic ncnn artifact of ppocr_cls: ncnn has "
                                          "no dynamic-range INT8 mode"):
        resolve_artifact(spec, source, "int8-dynamic", "ncnn", build_dir)
    with pytest.raises(Unsupported, match="variants not built yet"):
        resolve_artifact(manifest["ppocr_det"], source, "fp16", "onnx", build_dir)


def test_converter_failure_costs_only_its_variant(tmp_path, manifest):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07\x12\x04junk" * 50)  # not a loadable ONNX graph
    spec = manifest["ppocr_cls"]
    index = VariantIndex.load(tmp_path / "build")
    results = {r["id"]: r for r in build_model(
        spec, broken, index, Plan(("fp32", "fp16", "int8-weight"), ("onnx", "mnn")), log=quiet)}
    failed = [r for r in results.values() if r["action"] == "failed"]
    assert {r["id"] for r in failed} == {"ppocr_cls/fp16/onnx", "ppocr_cls/fp32/mnn",
                                         "ppocr_cls/fp16/mnn", "ppocr_cls/int8-weight/mnn"}
    assert all(r["status"] == "unconvertible" and 0 < len(r["reason"]) <= 500 for r in failed)
    assert "MNN converter" in results["ppocr_cls/fp32/mnn"]["reason"]
    assert results["ppocr_cls/fp32/onnx"]["status"] == "ok"  # the others still went on
    assert not list((tmp_path / "build" / "ppocr_cls").glob("mnn/*"))  # nothing half-made


def _boom(ctx, out):
    (out / "half.onnx").write_bytes(b"half a model")
    raise KeyboardInterrupt  # the build is killed mid-conversion


def test_interrupted_build_leaves_no_valid_looking_artifact(tmp_path, manifest, sources):
    spec, build_dir = manifest["ppocr_cls"], tmp_path / "build"
    index = VariantIndex.load(build_dir)
    recipe = Recipe("onnx", "fp16", "test", "onnx", {}, _boom)
    with pytest.raises(KeyboardInterrupt):
        build_model(spec, sources["ppocr_cls"], index, Plan(("fp16",), ("onnx",)), log=quiet,
                    recipes=[recipe])
    assert not list(build_dir.rglob("*.onnx"))
    assert "ppocr_cls/fp16/onnx" not in VariantIndex.load(build_dir).entries
    # a SIGKILL skips every finally: its leftover temp dir is swept by the next build
    leftover = build_dir / "ppocr_cls" / ".tmp-killed"
    leftover.mkdir(parents=True)
    (leftover / "ppocr_cls.onnx").write_bytes(b"half")
    build_model(spec, sources["ppocr_cls"], index, Plan(("fp32",), ("onnx",)), log=quiet)
    assert not leftover.exists()
    assert not (build_dir / "variants.json.tmp").exists()
    assert not [p for p in build_dir.iterdir() if p.name.startswith(".variants.json.tmp")]


def test_plan_errors_name_the_entry(tmp_path):
    plan = tmp_path / "variants.toml"
    plan.write_text('[ppocr_cls]\nvariants = ["fp32", "int4"]\n')
    with pytest.raises(UsageError, match=r"\[ppocr_cls\]: unknown variant 'int4'; valid: fp32"):
        load_plan(plan, ["ppocr_cls"])
    plan.write_text('[default]\nformats = ["tensorrt"]\n')
    with pytest.raises(UsageError, match=r"\[default\]: unknown format 'tensorrt'"):
        load_plan(plan, ["ppocr_cls"])
    plan.write_text('[resnet]\nvariants = ["fp32"]\n')
    with pytest.raises(UsageError, match="unknown model 'resnet'"):
        load_plan(plan, ["ppocr_cls"])
    assert load_plan(tmp_path / "absent.toml", ["m"])["m"].formats[0] == "onnx"


def test_cli_build_reports_counts(tmp_path):
    import subprocess
    import sys

    plan = tmp_path / "plan.toml"
    plan.write_text('[default]\nvariants = ["fp32", "fp16"]\nformats = ["onnx"]\n')
    proc = subprocess.run([sys.executable, "-m", "harness", "models", "build", "--model",
                           "ppocr_cls", "--plan", str(plan), "--build-dir", str(tmp_path / "b")],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert "1 built, 1 source" in proc.stdout
    # the conversion matrix comes last: one row per model and engine, a column per variant
    matrix = proc.stdout[proc.stdout.index("conversion matrix"):].splitlines()
    assert matrix[1].split() == ["model", "engine", "fp32", "fp16", "int8", "int8-dynamic",
                                 "int8-weight"]
    row = matrix[2].split()
    assert row[:4] == ["ppocr_cls", "onnxruntime", "ok", "(source)"]
    assert row[4:7] == ["ok", "cos", "1.0000"] and row[7:] == ["not", "built"] * 3


def test_mnn_models_have_the_benchmark_input_shape(built, manifest, sources):
    """MNN's phone tool cannot set input shapes: a dynamic dim left in the .mnn file would be
    timed at 1 (ppocr_cls: 1x3x48x1), another computation than the host's 1x3x48x192."""
    import MNN

    build_dir, _ = built
    spec = manifest["ppocr_cls"]
    for variant in ("fp32", "int8"):
        artifact = resolve_artifact(spec, sources["ppocr_cls"], variant, "mnn", build_dir)
        net = MNN.nn.load_module_from_file(str(artifact.path), [], [])
        shapes = [list(info.shape) for info in net.get_info()["inputs"]]
        assert shapes == [[1, 3, 48, 192]], (variant, shapes)
    entry = next(e for e in entries(build_dir).values()
                 if e["model"] == "ppocr_cls" and e["format"] == "mnn" and e["variant"] == "fp32")
    assert entry["notes"]["static_input_shape"] == {"x": [1, 3, 48, 192]}


def test_cross_format_edges_are_built_and_checked_against_the_source(built, manifest, sources):
    """Issue 19: an ONNX source reaches LiteRT (litert-torch), a TFLite source reaches ONNX
    Runtime (tflite2onnx) and ncnn (through that ONNX), every converted FP32 model is compared
    with the source on the benchmark picture before its variants are built, and ncnn INT8 is
    made (edgelab's writer of ncnn's int8 format)."""
    build_dir, _ = built
    index = entries(build_dir)
    expected = {"ppocr_cls/fp32/tflite": ("litert-torch", ["onnx", "tflite"]),
                "face_landmark/fp32/onnx": ("tflite2onnx", ["tflite", "onnx"]),
                "face_landmark/fp32/ncnn": ("pnnx", ["tflite", "onnx", "ncnn"]),
                "face_landmark/int8/ncnn": (None, ["tflite", "onnx", "ncnn", "ncnn"]),
                "ppocr_cls/int8/ncnn": (None, ["onnx", "ncnn", "ncnn"])}
    for key, (converter, formats) in expected.items():
        entry = index[key]
        assert entry["status"] == "ok", (key, entry["reason"])
        assert [step["format"] for step in entry["chain"]] == formats, key
        assert entry["chain"][0] == {"format": entry["source"]["format"], "converter": "source",
                                     "sha256": entry["source"]["sha256"]}
        if converter:
            assert entry["converter"]["name"] == converter and entry["converter"]["version"]
        figures = entry["fidelity"]
        assert figures["input"] == manifest[entry["model"]].input.image
        assert figures["cosine"] is not None and figures["ok"] in (True, False), key
    # the conversions are exact up to float rounding: the verdict is a pass with real figures
    for key in ("ppocr_cls/fp32/tflite", "face_landmark/fp32/onnx", "face_landmark/fp32/ncnn"):
        assert index[key]["fidelity"]["ok"] is True and index[key]["fidelity"]["cosine"] > 0.999
    assert index["ppocr_cls/fp32/tflite"]["fidelity"]["top1_agreement"] == 1.0
    assert index["face_landmark/fp32/onnx"]["fidelity"]["landmark_nme"] < 0.001
    # variants of a converted format are built from the checked FP32 model, not the source
    derived = index["ppocr_cls/int8-dynamic/tflite"]
    assert derived["input"] == {"format": "tflite", "entry": "ppocr_cls/fp32/tflite",
                                "sha256": index["ppocr_cls/fp32/tflite"]["sha256"]}
    assert index["ppocr_cls/int8/ncnn"]["converter"]["name"] in ("edgelab", "ncnn-tools")
    assert index["ppocr_cls/int8/ncnn"]["compression_ratio"] > 3  # int8 weights really stored
    # the TFLite source's ONNX keeps the source's NHWC interface (Transposes at its edges)
    onnx_model = build_dir / index["face_landmark/fp32/onnx"]["path"]
    from harness.models.inputs import declared_inputs

    assert [t.shape for t in declared_inputs(onnx_model, "onnx")] == [(1, 192, 192, 3)]
    # records can say how an artifact was made
    artifact = resolve_artifact(manifest["face_landmark"], sources["face_landmark"], "int8",
                                "ncnn", build_dir)
    assert [s["format"] for s in artifact.as_dict()["chain"]] == ["tflite", "onnx", "ncnn", "ncnn"]


def test_a_drifting_conversion_blocks_its_variants(tmp_path, manifest, sources):
    """A converted FP32 model whose outputs do not match the source's is kept as a finding
    (its figures in the index) and nothing is built from it."""
    from harness.models.build.verify import Verifier
    from harness.models.fidelity import Thresholds

    index = VariantIndex.load(tmp_path / "build")
    results = {r["id"]: r for r in build_model(
        manifest["face_landmark"], sources["face_landmark"], index,
        Plan(("fp32", "fp16"), ("onnx",)), log=quiet,
        # the real check, judged with a threshold no conversion can meet
        verifier=Verifier(manifest["face_landmark"], sources["face_landmark"],
                          Thresholds(min_cosine=1.01)))}
    bridge = results["face_landmark/fp32/onnx"]
    assert bridge["status"] == "ok" and bridge["fidelity"]["ok"] is False
    assert bridge["fidelity"]["reason"].startswith("output drift: cosine")
    blocked = results["face_landmark/fp16/onnx"]
    assert blocked["status"] == "unconvertible"
    assert "does not compute what the source computes (output drift: cosine" in blocked["reason"]
