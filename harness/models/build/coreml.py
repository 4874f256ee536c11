"""Core ML ``.mlpackage`` variants from an ONNX model (the source, or the FP32 ONNX made from a
TFLite source), built on Linux.

Path: onnx2torch -> torch.jit.trace -> coremltools ``convert(convert_to="mlprogram")``. Core ML
cannot *run* here (predict is macOS-only), so the package is checked with
``MLModel(path, skip_model_load=True).get_spec()`` and measured on Apple devices.

Traps (docs/design.md, known traps), each handled in ``_convert_main``:
- PyPI torchvision is CUDA-linked and crashes beside CPU torch; onnx2torch imports it only for
  NMS/RoiAlign, so onnx2torch is installed ``--no-deps`` and torchvision is stubbed.
- weights stored as ``Constant`` nodes must become initializers for onnx2torch.
- an input named ``x`` collides with a traced variable: inputs/outputs are renamed.
The conversion runs in a child process (``python -m harness.models.build.coreml``): torch is heavy and
only this recipe needs it.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

from .recipe import BuildContext, Recipe, run_tool

_HINT = "pip install 'edgelab[coreml]'"


def _convert(ctx: BuildContext, out: Path, precision: str) -> Path:
    from .ncnn import input_shapes

    target = out / f"{ctx.spec.name}.mlpackage"
    shapes = [list(shape) for _, shape in input_shapes(ctx)]
    run_tool([sys.executable, "-m", "harness.models.build.coreml", str(ctx.source), str(target),
              precision, json.dumps(shapes)], "Core ML conversion", ok_marker="COREML-OK")
    return target


def _fp16(ctx, out):
    return _convert(ctx, out, "fp16")


def _fp32(ctx, out):
    return _convert(ctx, out, "fp32")


def _int8_weight(ctx, out):
    return _convert(ctx, out, "int8-weight")


# reads ONNX: the source, or the FP32 ONNX the build made from a TFLite source
_CT = dict(sources=("onnx",), install_hint=_HINT,
           requires=("torch", "onnx2torch"))

RECIPES = [
    Recipe("coreml", "fp32", "fp32 compute (mlprogram, compute_precision FLOAT32)",
           "coremltools", {"compute_precision": "FLOAT32", "target": "iOS16"}, _fp32, **_CT),
    Recipe("coreml", "fp16", "fp16 weights and compute (mlprogram default)", "coremltools",
           {"compute_precision": "FLOAT16", "target": "iOS16"}, _fp16, **_CT),
    Recipe("coreml", "int8-weight", "int8 weights (linear_quantize_weights), fp16 compute",
           "coremltools", {"compute_precision": "FLOAT16", "weights": "linear_symmetric int8",
                           "target": "iOS16"}, _int8_weight, **_CT),
    Recipe("coreml", "int8", "", "coremltools", {},
           unavailable="Core ML activation INT8 needs calibration through predict(), which "
                       "runs only on macOS"),
    Recipe("coreml", "int8-dynamic", "", "coremltools", {},
           unavailable="Core ML has no dynamic-range INT8 mode"),
]


# -- child process ------------------------------------------------------------------------
def _stub_torchvision() -> None:
    def unavailable(*args, **kwargs):
        raise NotImplementedError("torchvision is stubbed in edgelab's Core ML build")

    module, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
    ops.nms = ops.batched_nms = ops.roi_align = unavailable
    module.ops = ops
    sys.modules.setdefault("torchvision", module)
    sys.modules.setdefault("torchvision.ops", ops)


def _clean_graph(model):
    """Constant nodes -> initializers; graph inputs/outputs renamed input_N / output_N."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    kept = []
    for node in graph.node:
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            array = numpy_helper.to_array(node.attribute[0].t)
            graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    weights = {init.name for init in graph.initializer}
    feeds = [v for v in graph.input if v.name not in weights]
    renames = {v.name: f"input_{i}" for i, v in enumerate(feeds)}
    renames.update({v.name: f"output_{i}" for i, v in enumerate(graph.output)})
    for value in list(feeds) + list(graph.output):
        value.name = renames[value.name]
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    onnx.checker.check_model(model)
    return model, len(feeds), len(graph.output)


def _convert_main(source: str, target: str, precision: str, shapes: list[list[int]]) -> None:
    _stub_torchvision()
    import coremltools as ct
    import onnx
    import torch
    from onnx2torch import convert

    model, n_in, n_out = _clean_graph(onnx.load(source))
    module = convert(model).eval()
    examples = tuple(torch.rand(*shape) for shape in shapes)
    with torch.no_grad():
        traced = torch.jit.trace(module, examples if len(examples) > 1 else examples[0])
    compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    mlmodel = ct.convert(traced, convert_to="mlprogram", compute_precision=compute,
                         minimum_deployment_target=ct.target.iOS16,
                         inputs=[ct.TensorType(name=f"input_{i}", shape=s)
                                 for i, s in enumerate(shapes)],
                         outputs=[ct.TensorType(name=f"output_{i}") for i in range(n_out)])
    if precision == "int8-weight":
        from coremltools.optimize.coreml import (OpLinearQuantizerConfig, OptimizationConfig,
                                                 linear_quantize_weights)

        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8"))
        mlmodel = linear_quantize_weights(mlmodel, config)
    mlmodel.save(target)
    spec = ct.models.MLModel(target, skip_model_load=True).get_spec()
    if spec.WhichOneof("Type") != "mlProgram" or len(spec.description.input) != n_in:
        raise SystemExit(f"saved package does not read back as an mlProgram with {n_in} inputs")
    print("COREML-OK", spec.WhichOneof("Type"), [i.name for i in spec.description.input])


if __name__ == "__main__":
    _convert_main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
