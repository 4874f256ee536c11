"""Command lines of the engines' official benchmark tools, and what their parsed output means.

Each builder uses the flags the tool itself documents (see tools/manifest.toml). The tools print
a summary, not per-iteration timings, so ``summarize`` returns the tool's own statistics under
the names the latency record uses (``mean_ms``, ``median_ms``, ``p90_ms``, ...) and never
invents samples: a statistic the tool did not print stays absent.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .base import RunSettings
from ..errors import Unsupported
from ..models.inputs import concrete_shape, declared_inputs, is_dynamic
from ..models.manifest import InputSpec


_DIM_NAME = re.compile(r"[A-Za-z_][\w.:-]*")


def tflite_argv(tool: str, model: str, settings: RunSettings,
                inputs: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    argv = [tool, f"--graph={model}", f"--num_threads={settings.threads}",
            f"--num_runs={settings.iterations}", f"--warmup_runs={settings.warmup}",
            # both default to more than 0 s, which would silently add runs beyond --num_runs
            f"--min_secs={settings.min_time_s:g}", "--warmup_min_secs=0"]
    if inputs:
        argv.append("--input_layer=" + ",".join(name for name, _ in inputs))
        argv.append("--input_layer_shape=" + ":".join(",".join(str(d) for d in shape)
                                                      for _, shape in inputs))
    return argv


def onnxruntime_argv(tool: str, model: str, settings: RunSettings,
                     free_dims: list[tuple[str, int]]) -> list[str]:
    # -m times: the default mode of older builds is a 600 s 'duration' run
    # -I: generate the input binding (no test_data_set directory next to the model)
    argv = [tool, "-e", "cpu", "-m", "times", "-r", str(settings.iterations),
            "-x", str(settings.threads), "-I"]
    for name, value in free_dims:
        argv += ["-f", f"{name}:{value}"]
    return argv + [model]


def ncnn_argv(tool: str, param: str, settings: RunSettings, shape: tuple[int, ...] | None) -> list[str]:
    # positional: loop count, threads, powersave (0 = all cores), gpu device (-1 = cpu),
    # cooling down (0: the harness decides cool-downs, not a fixed 10 s sleep per model)
    argv = [tool, str(settings.iterations), str(settings.threads), "0", "-1", "0",
            f"param={param}"]
    if shape:
        argv.append("shape=[" + ",".join(str(d) for d in ncnn_shape(shape)) + "]")
    return argv


def mnn_argv(tool: str, model_dir: str, settings: RunSettings) -> list[str]:
    # models_folder loop_count warmup forwardtype(0 = CPU) numberThread
    return [tool, model_dir, str(settings.iterations), str(settings.warmup), "0",
            str(settings.threads)]


def ncnn_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """ncnn takes [w,h,c]: NCHW (1,3,224,224) -> (224,224,3)."""
    dims = [d for d in shape[1:]] if len(shape) == 4 else list(shape)
    return tuple(reversed(dims))


# -- model input facts the command lines need, read on the host ---------------------------
# Every dynamic input dim gets the same value a host run would use (models/inputs.py): the shape
# given for the input (--input-shape, then the manifest), else the guess, which device_tools
# records. Left alone, the tools would pick their own (perf_test: 1) and time another computation.
def onnx_free_dims(model: Path, spec: InputSpec,
                   derived_dir: Path) -> tuple[list[tuple[str, int]], Path | None]:
    """``-f name:value`` pairs for the dynamic dims of every input.

    perf_test can only override dims that have a name; unnamed ones ("?", -1) are named
    ``edgelab_dim_N`` (``edgelab_inK_dim_N`` for input K > 0) in a copy of the model (in
    ``derived_dir``, never beside the user's file), else perf_test would run them as 1.
    """
    try:
        proto = _load_onnx(model)
    except Unsupported:
        if spec.shape is None and not spec.shapes:
            return [], None  # nothing to set without the onnx package; the tool picks
        raise
    if proto is None:
        return [], None
    planned = []  # (input number, dim index, dim proto, value)
    for number, graph_input in enumerate(_graph_inputs(proto)):
        dims = graph_input.type.tensor_type.shape.dim
        shape = concrete_shape(_declared(dims), spec, graph_input.name)
        planned += [(number, index, dim, int(value))
                    for index, (dim, value) in enumerate(zip(dims, shape)) if not _fixed(dim)]
    wanted: dict[str, set[int]] = {}
    for _, _, dim, value in planned:
        if dim.dim_param:
            wanted.setdefault(dim.dim_param, set()).add(value)
    pairs, renamed = [], False
    for number, index, dim, value in planned:
        # -1, "?" (some exporters write it) or one name asked for two sizes cannot be set by name
        if not _DIM_NAME.fullmatch(dim.dim_param) or len(wanted.get(dim.dim_param, ())) > 1:
            dim.ClearField("dim_value")
            dim.dim_param = f"edgelab_dim_{index}" if number == 0 else f"edgelab_in{number}_dim_{index}"
            renamed = True
        pairs.append((dim.dim_param, value))
    pairs = list(dict.fromkeys(pairs))
    return pairs, (_write_named(proto, model, derived_dir) if renamed else None)


def _load_onnx(model: Path):
    """The model's graph, or None for a file onnx cannot parse (the tool's to report)."""
    try:
        import onnx
    except ImportError:  # without it the tool would silently run dynamic dims as 1
        raise Unsupported("onnxruntime_perf_test needs the model's dynamic input dims, which "
                          "edgelab reads with the onnx package: pip install onnx") from None
    try:
        return onnx.load(str(model), load_external_data=False)
    except Exception:  # DecodeError and friends: onnx has no common base class for them
        return None


def _graph_inputs(proto) -> list:
    weights = {init.name for init in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in weights]


def _declared(dims) -> tuple:
    return tuple(d.dim_value if _fixed(d) else (d.dim_param or None) for d in dims)


def _write_named(proto, model: Path, derived_dir: Path) -> Path:
    out = derived_dir / f"{model.stem}.named-dims.onnx"
    data = proto.SerializeToString()
    if not out.is_file() or out.read_bytes() != data:
        derived_dir.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(out)
    return out


def _fixed(dim) -> bool:
    # paddle2onnx writes dynamic batch as dim_value -1, which perf_test cannot override either
    return dim.HasField("dim_value") and dim.dim_value > 0


def tflite_inputs(model: Path, spec: InputSpec) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) for ``--input_layer_shape``: inputs with a given shape or dynamic dims."""
    return [(t.name, concrete_shape(t.shape, spec, t.name))
            for t in declared_inputs(model, "tflite")
            if spec.shape_for(t.name) is not None or any(is_dynamic(d) for d in t.shape)]


def ncnn_input_shape(param: Path, spec: InputSpec) -> tuple[int, ...] | None:
    """benchncnn's ``shape=`` for the first input: given for its source (ONNX) name, else the
    manifest's, else what the build converted it with (the .inputs.json sidecar)."""
    sidecar = param.with_name(param.stem + ".inputs.json")
    first = {}
    if sidecar.is_file():
        first = (json.loads(sidecar.read_text()).get("inputs") or [{}])[0]
    given = spec.shape_for(first.get("onnx_name"))
    if given is not None:
        return tuple(given)
    return tuple(first["shape"]) if first.get("shape") else None


# -- parsed output -> run figures ---------------------------------------------------------
def summarize(engine: str, parsed: dict[str, Any], model_path: str) -> dict[str, Any]:
    """{ok, error, tool_stats, load_ms, first_ms, peak_rss_mb, backend} from a parser's dict.

    ``model_path`` is the device path: benchncnn and benchmark.out print one line per model,
    named by path, file name or stem depending on the build.
    """
    return {"tflite": _tflite, "onnxruntime": _onnxruntime, "ncnn": _per_model,
            "mnn": _per_model}[engine](parsed, model_path)


def _ms(value: float | None, scale: float = 1.0) -> float | None:
    return None if value is None else round(float(value) * scale, 6)


def _clean(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if v is not None}


def _tflite(p: dict, _model: str) -> dict[str, Any]:
    us = 1 / 1000.0
    stats = _clean({"n": p.get("count"), "mean_ms": _ms(p.get("avg_us"), us),
                    "min_ms": _ms(p.get("min_us"), us), "max_ms": _ms(p.get("max_us"), us),
                    "std_ms": _ms(p.get("std_us"), us), "median_ms": _ms(p.get("median_us"), us),
                    "p5_ms": _ms(p.get("p5_us"), us), "p95_ms": _ms(p.get("p95_us"), us),
                    "warmup_mean_ms": _ms(p.get("warmup_us"), us)})
    ok = bool(p.get("ok")) and "mean_ms" in stats
    return {"ok": ok, "error": None if ok else (p.get("error") or "no timings printed"),
            "tool_stats": stats, "load_ms": _ms(p.get("init_us"), us),
            "first_ms": _ms(p.get("first_us"), us), "peak_rss_mb": p.get("peak_memory_mb"),
            "backend": "cpu" + (f" ({p['delegate']})" if p.get("delegate") else "")}


def _onnxruntime(p: dict, _model: str) -> dict[str, Any]:
    stats = _clean({"n": p.get("requests"), "mean_ms": p.get("avg_ms"),
                    "median_ms": p.get("p50_ms"), "p90_ms": p.get("p90_ms"),
                    "p95_ms": p.get("p95_ms"), "p99_ms": p.get("p99_ms"),
                    "p999_ms": p.get("p999_ms"), "min_ms": p.get("min_ms"),
                    "max_ms": p.get("max_ms")})
    peak = p.get("peak_working_set_bytes")
    ok = "mean_ms" in stats
    return {"ok": ok, "error": None if ok else (p.get("error") or "no timings printed"),
            "tool_stats": stats, "load_ms": _ms(p.get("session_creation_s"), 1000.0),
            "first_ms": p.get("first_inference_ms"),
            "peak_rss_mb": round(peak / 2 ** 20, 3) if peak else None,
            "backend": "CPUExecutionProvider"}


def _per_model(p: dict, model_path: str) -> dict[str, Any]:
    models = p.get("models") or {}
    names = (model_path, Path(model_path).name, Path(model_path).stem)
    entry = next((models[n] for n in names if n in models), None)
    if entry is None and len(models) == 1:
        entry = next(iter(models.values()))
    if entry is None:
        return {"ok": False, "error": p.get("error") or f"no result line for {model_path}",
                "tool_stats": {}, "load_ms": None, "first_ms": None, "peak_rss_mb": None,
                "backend": "cpu"}
    stats = _clean({"n": p.get("loop_count"), "mean_ms": entry.get("avg_ms"),
                    "min_ms": entry.get("min_ms"), "max_ms": entry.get("max_ms")})
    return {"ok": True, "error": None, "tool_stats": stats, "load_ms": None, "first_ms": None,
            "peak_rss_mb": None, "backend": p.get("forward_type") or "cpu"}
