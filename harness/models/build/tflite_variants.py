"""TFLite variants of a TFLite source via ai-edge-quantizer (no TensorFlow needed).

Two measured traps (docs/design.md, known traps), both silent:
- older .tflite files keep op codes only in ``deprecated_builtin_code``; the quantizer then sees
  no quantizable op and writes the model back unchanged (ratio 1.00). The schema's rule is
  ``builtin_code = max(builtin_code, deprecated_builtin_code)``; we apply it first.
- static calibration is keyed by signature, and files without a SignatureDef cannot be
  calibrated: we add ``serving_default`` over the graph's own inputs/outputs.
The fully-INT8 variant keeps float32 inputs/outputs (quantize/dequantize at the edges) so every
engine and the fidelity check feed it the same pictures as the FP32 model.
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from ..manifest import TensorSpec
from .calibration import calibration_feeds
from .recipe import BuildContext, ConversionError, Recipe, require_file

_HINT = "pip install ai-edge-quantizer"
SIGNATURE = "serving_default"
os.environ.setdefault("TQDM_DISABLE", "1")  # the quantizer's progress bars, one per call


def prepared_model(ctx: BuildContext, out: Path) -> Path:
    """The source with builtin_code filled in and a SignatureDef, written to ``out``."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(ctx.source))
    for code in model.operatorCodes:
        code.builtinCode = max(code.builtinCode, code.deprecatedBuiltinCode)
    if not model.signatureDefs:
        graph = model.subgraphs[0]

        def tensor_map(index: int):
            item = schema.TensorMapT()
            item.name, item.tensorIndex = graph.tensors[index].name, index
            return item

        signature = schema.SignatureDefT()
        signature.signatureKey, signature.subgraphIndex = SIGNATURE, 0
        signature.inputs = [tensor_map(i) for i in graph.inputs]
        signature.outputs = [tensor_map(i) for i in graph.outputs]
        model.signatureDefs = [signature]
    target = out / "prepared.tflite"
    flatbuffer_utils.write_model(model, str(target))
    return target


def _quantize(ctx: BuildContext, out: Path, recipe, calibrate: bool = False) -> Path:
    from ai_edge_quantizer import quantizer

    work = out / "work"
    work.mkdir()
    prepared = prepared_model(ctx, work)
    target = out / f"{ctx.spec.name}.tflite"
    # the quantizer prints a size summary and progress bars: keep the build log to one line each
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        q = quantizer.Quantizer(str(prepared), recipe)
        calibration = None
        if calibrate:
            signature, inputs = _signature_inputs(prepared)
            feeds = ctx.memo("tflite-calibration", lambda: calibration_feeds(
                inputs, ctx.spec.input))
            calibration = q.calibrate({signature: feeds})
        q.quantize(calibration).export_model(str(target), overwrite=True)
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    require_file(target, "ai-edge-quantizer")
    if target.stat().st_size >= ctx.source.stat().st_size * 0.98:
        # the silent no-op the deprecated_builtin_code trap produces: never ship it as quantized
        raise ConversionError(f"ai-edge-quantizer left the model unquantized "
                              f"({target.stat().st_size} vs {ctx.source.stat().st_size} bytes): "
                              f"no supported op was found")
    return target


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path))


def _signature_inputs(path: Path) -> tuple[str, list[TensorSpec]]:
    """The first signature and its inputs by *signature* name: calibration feeds are keyed so
    (a model made by litert-torch names its input ``args_0``, its tensor
    ``serving_default_args_0:0``; the signature edgelab adds uses the tensor names)."""
    interpreter = _interpreter(path)
    signature = next(iter(interpreter.get_signature_list()))
    details = interpreter.get_signature_runner(signature).get_input_details()
    return signature, [TensorSpec(name, tuple(int(x) for x in d["shape"]), d["dtype"].__name__)
                       for name, d in details.items()]


def _recipe_manager():
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    return recipe_manager.RecipeManager(), qtyping.TFLOperationName, algorithm_manager.AlgorithmName


def _fp16(ctx: BuildContext, out: Path) -> Path:
    manager, ops, algorithms = _recipe_manager()
    manager.add_weight_only_config(regex=".*", operation_name=ops.ALL_SUPPORTED, num_bits=16,
                                   algorithm_key=algorithms.FLOAT_CASTING)
    return _quantize(ctx, out, manager.get_quantization_recipe())


def _int8_dynamic(ctx: BuildContext, out: Path) -> Path:
    from ai_edge_quantizer import recipe

    return _quantize(ctx, out, recipe.dynamic_wi8_afp32())


def _int8_weight(ctx: BuildContext, out: Path) -> Path:
    from ai_edge_quantizer import recipe

    return _quantize(ctx, out, recipe.weight_only_wi8_afp32())


def _int8_static(ctx: BuildContext, out: Path) -> Path:
    manager, ops, algorithms = _recipe_manager()
    manager.add_static_config(regex=".*", operation_name=ops.ALL_SUPPORTED,
                              activation_num_bits=8, weight_num_bits=8)
    for edge in (ops.INPUT, ops.OUTPUT):  # float32 I/O, see module docstring
        manager.add_quantization_config(regex=".*", operation_name=edge,
                                        algorithm_key=algorithms.NO_QUANTIZE)
    return _quantize(ctx, out, manager.get_quantization_recipe(), calibrate=True)


def _source(ctx: BuildContext, out: Path) -> Path:
    return ctx.source


def _from_onnx(ctx: BuildContext, out: Path) -> Path:
    from .bridges import onnx_to_tflite

    return onnx_to_tflite(ctx, out)


_AEQ = "ai-edge-quantizer"
_T = dict(sources=("tflite",), install_hint=_HINT)  # the source, or the FP32 TFLite made from it

RECIPES = [
    Recipe("tflite", "fp32", "fp32 (source as shipped)", "source", {}, _source, sources=("tflite",)),
    Recipe("tflite", "fp32", "fp32, converted from the ONNX source (static input shape)",
           "litert-torch", {"path": "ort-fold+onnx2torch+litert_torch.convert",
                            "constants": "reshape+resize"}, _from_onnx,
           sources=("onnx",), requires=("litert-converter", "onnx2torch", "torch"),
           install_hint="pip install 'edgelab[convert]'"),
    Recipe("tflite", "fp16", "fp16 weights (float casting), fp32 compute", _AEQ,
           {"recipe": "float_casting_16"}, _fp16, **_T),
    Recipe("tflite", "int8-dynamic", "int8 weights, activations quantized at run time", _AEQ,
           {"recipe": "dynamic_wi8_afp32"}, _int8_dynamic, **_T),
    Recipe("tflite", "int8-weight", "int8 weights dequantized to fp32, fp32 compute", _AEQ,
           {"recipe": "weight_only_wi8_afp32"}, _int8_weight, **_T),
    Recipe("tflite", "int8", "int8 static weights+activations, fp32 I/O", _AEQ,
           {"recipe": "static_wi8_ai8", "io": "float32",
            "calibration": "8 scikit-image photos"}, _int8_static, **_T),
]
