"""ONNX variants of an ONNX source: FP16 (onnxconverter-common) and INT8 (ONNX Runtime).

Measured traps (docs/design.md, known traps): static QDQ per-channel needs opset >= 13, and quant_pre_process's
symbolic shape inference fails on dynamic H/W, so it runs with ``skip_symbolic_shape=True``.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from ..manifest import TensorSpec
from .calibration import calibration_feeds
from .recipe import BuildContext, ConversionError, Recipe, require_file

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


def model_inputs(path: Path) -> list[TensorSpec]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [TensorSpec(i.name, tuple(i.shape), _ORT_TYPES.get(i.type, "float32"))
            for i in session.get_inputs()]


def loadable(path: Path, what: str) -> Path:
    """onnx.load parses almost any bytes as *some* protobuf and the converters then write a
    model: only a session that loads proves the artifact is a model."""
    import onnxruntime as ort

    require_file(path, what)
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"{what} wrote an ONNX file ONNX Runtime cannot load: "
                              f"{str(exc).strip().splitlines()[0][:300]}") from None
    return path


_COMPUTE = {"Conv", "ConvTranspose", "MatMul", "Gemm"}


def ort_kernel_notes(path: Path) -> dict:
    """What ONNX Runtime's CPU provider really runs, read from its optimized graph: an FP16 model
    whose convolutions got fp32 weights (casts folded in: fp32 compute), an INT8 model whose ops
    still take dequantized float inputs (ran in float). The engine cannot see this at run time."""
    import collections
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        opts.log_severity_level = 3  # its "hardware specific" warning about this very file
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath).graph
    weights = {i.name: i.data_type for i in graph.initializer}
    producer = {out: node.op_type for node in graph.node for out in node.output}
    compute = [n for n in graph.node if n.op_type in _COMPUTE]
    fp16 = sum(1 for n in compute if len(n.input) > 1 and weights.get(n.input[1]) == 10)
    on_dq = collections.Counter(
        n.op_type for n in graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
        and any(producer.get(i) == "DequantizeLinear" for i in n.input))
    integer = sum(1 for n in graph.node if n.op_type.startswith("QLinear")
                  or n.op_type in ("ConvInteger", "MatMulInteger", "QGemm"))
    floats = len(compute) - fp16
    summary = (f"{floats} Conv/MatMul in fp32, {fp16} in fp16, {integer} integer ops, "
               f"{sum(on_dq.values())} float ops on dequantized inputs")
    return {"checked_with": f"onnxruntime {ort.__version__} CPUExecutionProvider",
            "summary": summary, "float_conv_matmul": floats, "fp16_conv_matmul": fp16,
            "integer_ops": integer, "float_ops_on_dequantized": dict(on_dq)}


def _fp16(ctx: BuildContext, out: Path) -> Path:
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(ctx.source))
    # keep_io_types: callers keep feeding float32; casts sit at the graph edges only.
    # The converter clamps weights outside fp16's range with one warning each: counted, because
    # they explain drift (PP-OCR det has 97903600 -> 10000 among them)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    ctx.notes["fp16_clamped_values"] = sum("will be truncated" in str(w.message) for w in caught)
    target = out / f"{ctx.spec.name}.onnx"
    onnx.save(converted, str(target))
    ctx.notes["ort_kernels"] = ort_kernel_notes(loadable(target, "onnxconverter-common"))
    return target


def _int8_dynamic(ctx: BuildContext, out: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    work = out / "work"
    work.mkdir()
    # pre-processing folds weights that reach Conv through Identity/Constant (PP-OCR det):
    # quantize_dynamic otherwise stops with "Expected ... to be an initializer"
    prepared = _pre_processed(ctx, work)
    target = out / f"{ctx.spec.name}.onnx"
    # ORT's CPU ConvInteger kernel exists for uint8 weights only: int8 weights load, then fail
    quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QUInt8)
    shutil.rmtree(work)
    ctx.notes["ort_kernels"] = ort_kernel_notes(loadable(target, "quantize_dynamic"))
    return target


def _pre_processed(ctx: BuildContext, work: Path) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    upgraded = at_opset(ctx, work)
    prepared = work / "prepared.onnx"
    # symbolic shape inference fails on dynamic H/W; ONNX shape inference is enough here
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    return prepared


def at_opset(ctx: BuildContext, out: Path, minimum: int = 13) -> Path:
    import onnx
    from onnx import version_converter

    model = onnx.load(str(ctx.source))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset >= minimum:
        return ctx.source
    try:
        model = version_converter.convert_version(model, minimum)
    except Exception as exc:
        raise ConversionError(f"onnx.version_converter {opset} -> {minimum}: {exc}") from exc
    target = out / "opset.onnx"
    onnx.save(model, str(target))
    return target


class _FeedReader:
    """onnxruntime's CalibrationDataReader protocol over a list of real-image feeds."""

    def __init__(self, feeds):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)

    def rewind(self):  # ORT >= 1.16 may call it; a list of feeds is cheap to restart
        pass


def _int8_static(ctx: BuildContext, out: Path) -> Path:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    work = out / "work"
    work.mkdir()
    prepared = _pre_processed(ctx, work)
    feeds = ctx.memo("onnx-calibration", lambda: calibration_feeds(model_inputs(ctx.source),
                                                                   ctx.spec.input))
    target = out / f"{ctx.spec.name}.onnx"
    quantize_static(str(prepared), str(target), _FeedReader(feeds), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    shutil.rmtree(work)
    ctx.notes["ort_kernels"] = ort_kernel_notes(loadable(target, "quantize_static"))
    return target


def _source(ctx: BuildContext, out: Path) -> Path:
    return ctx.source  # verified by its manifest sha256 when fetched


def _from_tflite(ctx: BuildContext, out: Path) -> Path:
    from .bridges import tflite_to_onnx

    return tflite_to_onnx(ctx, out)


# Every recipe but the first two reads an ONNX model: the source, or the FP32 ONNX the second
# recipe converted from a TFLite source (pipeline: a recipe's input)
RECIPES = [
    Recipe("onnx", "fp32", "fp32 (source as shipped)", "source", {}, _source,
           sources=("onnx",)),
    Recipe("onnx", "fp32", "fp32, converted from the TFLite source (NCHW inside, the source's "
           "NHWC inputs/outputs)", "tflite2onnx", {"interface": "source (edge Transposes)"},
           _from_tflite, sources=("tflite",), requires=("onnx",),
           install_hint="pip install 'edgelab[convert]'"),
    Recipe("onnx", "fp16", "fp16 weights and compute, fp32 inputs/outputs", "onnxconverter-common",
           {"keep_io_types": True}, _fp16, install_hint="pip install onnxconverter-common"),
    Recipe("onnx", "int8-dynamic", "int8 weights (uint8), activations quantized at run time",
           "onnxruntime", {"weight_type": "QUInt8", "pre_process": True}, _int8_dynamic),
    Recipe("onnx", "int8", "int8 QDQ static, per-channel weights, uint8 activations",
           "onnxruntime", {"format": "QDQ", "per_channel": True, "opset_min": 13,
                           "calibration": "8 scikit-image photos, MinMax"}, _int8_static),
    Recipe("onnx", "int8-weight", "", "onnxruntime", {},
           unavailable="onnxruntime.quantization has no INT8 weight-only recipe for Conv "
                       "(MatMulNBits is 4-bit MatMul only); use int8-dynamic"),
]
