"""The edges between formats: an FP32 model in another format than its source's.

- TFLite -> ONNX: ``tflite2onnx`` (pure Python, reads the flatbuffer with the ``tflite``
  package). It turns the graph NHWC -> NCHW and with it the model's inputs and outputs (a
  1x192x192x3 input becomes 1x3x192x192). Transposes at the graph's edges give the converted
  model the source's own interface back (names and shapes), so every engine, the benchmark feed
  and the fidelity check give it the same arrays as the source.
- ONNX -> TFLite: ``litert-torch`` (PyTorch -> LiteRT through ``litert-converter``, no
  TensorFlow). ``onnx2torch`` makes the torch module (as for Core ML); ``torch.export`` cannot
  trace its Reshape/Resize of a constant shape or scale (``torch.any(shape == 0)``,
  ``scales.tolist()``: data-dependent), so constants are folded first (ONNX Runtime's basic,
  standard-ops-only optimizer) and those get their constants as Python numbers. Inputs are fixed to the benchmark
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

_ERROR = "LITERT-ERROR"
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
    try:
        output = run_tool([sys.executable, "-m", "harness.models.build.bridges", "litert",
                           str(ctx.source), str(target), json.dumps(shapes)],
                          "litert-torch", ok_marker="LITERT-OK", timeout_s=1800)
    except ConversionError as exc:  # torch.export's message is pages long: its gist, said once
        text = str(exc)
        if _ERROR in text:
            gist = text[text.index(_ERROR) + len(_ERROR):].split(" | ")[0].strip()
            raise ConversionError(f"litert-torch failed: {gist}"[:500]) from None
        raise
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


def _constant(module, arg):
    """The value of an fx argument that reads a stored constant (get_attr), as a Python list;
    None for an absent argument; raises LookupError for a computed one."""
    if arg is None:
        return None
    if getattr(arg, "op", None) != "get_attr":
        raise LookupError(arg)
    value = module
    for part in arg.target.split("."):
        value = getattr(value, part)
    return value.tolist()


def _static_constants(module) -> dict[str, int]:
    """torch.export cannot branch on a tensor's values, and onnx2torch's Reshape
    (``torch.any(shape == 0)``) and Resize (``scales.tolist()``) do, on shapes and scales the
    ONNX model stores as constants. Each such node is replaced by a module holding those
    constants as Python numbers. Returns how many of each were replaced."""
    import torch
    from onnx2torch.node_converters.reshape import OnnxReshape
    from onnx2torch.node_converters.resize import (OnnxResize, OnnxResizeV10,
                                                   _onnx_mode_to_torch_mode)

    class StaticReshape(torch.nn.Module):
        def __init__(self, shape: list[int]):
            super().__init__()
            self.shape = shape

        def forward(self, x):
            return torch.reshape(x, [x.shape[i] if d == 0 else d for i, d in enumerate(self.shape)])

    class StaticResize(torch.nn.Module):
        def __init__(self, mode: str, align_corners, size, scale):
            super().__init__()
            self.mode, self.align_corners, self.size, self.scale = mode, align_corners, size, scale

        def forward(self, x):
            return torch.nn.functional.interpolate(x, size=self.size, scale_factor=self.scale,
                                                   mode=self.mode, align_corners=self.align_corners)

    counts = {"reshape": 0, "resize": 0}
    for node in list(module.graph.nodes):
        if node.op != "call_module":
            continue
        target = module.get_submodule(node.target)
        args = list(node.args) + [None] * 4
        try:
            if isinstance(target, OnnxReshape):
                shape = _constant(module, args[1])
                if shape is None:
                    continue
                replacement = StaticReshape([int(v) for v in shape])
                counts["reshape"] += 1
            elif isinstance(target, (OnnxResize, OnnxResizeV10)):
                inner = target._resize if isinstance(target, OnnxResizeV10) else target
                roi, scales, sizes = ((None, _constant(module, args[1]), None)
                                      if isinstance(target, OnnxResizeV10) else
                                      (_constant(module, args[1]), _constant(module, args[2]),
                                       _constant(module, args[3])))
                if roi and not inner.ignore_roi:
                    continue  # onnx2torch refuses it anyway, with its own message
                size = [int(v) for v in sizes[2:]] if sizes else None
                scale = [float(v) for v in scales[2:]] if scales and not size else None
                if (size or scale) is None:
                    continue
                mode = _onnx_mode_to_torch_mode(inner.onnx_mode, len(size or scale))
                replacement = StaticResize(mode, inner.align_corners, size, scale)
                counts["resize"] += 1
            else:
                continue
        except LookupError:
            continue  # computed at run time: left to onnx2torch
        module.add_submodule(node.target, replacement)
        node.args = (node.args[0],)
    module.graph.eliminate_dead_code()
    module.recompile()
    return counts


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
    constants = _static_constants(module)
    import litert_torch

    examples = tuple(torch.rand(*shapes[name]) for name in feeds)
    try:
        converted = litert_torch.convert(module, examples)
    except Exception as exc:  # noqa: BLE001 - reported as one line, the converter's own words
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        cause = next((line for line in lines if line.startswith("Caused by:")), "")
        print(f"{_ERROR} {type(exc).__name__}: {lines[0] if lines else ''} {cause}"[:450],
              file=sys.stderr)
        raise SystemExit(1) from None
    converted.export(target)
    print("LITERT-OK", json.dumps({"static": constants}))


if __name__ == "__main__":
    if sys.argv[1] == "litert":
        _litert_main(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
