"""edgelab's ncnn INT8 writer (harness.models.build.ncnn_int8): .param/.bin walking, ncnn2table's
scales and KL threshold, ncnn2int8's int8 layout, on small hand-made ncnn models."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from harness.models.build import ncnn_int8 as q


def _param(lines: list[str], blobs: int) -> q.Param:
    return q.parse_param("\n".join(["7767517", f"{len(lines)} {blobs}", *lines]) + "\n")


def _tagged(values: np.ndarray) -> bytes:
    return struct.pack("<I", 0) + np.asarray(values, "<f4").tobytes()


def _raw(values) -> bytes:
    return np.asarray(values, "<f4").tobytes()


@pytest.fixture
def small():
    """Input -> Conv 3x3 s1 (2 out, bias) -> PReLU -> DW 3x3 s2 (2 groups) -> Conv 1x1 -> IP."""
    rng = np.random.default_rng(0)
    conv = rng.normal(size=2 * 3 * 9).astype(np.float32)
    dw = rng.normal(size=2 * 9).astype(np.float32)
    pw = rng.normal(size=2 * 2).astype(np.float32)
    fc = rng.normal(size=3 * 8).astype(np.float32)
    param = _param([
        "Input in0 0 1 in0",
        "Convolution conv0 1 1 in0 c0 0=2 1=3 5=1 6=54",
        "PReLU prelu0 1 1 c0 p0 0=2",
        "ConvolutionDepthWise dw0 1 1 p0 d0 0=2 1=3 3=2 5=0 6=18 7=2",
        "Convolution pw0 1 1 d0 w0 0=2 1=1 5=0 6=4",
        'Reshape flat 1 1 w0 f0 0=-1 6="1,1,//(8,0n),0n"',
        "InnerProduct fc0 1 1 f0 out0 0=3 1=1 2=24",
    ], 7)
    data = (_tagged(conv) + _raw([0.5, -0.5]) + _raw([0.1, 0.2]) + _tagged(dw) + _tagged(pw)
            + _tagged(fc) + _raw([1, 2, 3]))
    return param, data, {"conv0": conv, "dw0": dw, "pw0": pw, "fc0": fc}


def test_param_round_trips_with_quoted_expressions(small):
    param, _, _ = small
    again = q.parse_param(param.text())
    assert [(l.type, l.name, l.bottoms, l.tops, l.params) for l in again.layers] == \
        [(l.type, l.name, l.bottoms, l.tops, l.params) for l in param.layers]
    assert again.layers[5].params[-1] == (6, '"1,1,//(8,0n),0n"')
    with pytest.raises(ValueError, match="not an ncnn .param"):
        q.parse_param("123\n1 1\n")


def test_walk_finds_every_field_and_refuses_a_wrong_walk(small):
    param, data, weights = small
    chunks = q.walk_bin(param, data)
    assert [len(c) for c in chunks] == [0, 2, 1, 1, 1, 0, 2]
    np.testing.assert_array_equal(chunks[1][0].floats(data), weights["conv0"])
    np.testing.assert_allclose(chunks[2][0].floats(data), [0.1, 0.2], rtol=1e-7)
    with pytest.raises(ValueError, match=r"reads \d+ of \d+ bytes"):
        q.walk_bin(param, data + b"\0" * 8)
    odd = _param(["Input in0 0 1 in0", "Mystery m 1 1 in0 x"], 2)
    with pytest.raises(ValueError, match="layer types it does not know: Mystery"):
        q.walk_bin(odd, b"\0" * 16)


def test_fp16_and_table_weights_decode():
    values = np.array([1.5, -2.0, 0.25], np.float16)
    fp16 = struct.pack("<I", q.TAG_FP16) + values.tobytes() + b"\0\0"
    param = _param(["InnerProduct fc 1 1 a b 0=1 1=0 2=3"], 2)
    chunk = q.walk_bin(param, fp16)[0][0]
    assert chunk.size == 4 + 8 and list(chunk.floats(fp16)) == [1.5, -2.0, 0.25]
    table = np.arange(256, dtype="<f4") / 10
    quantized = struct.pack("<I", 0x01010101) + table.tobytes() + bytes([3, 0, 255]) + b"\0"
    chunk = q.walk_bin(param, quantized)[0][0]
    np.testing.assert_allclose(chunk.floats(quantized), [0.3, 0.0, 25.5], rtol=1e-6)


def test_weight_scales_follow_ncnn2table(small):
    param, data, weights = small
    conv, dw, fc = param.layers[1], param.layers[3], param.layers[6]
    # 3x3 stride-1 convolution: 6-bit weights for ncnn's int8 Winograd F43
    np.testing.assert_allclose(q.weight_scales(conv, weights["conv0"]),
                               31 / np.abs(weights["conv0"].reshape(2, -1)).max(axis=1), rtol=1e-6)
    np.testing.assert_allclose(q.weight_scales(dw, weights["dw0"]),
                               127 / np.abs(weights["dw0"].reshape(2, -1)).max(axis=1), rtol=1e-6)
    assert q.weight_scales(fc, weights["fc0"]).shape == (3,)
    assert q.weight_scales(fc, np.zeros(24, np.float32)).tolist() == [1.0, 1.0, 1.0]


def test_float2int8_rounds_half_away_from_zero_and_clamps():
    assert q.float2int8(np.array([0.5, -0.5, 1.49, 2.5, 300, -300])).tolist() == \
        [1, -1, 1, 3, 127, -127]


def _ncnn_kl(normed: list[float], target_bin: int) -> int:
    """ncnn2table's quantize_KL threshold search, line by line (tools/quantize/ncnn2table.cpp)."""
    bins, eps = len(normed), 0.0001
    best, best_kl = target_bin, math.inf
    for threshold in range(target_bin, bins):
        clip = [eps] * threshold
        for j in range(threshold):
            clip[j] += normed[j]
        for j in range(threshold, bins):
            clip[threshold - 1] += normed[j]
        npb = threshold / target_bin
        quant = [0.0] * target_bin
        end = npb
        rl = math.floor(end)
        rs = end - rl
        if rs > 0:
            quant[0] += rs * normed[rl]
        for k in range(rl):
            quant[0] += normed[k]
        quant[0] /= rl + rs
        for j in range(1, target_bin - 1):
            start, end = j * npb, (j + 1) * npb
            lu, rl = math.ceil(start), math.floor(end)
            ls, rs = lu - start, end - rl
            if ls > 0:
                quant[j] += ls * normed[lu - 1]
            if rs > 0:
                quant[j] += rs * normed[rl]
            for k in range(lu, rl):
                quant[j] += normed[k]
            quant[j] /= rl - lu + ls + rs
        start = threshold - npb
        lu = math.ceil(start)
        ls = lu - start
        if ls > 0:
            quant[-1] += ls * normed[lu - 1]
        for k in range(lu, threshold):
            quant[-1] += normed[k]
        quant[-1] /= threshold - lu + ls
        expand = [eps] * threshold
        end = npb
        rl = math.floor(end)
        rs = end - rl
        if rs > 0:
            expand[rl] += rs * quant[0]
        for k in range(rl):
            expand[k] += quant[0]
        for j in range(1, target_bin - 1):
            start, end = j * npb, (j + 1) * npb
            lu, rl = math.ceil(start), math.floor(end)
            ls, rs = lu - start, end - rl
            if ls > 0:
                expand[lu - 1] += ls * quant[j]
            if rs > 0:
                expand[rl] += rs * quant[j]
            for k in range(lu, rl):
                expand[k] += quant[j]
        start = threshold - npb
        lu = math.ceil(start)
        ls = lu - start
        if ls > 0:
            expand[lu - 1] += ls * quant[-1]
        for k in range(lu, threshold):
            expand[k] += quant[-1]
        kl = sum(a * math.log(a / b) for a, b in zip(clip, expand))
        if kl < best_kl:
            best, best_kl = threshold, kl
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_threshold_is_ncnn2tables(seed):
    rng = np.random.default_rng(seed)
    values = np.abs(rng.laplace(size=5000) * (1 + seed))
    values[:3] *= 40  # a few outliers: the clipped threshold must fall well below absmax
    hist = q.histogram(values, float(values.max()), bins=300)
    assert hist.sum() == 5000
    normed = (hist / hist.sum()).tolist()
    ours = q.kl_threshold_bin(hist, target=24)
    assert ours == _ncnn_kl(normed, 24)
    assert ours < 300 // 2


def test_quantized_model_has_ncnns_int8_layout(small):
    param, data, weights = small
    calibration = q.Calibration()
    for i in q.quantizable(param):
        layer = param.layers[i]
        calibration.weight[layer.name] = q.weight_scales(layer, weights[layer.name])
        calibration.bottom[layer.name] = 10.0 + i
    out_param, blob, summary = q.quantize_model(param, data, calibration)
    terms = {l.name: l.get(8) for l in out_param.layers if l.type in q.QUANTIZED}
    # conv0 feeds PReLU (float), dw0 feeds pw0 (int8 conv): requantized; fc0 is InnerProduct
    assert terms == {"conv0": 2, "dw0": 101, "pw0": 2, "fc0": 2}
    assert summary["quantized_layers"] == 4 and summary["requantized"] == 1
    chunks = q.walk_bin(out_param, blob)  # ncnn reads it back the way it was written
    conv = chunks[1]
    assert conv[0].tag == q.TAG_INT8 and conv[0].size == 4 + 56  # 54 int8 padded to 4
    int8 = np.frombuffer(blob, np.int8, 54, conv[0].offset + 4)
    expected = q.float2int8(weights["conv0"].reshape(2, -1)
                            * calibration.weight["conv0"][:, None]).ravel()
    np.testing.assert_array_equal(int8, expected)
    assert np.abs(int8).max() <= 31  # the 6-bit rule held
    np.testing.assert_array_equal(conv[1].floats(blob), [0.5, -0.5])           # bias kept fp32
    np.testing.assert_allclose(conv[2].floats(blob), calibration.weight["conv0"])
    assert conv[3].floats(blob).tolist() == [11.0]                             # input scale
    dw = chunks[3]
    assert [c.field.count for c in dw] == [18, 2, 1, 1]  # weights, per-group scales, in, out
    assert dw[3].floats(blob).tolist() == [14.0]  # pw0's input scale: dw0 requantizes to it
    np.testing.assert_allclose(chunks[2][0].floats(blob), [0.1, 0.2], rtol=1e-7)  # PReLU as is
    assert out_param.layers[5].params == param.layers[5].params               # Reshape verbatim


def test_table_round_trips():
    calibration = q.Calibration(weight={"conv0": np.array([1.5, 2.25], np.float32)},
                                bottom={"conv0": 12.5})
    text = calibration.table()
    assert text.splitlines() == ["conv0_param_0 1.500000 2.250000", "conv0 12.500000"]
    again = q.read_table(text)
    assert again.bottom == {"conv0": 12.5} and again.weight["conv0"].tolist() == [1.5, 2.25]


def test_calibrate_uses_each_layers_input_blob(small):
    param, data, _ = small
    rng = np.random.default_rng(3)
    feeds = [{blob: rng.normal(size=64).astype(np.float32) * scale
              for blob, scale in (("in0", 1.0), ("p0", 4.0), ("d0", 0.5), ("f0", 2.0))}
             for _ in range(3)]
    calibration = q.calibrate(param, q.walk_bin(param, data), data, feeds)
    assert set(calibration.bottom) == {"conv0", "dw0", "pw0", "fc0"}
    assert calibration.stats["dw0"]["absmax"] == pytest.approx(
        max(np.abs(f["p0"]).max() for f in feeds))
    # a wider blob gets a smaller scale
    assert calibration.bottom["dw0"] < calibration.bottom["conv0"] < calibration.bottom["pw0"]
    for name, stats in calibration.stats.items():
        assert 0 < stats["threshold"] <= stats["absmax"] * (1 + 1 / q.HISTOGRAM_BINS)
        assert calibration.bottom[name] == pytest.approx(127 / stats["threshold"])
