"""The conversion pipeline's pure parts: which model a recipe reads, which cells a plan needs,
which recipe makes a cell, the NHWC interface given back to a tflite2onnx model, and the
matrix `models build` prints."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.models.build.matrix import cell_text, chain_text, render
from harness.models.build.pipeline import (Form, Plan, _choose, groups_of, input_format,
                                           wanted_cells)
from harness.models.build.recipe import ConversionError, Recipe
from harness.models.build.verify import summary


def _r(fmt, variant, converter="x", sources=("onnx",), **kw):
    return Recipe(fmt, variant, "p", converter, {}, lambda c, o: o, sources=sources, **kw)


RECIPES = [
    _r("onnx", "fp32", "source"), _r("onnx", "fp32", "tflite2onnx", sources=("tflite",)),
    _r("onnx", "fp16", "onnxconverter-common"),
    _r("tflite", "fp32", "source", sources=("tflite",)), _r("tflite", "fp32", "litert-torch"),
    _r("tflite", "int8", "ai-edge-quantizer", sources=("tflite",)),
    _r("ncnn", "fp32", "pnnx"), _r("ncnn", "int8", "ncnn-tools", sources=("ncnn",)),
    _r("ncnn", "int8", "edgelab", sources=("ncnn",)),
    _r("mnn", "fp32", "MNN", sources=("onnx", "tflite")),
]


def test_a_recipe_reads_the_source_when_it_can():
    mnn = RECIPES[-1]
    assert input_format(mnn, "tflite") == "tflite" and input_format(mnn, "onnx") == "onnx"
    assert input_format(RECIPES[6], "tflite") == "onnx"  # pnnx: the ONNX made from the TFLite


def test_a_plan_pulls_in_the_fp32_cells_its_cells_read():
    groups = groups_of(RECIPES)
    # a TFLite source's ncnn INT8 reads ncnn FP32, which reads the ONNX made from the source
    wanted = wanted_cells(groups, Plan(("int8",), ("ncnn",)), "tflite")
    assert wanted == {("ncnn", "int8"), ("ncnn", "fp32"), ("onnx", "fp32")}
    # an ONNX source needs its own format for nothing
    assert wanted_cells(groups, Plan(("int8",), ("ncnn",)), "onnx") == \
        {("ncnn", "int8"), ("ncnn", "fp32")}
    assert wanted_cells(groups, Plan(("int8",), ("tflite",)), "onnx") == \
        {("tflite", "int8"), ("tflite", "fp32")}
    assert wanted_cells(groups, Plan(("fp32",), ("mnn",)), "tflite") == {("mnn", "fp32")}


def test_the_first_recipe_that_can_run_makes_the_cell(monkeypatch):
    groups = groups_of(RECIPES)
    monkeypatch.setattr("harness.models.build.recipe.dist_version", lambda name: "1.0")
    source = Form("tflite", Path("m.tflite"), "abc", ({"format": "tflite"},))
    recipe, form, blocked = _choose(groups[("onnx", "fp32")], {"tflite": source}, {}, "tflite")
    assert (recipe.converter, form, blocked) == ("tflite2onnx", source, None)
    # the lab's ncnn tools are missing: edgelab's writer makes ncnn INT8
    missing = Recipe("ncnn", "int8", "p", "ncnn-tools", {}, lambda c, o: o, sources=("ncnn",),
                     missing=lambda: "ncnn's ncnn2table not found in PATH")
    ncnn = Form("ncnn", Path("m.param"), "def", (), "m/fp32/ncnn")
    recipe, form, blocked = _choose([missing, RECIPES[8]], {"ncnn": ncnn}, {}, "onnx")
    assert recipe.converter == "edgelab" and blocked is None
    # no FP32 ncnn model: the reason is the one its FP32 cell gave
    recipe, form, blocked = _choose([missing, RECIPES[8]], {}, {"ncnn": "built from X: broke"},
                                    "onnx")
    assert blocked == "built from X: broke"
    # a converter not installed says so, before a missing input does
    monkeypatch.setattr("harness.models.build.recipe.dist_version",
                        lambda name: None if name == "litert-torch" else "1")
    onnx = Form("onnx", Path("m.onnx"), "abc", ())
    recipe, _, blocked = _choose(groups[("tflite", "fp32")], {"onnx": onnx}, {}, "onnx")
    assert recipe.converter == "litert-torch" and blocked.startswith("litert-torch not installed")


def _onnx_model(in_shape, out_shape):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_the_source_interface_is_given_back_to_an_nchw_conversion():
    import onnx
    import onnxruntime as ort

    from harness.models.build.bridges import restore_interface

    model = _onnx_model([1, 3, 4, 5], [1, 3, 4, 5])
    wrapped = restore_interface(model, {"x": [1, 4, 5, 3]}, {"y": [1, 4, 5, 3]})
    assert wrapped == ["x", "y"]
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 4, 5, 3]
    nhwc = np.random.default_rng(0).normal(size=(1, 4, 5, 3)).astype(np.float32)
    out = session.run(None, {"x": nhwc})[0]
    np.testing.assert_array_equal(out, np.maximum(nhwc, 0))  # same values, same layout
    # an interface that already matches is left alone; another change is an error
    same = _onnx_model([1, 8], [1, 8])
    assert restore_interface(same, {"x": [1, 8]}, {"y": [1, 8]}) == []
    with pytest.raises(ConversionError, match=r"converted model's x is \[1, 3, 4, 5\]"):
        restore_interface(_onnx_model([1, 3, 4, 5], [1, 3, 4, 5]), {"x": [1, 9, 9, 3]}, {})


def _entry(model, fmt, variant, status="ok", fidelity=None, reason=None, chain=None):
    return {"model": model, "format": fmt, "variant": variant, "status": status,
            "fidelity": fidelity, "reason": reason, "chain": chain}


def test_cells_say_ok_drift_built_or_why_not():
    assert cell_text(_entry("m", "onnx", "fp32", fidelity={"ok": True, "reference": True})) == \
        ("ok (source)", None)
    assert cell_text(_entry("m", "onnx", "fp16", fidelity={"ok": True, "cosine": 0.99999})) == \
        ("ok cos 1.0000", None)
    drift = {"ok": False, "cosine": 0.998, "landmark_nme": 0.0271,
             "reason": "output drift: landmark NME 0.0271 > 0.02"}
    assert cell_text(_entry("m", "mnn", "int8", fidelity=drift)) == \
        ("drift cos 0.9980 NME 0.0271", drift["reason"])
    assert summary({"ok": False, "cosine": 0.9, "top1_agreement": 1.0,
                    "reason": "output drift: cosine 0.9000 < 0.99"}) == "cos 0.9000"
    assert cell_text(_entry("m", "coreml", "fp32", fidelity={"ok": None})) == ("built", None)
    assert cell_text(_entry("m", "ncnn", "int8-dynamic", "unconvertible", reason="no mode")) == \
        ("no", "no mode")
    assert cell_text(None) == ("not built", None)


def test_matrix_rows_footnotes_and_chains():
    chain = [{"format": "tflite", "converter": "source"},
             {"format": "onnx", "converter": "tflite2onnx", "version": "0.4.1"},
             {"format": "ncnn", "converter": "pnnx", "version": "20261020"}]
    entries = [
        _entry("face", "tflite", "fp32", fidelity={"ok": True, "reference": True},
               chain=chain[:1]),
        _entry("face", "ncnn", "fp32", fidelity={"ok": True, "cosine": 1.0}, chain=chain),
        _entry("face", "ncnn", "int8-dynamic", "unconvertible", reason="ncnn has no such mode"),
        _entry("face", "onnx", "int8-dynamic", "unconvertible", reason="ncnn has no such mode"),
    ]
    assert chain_text(entries[1]) == "tflite (source) -> onnx (tflite2onnx 0.4.1) -> ncnn (pnnx 20261020)"
    text = render(entries, ["fp32", "int8-dynamic"])
    lines = text.splitlines()
    assert lines[1].split() == ["model", "engine", "fp32", "int8-dynamic"]
    rows = {tuple(line.split()[:2]): line for line in lines[2:5]}
    assert "ok (source)" in rows[("face", "tflite")]
    assert "no [1]" in rows[("face", "ncnn")] and "no [1]" in rows[("face", "onnxruntime")]
    assert "  face ncnn: tflite (source) -> onnx (tflite2onnx 0.4.1) -> ncnn (pnnx 20261020)" in lines
    assert lines[-1] == "  [1] ncnn has no such mode"  # one footnote for one reason


def test_a_cell_made_from_the_source_needs_no_other_format():
    groups = groups_of(RECIPES)
    # the ONNX FP32 cell has a tflite2onnx recipe too: an ONNX source does not need TFLite for it
    assert wanted_cells(groups, Plan(("fp32", "fp16"), ("onnx",)), "onnx") == \
        {("onnx", "fp32"), ("onnx", "fp16")}


def test_constant_reshape_and_resize_become_python_numbers():
    """torch.export refuses onnx2torch's branches on constant shapes/scales: they are baked in,
    and the module still computes the same."""
    import importlib.util

    if not (importlib.util.find_spec("onnx2torch") and importlib.util.find_spec("torch")):
        pytest.skip("onnx2torch/torch not installed (the convert and coreml extras)")
    import torch
    from onnx import TensorProto, helper, numpy_helper

    from harness.models.build.bridges import _static_constants
    from harness.models.build.coreml import _stub_torchvision

    _stub_torchvision()
    from onnx2torch import convert

    init = [numpy_helper.from_array(np.array([1, 3, 0, 8], np.int64), "shape"),
            numpy_helper.from_array(np.array([], np.float32), "roi"),
            numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["r"]),
         helper.make_node("Resize", ["r", "roi", "scales"], ["y"], mode="nearest")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 16])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    module = convert(model).eval()
    x = torch.rand(1, 3, 4, 8)
    before = module(x)
    assert _static_constants(module) == {"reshape": 1, "resize": 1}
    torch.testing.assert_close(module(x), before)
    assert not [n for n in module.graph.nodes if n.op == "get_attr"]  # no constant read left
    torch.export.export(module, (x,))  # what failed before ("data-dependent")
