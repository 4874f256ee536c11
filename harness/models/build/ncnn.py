"""ncnn variants (.param + .bin) from an ONNX model through pnnx's bundled binary.

pnnx reads ONNX (and TorchScript): a TFLite source goes through the FP32 ONNX the build made from
it (``bridges``), checked against the source first. INT8 reads this module's FP32 ncnn model:
with ncnn's own ncnn2table + ncnn2int8 when a lab has them (``$EDGELAB_NCNN_TOOLS`` or PATH),
else with edgelab's writer of the same format (``ncnn_int8``).

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
import sys
from pathlib import Path

from ..inputs import concrete_shape
from .recipe import BuildContext, ConversionError, Recipe, require_file, run_tool

_HINT = "pip install --no-deps pnnx"
TOOLS_ENV = "EDGELAB_NCNN_TOOLS"


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


# -- INT8 ------------------------------------------------------------------------------------
def _sidecar_inputs(param: Path):
    from ..manifest import TensorSpec

    sidecar = param.with_name(param.stem + ".inputs.json")
    if not sidecar.is_file():
        raise ConversionError(f"{param.name} has no {sidecar.name}: its input shapes are unknown")
    return [TensorSpec(i["name"], tuple(i["shape"]), "float32")
            for i in json.loads(sidecar.read_text())["inputs"]]


def _feeds(ctx: BuildContext):
    from .calibration import calibration_feeds

    return ctx.memo("ncnn-calibration", lambda: calibration_feeds(_sidecar_inputs(ctx.source),
                                                                  ctx.spec.input))


def _copy_sidecar(ctx: BuildContext, out: Path) -> None:
    sidecar = ctx.source.with_name(ctx.source.stem + ".inputs.json")
    shutil.copyfile(sidecar, out / f"{ctx.spec.name}.inputs.json")


def _int8_python(ctx: BuildContext, out: Path) -> Path:
    import numpy as np

    work = out / "work"
    work.mkdir()
    feeds = _feeds(ctx)
    names = list(feeds[0])
    arrays = {"count": np.array(len(feeds)), "names": np.array(names)}
    for k, feed in enumerate(feeds):
        arrays.update({f"{k}/{name}": feed[name] for name in names})
    np.savez(work / "feeds.npz", **arrays)
    stem = ctx.spec.name
    param, binfile = out / f"{stem}.param", out / f"{stem}.bin"
    # a child process, as for every converter: ncnn runs the FP32 model there to calibrate
    output = run_tool([sys.executable, "-m", "harness.models.build.ncnn_int8", str(ctx.source),
                       str(ctx.source.with_suffix(".bin")), str(work / "feeds.npz"), str(param),
                       str(binfile), str(out / f"{stem}.table")], "edgelab ncnn INT8 writer",
                      ok_marker="NCNN-INT8-OK")
    require_file(param, "edgelab ncnn INT8 writer", output)
    require_file(binfile, "edgelab ncnn INT8 writer", output)
    shutil.rmtree(work)
    _copy_sidecar(ctx, out)
    summary = output[output.index("NCNN-INT8-OK") + len("NCNN-INT8-OK"):].strip().splitlines()[0]
    ctx.notes["ncnn_int8"] = {**json.loads(summary), "calibration": f"{len(feeds)} images, KL",
                              "table": f"{stem}.table (ncnn2table format)"}
    return param


def ncnn_tools() -> tuple[Path, Path] | str:
    """(ncnn2table, ncnn2int8) from ``$EDGELAB_NCNN_TOOLS`` (a directory) or PATH, or why not."""
    folder = os.environ.get(TOOLS_ENV)
    found = []
    for name in ("ncnn2table", "ncnn2int8"):
        if folder:
            path = Path(folder).expanduser() / name
            found.append(path if path.is_file() and os.access(path, os.X_OK) else None)
        else:
            which = shutil.which(name)
            found.append(Path(which) if which else None)
    missing = [n for n, p in zip(("ncnn2table", "ncnn2int8"), found) if p is None]
    if missing:
        where = f"${TOOLS_ENV} ({folder})" if folder else f"PATH (or set {TOOLS_ENV}=DIR)"
        return f"ncnn's {' and '.join(missing)} not found in {where}"
    return found[0], found[1]


def _tools_missing() -> str | None:
    tools = ncnn_tools()
    return tools if isinstance(tools, str) else None


def _tools_version() -> str | None:
    import hashlib

    tools = ncnn_tools()
    if isinstance(tools, str):
        return None
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in tools)).hexdigest()[:12]
    return f"sha256:{digest}"


def _int8_tools(ctx: BuildContext, out: Path) -> Path:
    """ncnn2table (KL, on the calibration pictures as .npy, ``type=1``) + ncnn2int8."""
    import numpy as np

    tools = ncnn_tools()
    if isinstance(tools, str):
        raise ConversionError(tools)
    table_tool, int8_tool = tools
    work = out / "work"
    work.mkdir()
    feeds = _feeds(ctx)
    names = list(feeds[0])
    lists, shapes = [], []
    for name in names:
        listing = work / f"{len(lists)}.txt"
        paths = []
        for k, feed in enumerate(feeds):
            array = np.ascontiguousarray(feed[name][0] if feed[name].ndim == 4 else feed[name],
                                         dtype=np.float32)
            path = work / f"{len(lists)}-{k}.npy"
            np.save(path, array)
            paths.append(str(path))
        listing.write_text("\n".join(paths) + "\n")
        lists.append(str(listing))
        shapes.append("[" + ",".join(str(d) for d in reversed(array.shape)) + "]")
    stem = ctx.spec.name
    table = out / f"{stem}.table"
    run_tool([str(table_tool), str(ctx.source), str(ctx.source.with_suffix(".bin")),
              ",".join(lists), str(table), "shape=" + ",".join(shapes), "method=kl", "type=1",
              "thread=1"], "ncnn2table", ok_marker="create success")
    param, binfile = out / f"{stem}.param", out / f"{stem}.bin"
    output = run_tool([str(int8_tool), str(ctx.source), str(ctx.source.with_suffix(".bin")),
                       str(param), str(binfile), str(table)], "ncnn2int8")
    require_file(param, "ncnn2int8", output)
    require_file(binfile, "ncnn2int8", output)
    shutil.rmtree(work)
    _copy_sidecar(ctx, out)
    ctx.notes["ncnn_int8"] = {"tools": [str(p) for p in tools],
                              "calibration": f"{len(feeds)} images, KL"}
    return param


def _own_version() -> str | None:
    from ...versions import dist_version
    from .ncnn_int8 import WRITER_REVISION

    return f"{dist_version('edgelab') or '0'}+w{WRITER_REVISION}"


_INT8 = {"calibration": "8 scikit-image photos", "method": "kl", "requantize": True}

RECIPES = [
    Recipe("ncnn", "fp32", "fp32 weights and compute", "pnnx", {"fp16": 0}, _fp32,
           install_hint=_HINT),
    Recipe("ncnn", "fp16", "fp16 weight storage (fp16 storage/arith where the CPU has it)",
           "pnnx", {"fp16": 1}, _fp16, install_hint=_HINT),
    # a lab's own ncnn tools first; else edgelab's writer of the same format (ncnn_int8)
    Recipe("ncnn", "int8", "int8 weights+activations (ncnn2table KL + ncnn2int8), other "
           "weights fp16", "ncnn-tools", {**_INT8, "tool": "ncnn2table+ncnn2int8"}, _int8_tools,
           sources=("ncnn",), version_of=_tools_version, missing=_tools_missing),
    Recipe("ncnn", "int8", "int8 weights+activations (KL-calibrated, ncnn's int8 format: "
           "Convolution/ConvolutionDepthWise/InnerProduct), other weights fp32", "edgelab",
           {**_INT8, "tool": "harness.models.build.ncnn_int8"}, _int8_python,
           sources=("ncnn",), version_of=_own_version, requires=("ncnn",),
           install_hint="pip install ncnn"),
    Recipe("ncnn", "int8-dynamic", "", "pnnx", {},
           unavailable="ncnn has no dynamic-range INT8 mode (its INT8 is static: ncnn2table + "
                       "ncnn2int8)"),
    Recipe("ncnn", "int8-weight", "", "pnnx", {},
           unavailable="ncnn has no weight-only INT8 mode (its INT8 is static: ncnn2table + "
                       "ncnn2int8)"),
]
