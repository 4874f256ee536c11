"""MNN variants from an ONNX or TFLite source, through the MNN wheel's C extension ``_tools``.

Never ``MNN.tools.*`` nor the ``mnn``/``mnnconvert`` scripts: at import they pip-install a logging
SDK and send usage logs (docs/design.md, known traps). ``_tools.mnnconvert`` / ``_tools.mnnquant`` are the same C++
tools without that Python wrapper. They run in a child process: they print from C++ (so the
message is only capturable there), they can crash, and ``mnnconvert`` returns True even when its
input does not exist, so success is judged by the written file plus its "Success" line.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..inputs import concrete_shape, declared_inputs, is_dynamic, load_image
from .calibration import CALIBRATION_IMAGES
from .recipe import BuildContext, ConversionError, Recipe, python_tool, require_file, run_tool

_CONVERT = "import sys, _tools; sys.exit(0 if _tools.mnnconvert(sys.argv[1:]) else 1)"
_QUANT = "import sys, _tools; sys.exit(0 if _tools.mnnquant(sys.argv[1:]) else 1)"
_FRAMEWORK = {"onnx": "ONNX", "tflite": "TFLITE"}
_HINT = "pip install MNN"


def convert(ctx: BuildContext, target: Path, *flags: str) -> Path:
    source = _static_source(ctx, target.parent)
    argv = ["mnnconvert", "-f", _FRAMEWORK[ctx.source_format], "--modelFile", str(source),
            "--MNNModel", str(target), "--bizCode", "MNN", *flags]
    try:
        output = run_tool(python_tool(_CONVERT, *argv), "MNN converter",
                          ok_marker="Converted Success")
    finally:
        if source != ctx.source:
            source.unlink(missing_ok=True)
    return require_file(target, "MNN converter", output)


def _static_source(ctx: BuildContext, folder: Path) -> Path:
    """The ONNX source with every dynamic input dim fixed to the shape benchmarks feed.

    MNN's phone tool (benchmark.out) has no input-shape option: it runs a dynamic dim at whatever
    the model leaves (1), so a phone would time another computation than the host (ppocr_cls:
    0.05 ms for a 1x3x48x1 input against ~1 ms for 1x3x48x192). A static model times the same
    work everywhere; the fixed shape is recorded in the variant's notes.
    """
    if ctx.source_format != "onnx":
        return ctx.source  # .tflite inputs are static in practice; MNN reads their shape
    inputs = declared_inputs(ctx.source, "onnx")
    fixed = {t.name: concrete_shape(t.shape, ctx.spec.input, t.name) for t in inputs
             if any(is_dynamic(d) for d in t.shape)}
    if not fixed:
        return ctx.source
    import onnx

    model = onnx.load(str(ctx.source))
    for graph_input in model.graph.input:
        for dim, value in zip(graph_input.type.tensor_type.shape.dim,
                              fixed.get(graph_input.name, ())):
            dim.dim_value = int(value)  # replaces dim_param too (a oneof)
    folder.mkdir(parents=True, exist_ok=True)
    static = folder / f".{ctx.spec.name}.static.onnx"
    onnx.save(model, str(static))
    ctx.notes["static_input_shape"] = {name: list(dims) for name, dims in fixed.items()}
    return static


def _fp32(ctx: BuildContext, out: Path) -> Path:
    return convert(ctx, out / f"{ctx.spec.name}.mnn")


def _fp16(ctx: BuildContext, out: Path) -> Path:
    return convert(ctx, out / f"{ctx.spec.name}.mnn", "--fp16")


def _int8_weight(ctx: BuildContext, out: Path) -> Path:
    return convert(ctx, out / f"{ctx.spec.name}.mnn", "--weightQuantBits", "8")


def _int8_static(ctx: BuildContext, out: Path) -> Path:
    """mnnquant: offline calibration on image files it preprocesses itself, so the pictures
    are written out and our input range becomes its (pixel - mean) * normal."""
    work = out / "work"
    (work / "images").mkdir(parents=True)
    float_model = convert(ctx, work / "float.mnn")
    height, width = _image_size(ctx)
    lo, hi = ctx.spec.input.range
    normal = (hi - lo) / 255.0
    config = {"format": "RGB", "mean": [-lo / normal] * 3, "normal": [normal] * 3,
              "width": width, "height": height, "path": str(work / "images") + "/",
              "used_image_num": _write_images(work / "images", ctx.spec.input.image),
              "feature_quantize_method": "KL", "weight_quantize_method": "MAX_ABS"}
    (work / "quant.json").write_text(json.dumps(config))
    target = out / f"{ctx.spec.name}.mnn"
    output = run_tool(python_tool(_QUANT, "mnnquant", str(float_model), str(target),
                                  str(work / "quant.json")), "MNN quantizer",
                      ok_marker="Quantize model done")
    require_file(target, "MNN quantizer", output)
    import shutil

    shutil.rmtree(work)
    return target


def _image_size(ctx: BuildContext) -> tuple[int, int]:
    """Height and width of the first input as benchmarks feed it (given, else guessed)."""
    spec = ctx.spec.input
    inputs = declared_inputs(ctx.source, ctx.source_format)
    shape = (concrete_shape(inputs[0].shape, spec, inputs[0].name) if inputs
             else tuple(spec.shape or ()))
    if len(shape) != 4:
        raise ConversionError("MNN's quantizer calibrates one image input: it needs a 4-D "
                              "input shape (give it with --input-shape NAME=NxCxHxW or the "
                              "manifest's input.shape)")
    return (shape[2], shape[3]) if spec.layout == "NCHW" else (shape[1], shape[2])


def _write_images(folder: Path, first: str) -> int:
    from PIL import Image

    names = [first] + [n for n in CALIBRATION_IMAGES if n != first]
    for name in names[:8]:
        image, source = load_image(name)
        if "synthetic" in source:
            raise ConversionError("MNN INT8 calibration needs real images: install scikit-image")
        Image.fromarray(image).save(folder / f"{name}.png")
    return min(8, len(names))


_SOURCES = ("onnx", "tflite")
# part of every build key: models converted before inputs were made static are rebuilt
_STATIC = {"inputs": "static (dynamic dims fixed to the benchmark shape)"}

RECIPES = [
    Recipe("mnn", "fp32", "fp32 weights and compute", "MNN", {**_STATIC}, _fp32, sources=_SOURCES,
           install_hint=_HINT),
    Recipe("mnn", "fp16", "fp16 weight storage (--fp16), compute precision per device",
           "MNN", {"flags": ["--fp16"], **_STATIC}, _fp16, sources=_SOURCES, install_hint=_HINT),
    Recipe("mnn", "int8-weight", "int8 weights (--weightQuantBits 8), float compute", "MNN",
           {"flags": ["--weightQuantBits", "8"], **_STATIC}, _int8_weight, sources=_SOURCES,
           install_hint=_HINT),
    Recipe("mnn", "int8", "int8 static weights+activations (mnnquant KL, MAX_ABS)", "MNN",
           {"tool": "mnnquant", "feature": "KL", "weight": "MAX_ABS",
            "calibration": "8 scikit-image photos", **_STATIC}, _int8_static, sources=_SOURCES,
           install_hint=_HINT),
    Recipe("mnn", "int8-dynamic", "", "MNN", {},
           unavailable="MNN has no dynamic-range INT8 model format: its INT8 choices are "
                       "int8-weight (--weightQuantBits 8) and int8 (mnnquant)"),
]
