"""The edges between formats: an FP32 model in another format than its source's.

- TFLite -> ONNX: ``tflite2onnx`` (pure Python, reads the flatbuffer with the ``tflite``
  package). It turns the graph NHWC -> NCHW and with it the model's inputs and outputs (a
  1x192x192x3 input becomes 1x3x192x192). Transposes at the graph's edges give the converted
  model the source's own interface back (names and shapes), so every engine, the benchmark feed
  and the fidelity check give it the same arrays as the source.
- ONNX -> TFLite: ``litert-torch`` (PyTorch -> LiteRT through ``litert-converter``, no
  TensorFlow). ``onnx2torch`` makes the torch module (as for Core ML); ``torch.export`` cannot
  trace its Reshape of a constant shape (a data-dependent ``torch.any(shape == 0)``), so
  constants are folded first (ONNX Runtime's basic, standard-ops-only optimizer) and a Reshape
  whose shape is a constant gets that shape as Python ints. Inputs are fixed to the benchmark
  shape: a TFLite model is static.

Both run in a child process (converters crash and print a lot). Their result is only a
candidate: the pipeline compares its outputs with the source's on the benchmark picture before
anything is built from it (``verify``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from .recipe import BuildContext, ConversionError, python_tool, require_file, run_tool

_TFLITE2ONNX = ("import sys, tflite2onnx; tflite2onnx.convert(sys.argv[1], sys.argv[2]); "
                "print('TFLITE2ONNX-OK')")


# -- TFLite -> ONNX ---------------------------------------------------------------------------
def tflite_io(path: Path) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Input and output shapes of a .tflite model, by tensor name."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    shape = lambda d: [int(x) for x in d["shape"]]  # noqa: E731
    return ({d["name"]: shape(d) for d in interpreter.get_input_details()},
            {d["name"]: shape(d) for d in interpreter.get_output_details()})


def nchw_of(nhwc: Sequence[int]) -> list[int]:
    n, h, w, c = nhwc
    return [n, c, h, w]


def restore_interface(model, inputs: dict[str, list[int]], outputs: dict[str, list[int]]
                      ) -> list[str]:
    """Give an ONNX model whose rank-4 inputs/outputs were turned NHWC -> NCHW the source's
    NHWC interface back, with a Transpose at each such edge. Edits ``model`` in place; returns
    the names of the edges it wrapped. An edge whose shape is neither the source's nor its
    NCHW form is an error: the converter changed the model's interface some other way."""
    from onnx import helper

    graph = model.graph
    weights = {init.name for init in graph.initializer}

    def dims(value) -> list[int]:
        return [d.dim_value if d.HasField("dim_value") else -1
                for d in value.type.tensor_type.shape.dim]

    def plan(value, want: list[int] | None) -> bool:
        have = dims(value)
        if want is None or have == want or len(want) != 4:
            return False
        if have == nchw_of(want):
            return True
        raise ConversionError(f"converted model's {value.name} is {have}, the source's is {want}")

    front, back, wrapped = [], [], []
    for value in (v for v in graph.input if v.name not in weights):
        if plan(value, inputs.get(value.name)):
            inner = f"{value.name}__nchw"
            for node in graph.node:
                node.input[:] = [inner if name == value.name else name for name in node.input]
            front.append(helper.make_node("Transpose", [value.name], [inner], perm=[0, 3, 1, 2],
                                          name=f"{value.name}__to_nchw"))
            _set_dims(value, inputs[value.name])
            wrapped.append(value.name)
    for value in graph.output:
        if plan(value, outputs.get(value.name)):
            inner = f"{value.name}__nchw"
            for node in graph.node:
                node.output[:] = [inner if name == value.name else name for name in node.output]
                node.input[:] = [inner if name == value.name else name for name in node.input]
            back.append(helper.make_node("Transpose", [inner], [value.name], perm=[0, 2, 3, 1],
                                         name=f"{value.name}__to_nhwc"))
            _set_dims(value, outputs[value.name])
            wrapped.append(value.name)
    if wrapped:
        nodes = front + list(graph.node) + back
        del graph.node[:]
        graph.node.extend(nodes)
    return wrapped


def _set_dims(value, shape: Sequence[int]) -> None:
    for dim, size in zip(value.type.tensor_type.shape.dim, shape):
        dim.dim_value = int(size)  # replaces a dim_param too (a oneof)


def tflite_to_onnx(ctx: BuildContext, out: Path) -> Path:
    import onnx

    from .onnx_variants import loadable

    work = out / "work"
    work.mkdir()
    raw = work / "raw.onnx"
    output = run_tool(python_tool(_TFLITE2ONNX, str(ctx.source), str(raw)), "tflite2onnx",
                      ok_marker="TFLITE2ONNX-OK")
    require_file(raw, "tflite2onnx", output)
    model = onnx.load(str(raw))
    inputs, outputs = tflite_io(ctx.source)
    wrapped = restore_interface(model, inputs, outputs)
    # tflite2onnx's value_info holds the NCHW shapes of tensors now renamed or re-shaped:
    # ONNX Runtime's shape merging (quantizers) would trust them. Inferred afresh.
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - the checker's own message is the reason
        raise ConversionError(f"tflite2onnx wrote an invalid ONNX model: {exc}") from None
    target = out / f"{ctx.spec.name}.onnx"
    onnx.save(model, str(target))
    raw.unlink()
    work.rmdir()
    if wrapped:
        ctx.notes["layout"] = (f"tflite2onnx computes in NCHW; Transposes keep the source's NHWC "
                               f"interface at {', '.join(wrapped)}")
    return loadable(target, "tflite2onnx")


# -- ONNX -> TFLite ---------------------------------------------------------------------------
def onnx_to_tflite(ctx: BuildContext, out: Path) -> Path:
    from .ncnn import input_shapes

    target = out / f"{ctx.spec.name}.tflite"
    shapes = {name: list(shape) for name, shape in input_shapes(ctx)}
    output = run_tool([sys.executable, "-m", "harness.models.build.bridges", "litert",
                       str(ctx.source), str(target), json.dumps(shapes)],
                      "litert-torch", ok_marker="LITERT-OK", timeout_s=1800)
    require_file(target, "litert-torch", output)
    ctx.notes["static_input_shape"] = shapes
    ctx.notes["path"] = "ONNX Runtime constant folding -> onnx2torch -> litert_torch.convert"
    return target


def _folded(source: str, folder: Path, shapes: dict[str, list[int]]):
    """The ONNX model with constants folded (ORT's basic level writes standard ops only) and
    its dynamic input dims fixed to ``shapes``."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folder / "folded.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    model = onnx.load(options.optimized_model_filepath)
    for value in model.graph.input:
        if value.name in shapes:
            _set_dims(value, shapes[value.name])
    return model


def _static_reshapes(module) -> int:
    """Replace each onnx2torch Reshape whose target shape is a stored constant by a Reshape to
    those Python ints (torch.export cannot branch on a tensor's values). Returns how many."""
    import torch
    from onnx2torch.node_converters.reshape import OnnxReshape

    class StaticReshape(torch.nn.Module):
        def __init__(self, shape: list[int]):
            super().__init__()
            self.shape = shape

        def forward(self, x):
            return torch.reshape(x, [x.shape[i] if d == 0 else d for i, d in enumerate(self.shape)])

    count = 0
    for node in list(module.graph.nodes):
        if node.op != "call_module" or not isinstance(module.get_submodule(node.target), OnnxReshape):
            continue
        shape = node.args[1] if len(node.args) > 1 else None
        if getattr(shape, "op", None) != "get_attr":
            continue
        value = module
        for part in shape.target.split("."):
            value = getattr(value, part)
        module.add_submodule(node.target, StaticReshape([int(v) for v in value.tolist()]))
        node.args = (node.args[0],)
        count += 1
    module.graph.eliminate_dead_code()
    module.recompile()
    return count


def _litert_main(source: str, target: str, shapes: dict[str, list[int]]) -> None:
    import tempfile

    from .coreml import _clean_graph, _stub_torchvision

    _stub_torchvision()
    import torch
    from onnx2torch import convert

    with tempfile.TemporaryDirectory() as tmp:
        model = _folded(source, Path(tmp), shapes)
    feeds = [v.name for v in model.graph.input
             if v.name not in {i.name for i in model.graph.initializer}]
    model, _, _ = _clean_graph(model)
    module = convert(model).eval()
    reshapes = _static_reshapes(module)
    import litert_torch

    examples = tuple(torch.rand(*shapes[name]) for name in feeds)
    litert_torch.convert(module, examples).export(target)
    print("LITERT-OK", f"static reshapes: {reshapes}")


if __name__ == "__main__":
    if sys.argv[1] == "litert":
        _litert_main(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
