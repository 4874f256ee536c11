"""ncnn variants (.param + .bin) from an ONNX source through pnnx's bundled binary.

pnnx is installed with ``--no-deps`` (its wheel asks for torch, which the binary does not need)
and its executable is called directly. Its default stores weights as FP16; the FP32 variant
passes ``fp16=0`` because that default broke the PP-OCR det model (docs/design.md, known traps). pnnx writes
side files next to its input and into its working directory, so it runs inside a scratch copy.

An ncnn artifact is the ``.param`` path; the ``.bin`` with the same stem lies beside it, and
``<stem>.inputs.json`` records the input names/shapes pnnx was given (ncnn's .param has none).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..inputs import concrete_shape
from .recipe import BuildContext, ConversionError, Recipe, require_file, run_tool

_FROM = {"tflite": "pnnx reads TorchScript and ONNX only: no TFLite -> ncnn converter"}
_HINT = "pip install --no-deps pnnx"


def pnnx_binary() -> Path:
    import importlib.util

    found = importlib.util.find_spec("pnnx")
    if found is None or not found.submodule_search_locations:
        raise ConversionError(f"pnnx not installed ({_HINT})")
    binary = Path(list(found.submodule_search_locations)[0]) / "pnnx"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise ConversionError(f"pnnx package has no executable at {binary}")
    return binary


def input_shapes(ctx: BuildContext) -> list[tuple[str, tuple[int, ...]]]:
    from .onnx_variants import model_inputs

    return [(t.name, concrete_shape(t.shape, ctx.spec.input, t.name))
            for t in model_inputs(ctx.source)]


def _convert(ctx: BuildContext, out: Path, fp16: bool) -> Path:
    work = out / "work"
    work.mkdir()
    source = work / "model.onnx"
    shutil.copyfile(ctx.source, source)
    shapes = input_shapes(ctx)
    stem = ctx.spec.name
    param, binfile = out / f"{stem}.param", out / f"{stem}.bin"
    argv = [str(pnnx_binary()), str(source),
            "inputshape=" + ",".join("[" + ",".join(map(str, s)) + "]" for _, s in shapes),
            f"fp16={1 if fp16 else 0}", f"ncnnparam={param}", f"ncnnbin={binfile}"]
    for key, name in (("pnnxparam", "m.pnnx.param"), ("pnnxbin", "m.pnnx.bin"),
                      ("pnnxpy", "m_pnnx.py"), ("pnnxonnx", "m.pnnx.onnx"),
                      ("ncnnpy", "m_ncnn.py")):
        argv.append(f"{key}={work / name}")
    output = run_tool(argv, "pnnx", cwd=work)
    require_file(param, "pnnx", output)
    require_file(binfile, "pnnx", output)
    shutil.rmtree(work)
    names = [line.split()[1] for line in param.read_text().splitlines()[2:]
             if line.startswith("Input ")]
    (out / f"{stem}.inputs.json").write_text(json.dumps(
        {"layout": "NCHW", "inputs": [{"name": ncnn_name, "onnx_name": onnx_name, "shape": list(shape)}
                                      for ncnn_name, (onnx_name, shape) in zip(names, shapes)]}))
    return param


def _fp32(ctx: BuildContext, out: Path) -> Path:
    return _convert(ctx, out, fp16=False)


def _fp16(ctx: BuildContext, out: Path) -> Path:
    return _convert(ctx, out, fp16=True)


_NO_INT8_TOOLS = ("ncnn's INT8 tools (ncnn2table calibration, ncnn2int8) are not shipped in "
                  "the ncnn or pnnx wheels; build them from ncnn's source to make this variant")

RECIPES = [
    Recipe("ncnn", "fp32", "fp32 weights and compute", "pnnx", {"fp16": 0}, _fp32,
           source_reasons=_FROM, install_hint=_HINT),
    Recipe("ncnn", "fp16", "fp16 weight storage (fp16 storage/arith where the CPU has it)",
           "pnnx", {"fp16": 1}, _fp16, source_reasons=_FROM, install_hint=_HINT),
    Recipe("ncnn", "int8", "", "pnnx", {}, unavailable=_NO_INT8_TOOLS),
    Recipe("ncnn", "int8-dynamic", "", "pnnx", {},
           unavailable="ncnn has no dynamic-range INT8 mode (its INT8 is static: ncnn2table + "
                       "ncnn2int8)"),
    Recipe("ncnn", "int8-weight", "", "pnnx", {},
           unavailable="ncnn has no weight-only INT8 mode (its INT8 is static: ncnn2table + "
                       "ncnn2int8)"),
]
