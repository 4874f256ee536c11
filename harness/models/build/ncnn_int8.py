"""ncnn INT8 in Python: what ncnn2table (KL calibration) + ncnn2int8 write, in ncnn's own format.

ncnn's quantize tools are C++ programs that neither the ``ncnn`` nor the ``pnnx`` wheel ships,
and Debian 12 has no ncnn package. This module is their equivalent, read off ncnn's source
(tools/quantize/ncnn2table.cpp, ncnn2int8.cpp, tools/modelwriter.h, src/modelbin.cpp and the
layers' load_param/load_model):

- calibration (ncnn2table ``method=kl``): weight scales per output channel ``127 / absmax``
  (``31 / absmax`` for 3x3 stride-1 dilation-1 convolutions, whose int8 Winograd F43 needs
  6-bit weights); activation scale per quantized layer's input blob from a 2048-bin histogram
  of |x| and the KL-divergence-optimal threshold over 128 target bins, ``127 / threshold``,
  exactly as ncnn2table computes it (same bins, same eps, same interpolation);
- writing (ncnn2int8): Convolution and InnerProduct get ``int8_scale_term=2``,
  ConvolutionDepthWise ``1``; their weights are stored as int8 (``round`` half away from zero,
  clamped to +-127) after the int8 tag ``0x000D4B38``, padded to 4 bytes, followed by the
  weight scales and the input scale; a convolution feeding only int8 convolutions (directly or
  through a Split) requantizes (``+100`` and the consumer's input scale), as fuse_requantize
  does. Every other layer's bytes are copied unchanged: where ncnn2int8 stores them as fp16,
  these stay fp32 (same speed on CPUs without fp16 storage, no extra drift).

The .bin has no index: a layer's bytes are found by walking every layer in order with the sizes
its load_model reads (``_FIELDS``). A layer type with weights that this walk does not know makes
the byte count come out wrong, which is caught (the walk must end exactly at the file's end).

``python -m harness.models.build.ncnn_int8 PARAM BIN FEEDS.npz OUT_PARAM OUT_BIN TABLE`` runs the
calibration and the writing in a child process (ncnn runs the FP32 model there).
"""
from __future__ import annotations

import math
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

MAGIC = 7767517
TAG_FP32, TAG_FP16, TAG_INT8, TAG_RAW_SCALED = 0x00000000, 0x01306B47, 0x000D4B38, 0x0002C056
QUANTIZED = ("Convolution", "ConvolutionDepthWise", "InnerProduct")
HISTOGRAM_BINS, TARGET_BINS, KL_EPS = 2048, 128, 0.0001
WRITER_REVISION = 1  # bump when the written bytes change: part of the build key


# -- .param ---------------------------------------------------------------------------------
@dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: list[tuple[int, str]]  # (id, raw value) in file order; arrays keep their -233xx id

    def get(self, key: int, default: int = 0) -> int:
        for k, value in self.params:
            if k == key:
                return int(float(value))
        return default

    def set(self, key: int, value: int) -> None:
        for i, (k, _) in enumerate(self.params):
            if k == key:
                self.params[i] = (key, str(value))
                return
        self.params.append((key, str(value)))

    def line(self) -> str:
        blobs = " ".join(self.bottoms + self.tops)
        values = " ".join(f"{k}={v}" for k, v in self.params)
        return " ".join(part for part in (f"{self.type:<24} {self.name:<24} {len(self.bottoms)} "
                                          f"{len(self.tops)}", blobs, values) if part)


@dataclass
class Param:
    layers: list[Layer]
    blob_count: int

    def text(self) -> str:
        return "\n".join([str(MAGIC), f"{len(self.layers)} {self.blob_count}",
                          *(layer.line() for layer in self.layers)]) + "\n"

    def producer(self) -> dict[str, int]:
        return {top: i for i, layer in enumerate(self.layers) for top in layer.tops}

    def consumers(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for i, layer in enumerate(self.layers):
            for bottom in layer.bottoms:
                found.setdefault(bottom, []).append(i)
        return found


def parse_param(text: str) -> Param:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise ValueError(f"not an ncnn .param (first line is not {MAGIC})")
    layer_count, blob_count = int(lines[1][0]), int(lines[1][1])
    layers = []
    for tokens in lines[2:2 + layer_count]:
        kind, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        blobs = tokens[4:4 + n_in + n_out]
        params = []
        for token in tokens[4 + n_in + n_out:]:
            key, _, value = token.partition("=")
            params.append((int(key), value))
        layers.append(Layer(kind, name, blobs[:n_in], blobs[n_in:], params))
    if len(layers) != layer_count:
        raise ValueError(f".param declares {layer_count} layers and lists {len(layers)}")
    return Param(layers, blob_count)


# -- .bin -----------------------------------------------------------------------------------
@dataclass
class Field:
    kind: str          # "tagged" (4-byte tag, then data) or "raw" (float32)
    count: int         # values


@dataclass
class Chunk:
    """One field of one layer as found in the .bin."""
    field: Field
    offset: int
    size: int          # bytes, tag and padding included
    tag: int | None = None

    def floats(self, data: bytes) -> np.ndarray:
        start = self.offset + (4 if self.field.kind == "tagged" else 0)
        n = self.field.count
        if self.field.kind == "raw" or self.tag in (TAG_FP32, TAG_RAW_SCALED):
            return np.frombuffer(data, "<f4", n, start).astype(np.float32)
        if self.tag == TAG_FP16:
            return np.frombuffer(data, "<f2", n, start).astype(np.float32)
        if self.tag == TAG_INT8:
            raise ValueError("weights are int8 already")
        table = np.frombuffer(data, "<f4", 256, start)  # ncnn's 256-entry quantization table
        return table[np.frombuffer(data, np.uint8, n, start + 1024)].astype(np.float32)


def _conv_fields(layer: Layer, group_key: int | None, int8: bool, dynamic_key: int = 19
                 ) -> list[Field]:
    if layer.get(dynamic_key):
        return []
    num_output, fields = layer.get(0), [Field("tagged", layer.get(6))]
    if layer.get(5):
        fields.append(Field("raw", num_output))
    term = layer.get(8) if int8 else 0
    if term:
        if group_key is None:
            fields += [Field("raw", num_output), Field("raw", 1)]
        else:  # ConvolutionDepthWise: per-group weight scales (1/101) or one (2/102)
            fields += [Field("raw", layer.get(group_key, 1) if term in (1, 101) else 1),
                       Field("raw", 1)]
        if term > 100:
            fields.append(Field("raw", 1))
    return fields


def _memorydata(layer: Layer) -> list[Field]:
    w, h, d, c = layer.get(0), layer.get(1), layer.get(11), layer.get(2)
    count = w * max(h, 1) * max(d, 1) * max(c, 1) if w else 0
    return [Field("tagged" if layer.get(21, 1) == 0 else "raw", count)] if count else []


def _fields(layer: Layer) -> list[Field] | None:
    """What ``load_model`` of this layer reads, in order; None for types this walk does not
    know (taken as weightless; a wrong guess shows as a byte count that does not add up)."""
    g = layer.get
    kind = layer.type
    if kind == "Convolution":
        return _conv_fields(layer, None, True)
    if kind == "ConvolutionDepthWise":
        return _conv_fields(layer, 7, True)
    if kind in ("Convolution1D", "ConvolutionDepthWise1D", "Convolution3D",
                "ConvolutionDepthWise3D"):
        return _conv_fields(layer, None, False)
    if kind in ("Deconvolution", "DeconvolutionDepthWise", "Deconvolution1D",
                "DeconvolutionDepthWise1D", "Deconvolution3D", "DeconvolutionDepthWise3D"):
        return _conv_fields(layer, None, False, dynamic_key=28)
    if kind == "InnerProduct":
        fields = [Field("tagged", g(2))] + ([Field("raw", g(0))] if g(1) else [])
        return fields + ([Field("raw", g(0)), Field("raw", 1)] if g(8) else [])
    if kind == "PReLU":
        return [Field("raw", g(0))]
    if kind == "BatchNorm":
        return [Field("raw", g(0))] * 4
    if kind == "Scale":
        size = g(0)
        return [] if size == -233 else [Field("raw", size)] * (2 if g(1) else 1)
    if kind == "Bias":
        return [Field("raw", g(0))]
    if kind == "Normalize":
        return [Field("raw", g(3))]
    if kind in ("LayerNorm", "InstanceNorm"):
        size = g(0)
        return [Field("raw", size)] * 2 if g(2, 1) else []
    if kind == "GroupNorm":
        return [Field("raw", g(1))] * 2 if g(3, 1) else []
    if kind == "RMSNorm":
        return [Field("raw", g(0))] if g(2, 1) else []
    if kind == "MemoryData":
        return _memorydata(layer)
    if kind in _WEIGHTLESS:
        return []
    return None


# layer types pnnx writes that read nothing from the .bin
_WEIGHTLESS = frozenset(
    "AbsVal BinaryOp BNLL Cast CELU Clip Concat Crop CumulativeSum Dropout ELU Eltwise Erf Exp "
    "ExpandDims Flatten Fold GELU GLU Gemm0 GridSample HardSigmoid HardSwish Input Interp Log "
    "LRN MatMul Mish Noop Packing Padding Permute PixelShuffle Pooling Pooling1D Pooling3D Power "
    "Reduction ReLU Reorg Reshape RNN0 SELU Shrink ShuffleChannel Sigmoid Slice Softmax Softplus "
    "Split Squeeze Swish TanH Threshold Tile UnaryOp Unfold".split())


def _align4(n: int) -> int:
    return (n + 3) & ~3


def walk_bin(param: Param, data: bytes) -> list[list[Chunk]]:
    """Every layer's fields as found in ``data``; raises ValueError when the walk and the file
    disagree (an unknown tag where weights must start, or bytes left over / missing)."""
    offset, layers, unknown = 0, [], set()
    for layer in param.layers:
        fields = _fields(layer)
        if fields is None:
            unknown.add(layer.type)
            fields = []
        chunks = []
        for item in fields:
            if item.kind == "raw":
                size, tag = item.count * 4, None
            else:
                if offset + 4 > len(data):
                    raise ValueError(f"{layer.name}: .bin ends where its weights start")
                tag = struct.unpack_from("<I", data, offset)[0]
                if tag == TAG_FP16:
                    size = 4 + _align4(item.count * 2)
                elif tag == TAG_INT8:
                    size = 4 + _align4(item.count)
                elif tag in (TAG_FP32, TAG_RAW_SCALED):
                    size = 4 + item.count * 4
                else:  # any other non-zero flag: a 256-entry value table, then uint8 indices
                    size = 4 + 1024 + _align4(item.count)
            chunks.append(Chunk(item, offset, size, tag))
            offset += size
        layers.append(chunks)
    if offset != len(data):
        more = f" (layer types it does not know: {', '.join(sorted(unknown))})" if unknown else ""
        raise ValueError(f"walking the .bin by its layers reads {offset} of {len(data)} bytes"
                         f"{more}")
    return layers


# -- calibration (ncnn2table, method=kl) ----------------------------------------------------
def quantizable(param: Param) -> list[int]:
    """Indexes of the layers ncnn2int8 quantizes (static weights only)."""
    return [i for i, layer in enumerate(param.layers) if layer.type in QUANTIZED
            and not (layer.type != "InnerProduct" and layer.get(19))]


def weight_scales(layer: Layer, weights: np.ndarray) -> np.ndarray:
    """ncnn2table's per-output-channel (per-group for depthwise) weight scales."""
    if layer.type == "ConvolutionDepthWise":
        chunks = layer.get(7, 1)
    else:
        chunks = layer.get(0)
    absmax = np.abs(weights.reshape(chunks, -1)).max(axis=1).astype(np.float32)
    six_bit = (layer.type == "Convolution" and layer.get(1) == 3 and layer.get(11, layer.get(1)) == 3
               and layer.get(2, 1) == 1 and layer.get(12, layer.get(2, 1)) == 1
               and layer.get(3, 1) == 1 and layer.get(13, layer.get(3, 1)) == 1)
    top = np.float32(31 if six_bit else 127)
    with np.errstate(divide="ignore"):
        scales = np.where(absmax > 0, top / np.maximum(absmax, np.float32(1e-30)), np.float32(1))
    return scales.astype(np.float32)


def histogram(values: np.ndarray, absmax: float, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """ncnn2table's histogram of |x| over [0, absmax]; exact zeros are not counted."""
    magnitude = np.abs(values[values != 0].astype(np.float32))
    if absmax <= 0 or magnitude.size == 0:
        return np.zeros(bins, np.int64)
    index = np.minimum((magnitude / np.float32(absmax) * bins).astype(np.int64), bins - 1)
    return np.bincount(index, minlength=bins)


def _fraction_sum(cumulative: np.ndarray, hist: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sum of ``hist`` over [0, x) with the bin at x counted by its covered fraction."""
    lower = np.floor(x).astype(np.int64)
    frac = x - lower
    safe = np.minimum(lower, hist.size - 1)
    return cumulative[lower] + np.where(lower < hist.size, frac * hist[safe], 0.0)


def kl_threshold_bin(hist: np.ndarray, target: int = TARGET_BINS) -> int:
    """The bin count (threshold) of least KL divergence between the clipped distribution and
    its ``target``-level quantization, as ncnn2table computes it."""
    total = hist.sum()
    if total == 0:
        return hist.size
    normed = hist.astype(np.float64) / float(total)
    cumulative = np.concatenate([[0.0], np.cumsum(normed)])
    best, best_kl = target, math.inf
    for threshold in range(target, hist.size):
        clip = normed[:threshold] + KL_EPS
        clip[threshold - 1] += normed[threshold:].sum()
        per_bin = threshold / target
        edges = np.arange(target + 1) * per_bin
        edges[-1] = threshold
        sums = _fraction_sum(cumulative, normed, edges)
        quantized = np.diff(sums) / per_bin  # average per source bin of each target bin
        # expand back: each source bin gets the average of the target bins covering it
        integral = np.concatenate([[0.0], np.cumsum(quantized)]) * per_bin
        positions = np.arange(threshold + 1) / per_bin
        lower = np.minimum(np.floor(positions).astype(np.int64), target - 1)
        at = integral[lower] + (positions - lower) * per_bin * quantized[lower]
        expand = np.diff(at) + KL_EPS
        kl = float(np.sum(clip * np.log(clip / expand)))
        if kl < best_kl:
            best, best_kl = threshold, kl
    return best


def activation_scale(hist: np.ndarray, absmax: float) -> tuple[float, float]:
    """(scale, threshold) of one blob: 127 / ((bin + 0.5) * absmax / 2048)."""
    if absmax <= 0:
        return 1.0, 0.0
    threshold = (kl_threshold_bin(hist) + 0.5) * absmax / hist.size
    return 127.0 / threshold, threshold


@dataclass
class Calibration:
    weight: dict[str, np.ndarray] = field(default_factory=dict)   # layer name -> scales
    bottom: dict[str, float] = field(default_factory=dict)        # layer name -> input scale
    stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def table(self) -> str:
        """ncnn2table's table format: ``<layer>_param_0 scales...`` then ``<layer> scale``."""
        lines = [f"{name}_param_0 " + " ".join(f"{v:f}" for v in scales)
                 for name, scales in self.weight.items()]
        lines += [f"{name} {scale:f}" for name, scale in self.bottom.items()]
        return "\n".join(lines) + "\n"


def read_table(text: str) -> Calibration:
    calibration = Calibration()
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        values = np.array([float(v) for v in parts[1:]], np.float32)
        if parts[0].endswith("_param_0"):
            calibration.weight[parts[0][:-len("_param_0")]] = values
        elif "_param_" not in parts[0]:
            calibration.bottom[parts[0]] = float(values[0])
    return calibration


def calibrate(param: Param, chunks: list[list[Chunk]], data: bytes,
              activations: Iterable[dict[str, np.ndarray]]) -> Calibration:
    """Weight scales from the weights; input scales from ``activations``, a re-iterable of
    {blob name: array} holding every quantized layer's input blob per calibration feed."""
    calibration = Calibration()
    targets = quantizable(param)
    for i in targets:
        layer = param.layers[i]
        calibration.weight[layer.name] = weight_scales(layer, chunks[i][0].floats(data))
    blobs = {param.layers[i].bottoms[0] for i in targets}
    absmax = dict.fromkeys(blobs, 0.0)
    feeds = list(activations)
    for feed in feeds:
        for blob in blobs:
            absmax[blob] = max(absmax[blob], float(np.abs(feed[blob]).max(initial=0.0)))
    hist = {blob: np.zeros(HISTOGRAM_BINS, np.int64) for blob in blobs}
    for feed in feeds:
        for blob in blobs:
            hist[blob] += histogram(feed[blob], absmax[blob])
    scales = {blob: activation_scale(hist[blob], absmax[blob]) for blob in blobs}
    for i in targets:
        layer = param.layers[i]
        scale, threshold = scales[layer.bottoms[0]]
        calibration.bottom[layer.name] = scale
        calibration.stats[layer.name] = {"absmax": absmax[layer.bottoms[0]],
                                         "threshold": threshold, "scale": scale}
    return calibration


# -- writing (ncnn2int8) ---------------------------------------------------------------------
def float2int8(values: np.ndarray) -> np.ndarray:
    """ncnn's float2int8: round half away from zero, clamp to [-127, 127]."""
    rounded = np.sign(values) * np.floor(np.abs(values) + 0.5)
    return np.clip(rounded, -127, 127).astype(np.int8)


def _raw(values: Sequence[float]) -> bytes:
    return np.asarray(values, "<f4").tobytes()


def _requantize_targets(param: Param, int8: set[int]) -> dict[int, int]:
    """fuse_requantize: conv i -> the int8 conv whose input scale becomes i's output scale."""
    convs = ("Convolution", "ConvolutionDepthWise")
    consumers = param.consumers()
    fused = {}
    for i in sorted(int8):
        layer = param.layers[i]
        if layer.type not in convs:
            continue
        users = consumers.get(layer.tops[0], [])
        if len(users) != 1:
            continue
        user = param.layers[users[0]]
        if user.type in convs and len(user.bottoms) == 1 and users[0] in int8:
            fused[i] = users[0]
        elif user.type == "Split":
            ends = [consumers.get(top, []) for top in user.tops]
            if all(len(e) == 1 and param.layers[e[0]].type in convs and e[0] in int8
                   and len(param.layers[e[0]].bottoms) == 1 for e in ends):
                fused[i] = ends[0][0]
    return fused


def quantize_model(param: Param, data: bytes, calibration: Calibration,
                   requantize: bool = True) -> tuple[Param, bytes, dict[str, Any]]:
    """The int8 .param and .bin; every layer the calibration names is quantized."""
    chunks = walk_bin(param, data)
    targets = [i for i in quantizable(param) if param.layers[i].name in calibration.bottom
               and param.layers[i].name in calibration.weight]
    int8 = set(targets)
    fused = _requantize_targets(param, int8) if requantize else {}
    out = bytearray()
    layers = []
    for i, layer in enumerate(param.layers):
        layer = Layer(layer.type, layer.name, list(layer.bottoms), list(layer.tops),
                      list(layer.params))
        layers.append(layer)
        if i not in int8:
            for chunk in chunks[i]:
                out += data[chunk.offset:chunk.offset + chunk.size]
            continue
        weights, scales = chunks[i][0].floats(data), calibration.weight[layer.name]
        groups = scales.size
        quantized = float2int8(weights.reshape(groups, -1) * scales[:, None]).tobytes()
        out += struct.pack("<I", TAG_INT8) + quantized + b"\0" * (_align4(len(quantized))
                                                                   - len(quantized))
        has_bias = layer.get(1) if layer.type == "InnerProduct" else layer.get(5)
        if has_bias:  # the bias stays fp32 (raw); scale fields follow it
            bias = chunks[i][1]
            out += data[bias.offset:bias.offset + bias.size]
        term = 1 if layer.type == "ConvolutionDepthWise" else 2
        out += _raw(scales) + _raw([calibration.bottom[layer.name]])
        if i in fused:
            term += 100
            out += _raw([calibration.bottom[param.layers[fused[i]].name]])
        layer.set(8, term)
    summary = {"quantized_layers": len(int8), "requantized": len(fused),
               "by_type": {t: sum(1 for i in int8 if param.layers[i].type == t)
                           for t in QUANTIZED if any(param.layers[i].type == t for i in int8)},
               "float_layers_with_weights": sum(1 for i, c in enumerate(chunks)
                                                if c and i not in int8)}
    return Param(layers, param.blob_count), bytes(out), summary


# -- running ncnn on the FP32 model (child process) -----------------------------------------
def _activations(param_path: Path, bin_path: Path, param: Param,
                 feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Each quantized layer's input blob for every feed, from ncnn itself (fp32, no fp16)."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    net.opt.lightmode = False
    for option in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                   "use_bf16_packed", "use_bf16_storage", "use_int8_inference"):
        setattr(net.opt, option, False)
    if net.load_param(str(param_path)) or net.load_model(str(bin_path)):
        raise RuntimeError(f"ncnn cannot load {param_path.name}")
    inputs = list(net.input_names())
    blobs = sorted({param.layers[i].bottoms[0] for i in quantizable(param)})
    result = []
    for feed in feeds:
        arrays = list(feed.values())
        ex = net.create_extractor()
        for k, name in enumerate(inputs):
            array = arrays[k] if k < len(arrays) else None
            array = np.ascontiguousarray(array[0] if array.ndim == 4 else array, np.float32)
            ex.input(name, ncnn.Mat(array).clone())
        found = {}
        for blob in blobs:
            ret, mat = ex.extract(blob)
            if ret != 0:
                raise RuntimeError(f"ncnn extract({blob!r}) returned {ret}")
            found[blob] = np.array(mat, copy=True)
        result.append(found)
    return result


def _main(param_path: str, bin_path: str, feeds_path: str, out_param: str, out_bin: str,
          table_path: str) -> None:
    import json

    param = parse_param(Path(param_path).read_text())
    data = Path(bin_path).read_bytes()
    chunks = walk_bin(param, data)
    with np.load(feeds_path) as saved:
        count = int(saved["count"])
        names = [str(n) for n in saved["names"]]
        feeds = [{name: saved[f"{k}/{name}"] for name in names} for k in range(count)]
    activations = _activations(Path(param_path), Path(bin_path), param, feeds)
    calibration = calibrate(param, chunks, data, activations)
    Path(table_path).write_text(calibration.table())
    quantized, blob, summary = quantize_model(param, data, calibration)
    Path(out_param).write_text(quantized.text())
    Path(out_bin).write_bytes(blob)
    print("NCNN-INT8-OK", json.dumps(summary))


if __name__ == "__main__":
    _main(*sys.argv[1:7])
