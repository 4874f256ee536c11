"""The phone tools' command lines and output formats, answered by a real engine run on the host.

Each ``_tool`` parses the real tool's arguments, runs ``harness.virtual.toolrun`` in a child
process (killed when the adb stream closes or ``timeout`` expires) and prints the tool's own
output format, so harness.parsers reads it like a phone's. The numbers are the HOST CPU's times
the phone's simulated slowdown (toolspeed.py), labelled by ``ro.edgelab.virtual``/``simulated``.
Formats follow shared/device-data/{tflite_benchmark_model,onnxruntime_perf_test,benchncnn,
mnn_benchmark}/ and the tools' sources.
"""
from __future__ import annotations

import json
import math
import os
import posixpath
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .profile import REPO_ROOT
from .shell import Cancelled, TimedOut
from .toolspeed import SimulatedRun, executing

_TFLITE_FLAGS = {  # flag -> (default, label echoed by benchmark_model, type)
    "num_runs": (50, "Min num runs", int), "min_secs": (1.0, "Min runs duration (seconds)", float),
    "max_secs": (150.0, "Max runs duration (seconds)", float),
    "run_delay": (-1.0, "Inter-run delay (seconds)", float), "num_threads": (-1, "Num threads", int),
    "warmup_runs": (1, "Min warmup runs", int),
    "warmup_min_secs": (0.5, "Min warmup runs duration (seconds)", float),
    "graph": ("", "Graph", str), "input_layer": ("", "Input layers", str),
    "input_layer_shape": ("", "Input shapes", str),
    "enable_op_profiling": (False, "Enable op profiling", bool),
    "use_xnnpack": (True, "Use xnnpack", bool),
    "verbose": (False, "Log parameter values verbosely", bool),
    "benchmark_name": ("", "Benchmark name", str), "output_prefix": ("", "Output prefix", str),
}


def run_tool(tool: str, shell, path: str, argv: list[str], io) -> int:
    handler = {"benchmark_model": _benchmark_model, "onnxruntime_perf_test": _onnxruntime_perf_test,
               "benchncnn": _benchncnn, "benchmark.out": _mnn_benchmark}.get(tool)
    if handler is None:
        shell.warn(io, f"{argv[0]}: can't execute: unknown edgelab virtual tool {tool!r}")
        return 126
    if shell.device.faults.hang_tools:
        shell.wait(None)  # a hung binary: only `timeout` or closing the stream ends it
    with executing(path):
        return handler(shell, argv, io)


def _say(io, text: str, err: bool = False) -> None:
    (io.err if err else io.out)((text + "\n").encode())


def _g(value: float) -> str:
    """C++ ostream's default formatting of a double (6 significant digits)."""
    return f"{value:g}"


def measure(shell, io, spec: dict) -> dict:
    """Run toolrun.py in a child; the real engine's own stderr (delegate notes) goes to ``io.err``."""
    if shell.device.compute_sleep_ms is not None:  # a labelled benchmark phone: computesleep.py
        from .computesleep import sleep_run

        return sleep_run(shell, spec, shell.device.compute_sleep_ms)
    with tempfile.TemporaryDirectory(prefix="edgelab-toolrun-") as tmp:
        spec = {**spec, "result_path": os.path.join(tmp, "result.json")}
        spec_path = Path(tmp, "spec.json")
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        stderr_path = Path(tmp, "stderr")
        with open(stderr_path, "wb") as stderr:
            child = subprocess.Popen([sys.executable, "-m", "harness.virtual.toolrun", str(spec_path)],
                                     stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                     env=env, start_new_session=True)
            shell.device.register_child(child)
            run = SimulatedRun(shell, child.pid, spec)  # heat, battery, slowdown: toolspeed.py
            try:
                while child.poll() is None:
                    shell.wait(0.05)
                    run.track()
            except (Cancelled, TimedOut):
                run.end()
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                raise
            finally:
                shell.device.unregister_child(child)
        io.err(stderr_path.read_bytes())
        result_file = Path(spec["result_path"])
        if not result_file.exists():
            run.end()  # a crashed tool no longer heats the phone
            return {"error": {"stage": "process", "type": "Crash",
                              "message": f"tool process died with status {child.returncode}"}}
        return run.finish(shell, json.loads(result_file.read_text()))


def _device_file(shell, text: str) -> tuple[str, Path | None]:
    path = shell.fs.normalize(text, shell.cwd)
    return path, (shell.fs.host_path(path) if shell.fs.is_file(path) else None)


# -- LiteRT benchmark_model ------------------------------------------------------------------
def _benchmark_model(shell, argv, io) -> int:
    values, given, unknown = {}, [], []
    for arg in argv[1:]:
        name, sep, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name not in _TFLITE_FLAGS:
            unknown.append(arg)
            continue
        default, _, kind = _TFLITE_FLAGS[name]
        try:
            values[name] = (value.lower() in ("1", "true", "")) if kind is bool else kind(value)
        except ValueError:
            _say(io, f"Couldn't interpret value {value} for flag {name}.", err=True)
            return 1
        given.append(name)
    options = {k: values.get(k, v[0]) for k, v in _TFLITE_FLAGS.items()}
    _say(io, "STARTING!")
    if unknown:
        _say(io, "Unconsumed cmdline flags: " + " ".join(unknown), err=True)
    _say(io, f"Log parameter values verbosely: [{int(options['verbose'])}]")
    for name in _TFLITE_FLAGS:
        if name in given and name != "verbose":
            value = options[name]
            shown = int(value) if isinstance(value, bool) else \
                _g(value) if isinstance(value, float) else value
            _say(io, f"{_TFLITE_FLAGS[name][1]}: [{shown}]")
    if not options["graph"]:
        _say(io, "Please specify the name of your TF Lite input file with --graph", err=True)
        _say(io, "Benchmarking failed.", err=True)
        return 1
    _say(io, f"#threads used for CPU inference: [{options['num_threads']}]")
    graph, host = _device_file(shell, options["graph"])
    if host is None:
        _say(io, f"ERROR: Could not open '{options['graph']}'.", err=True)
        _say(io, f"Failed to mmap model {options['graph']}", err=True)
        _say(io, "Benchmarking failed.", err=True)
        return 1
    _say(io, f"Loaded model {options['graph']}")
    shapes = _layer_shapes(options["input_layer"], options["input_layer_shape"])
    result = measure(shell, io, {
        "engine": "tflite", "model_path": str(host), "threads": options["num_threads"],
        "shapes": shapes, "phases": [[options["warmup_runs"], options["warmup_min_secs"]],
                                     [options["num_runs"], options["min_secs"]]]})
    if "error" in result:
        _say(io, f"ERROR: {result['error']['message']}", err=True)
        _say(io, "Benchmarking failed.", err=True)
        return 1
    _say(io, f"The input model file size (MB): {_g(host.stat().st_size / 1e6)}")
    _say(io, f"Initialized session in {_g(result['load_ms'])}ms.")
    warmup, main = ([s / 1000.0 for s in phase] for phase in result["phases"])  # ns -> us
    for samples, (runs, seconds) in ((warmup, ("warmup_runs", "warmup_min_secs")),
                                     (main, ("num_runs", "min_secs"))):
        _say(io, f"Running benchmark for at least {options[runs]} iterations and at least "
                 f"{_g(options[seconds])} seconds but terminate if exceeding "
                 f"{_g(options['max_secs'])} seconds.")
        if samples:
            _say(io, _stat_line(samples) + "\n")
    init_us = int(result["load_ms"] * 1000)
    first = int(warmup[0]) if warmup else int(main[0])
    warm_avg = sum(warmup) / len(warmup) if warmup else 0.0
    _say(io, f"Inference timings in us: Init: {init_us}, First inference: {first}, "
             f"Warmup (avg): {_g(warm_avg)}, Inference (avg): {_g(sum(main) / len(main))}")
    _say(io, "Note: as the benchmark tool itself affects memory footprint, the following is only "
             "APPROXIMATE to the actual memory footprint of the model at runtime. Take the "
             "information at your discretion.")
    start = result["rss_start_mb"]
    _say(io, f"Memory footprint delta from the start of the tool (MB): "
             f"init={_g(result['rss_after_load_mb'] - start)} "
             f"overall={_g(result['peak_rss_mb'] - start)}")
    _say(io, f"Overall peak memory footprint (MB) via periodic monitoring: {_g(result['peak_rss_mb'])}")
    return 0


def _stat_line(samples_us: list[float]) -> str:
    """tflite::benchmark Stat<int64_t>: integer us, avg as a double, std as an integer."""
    ints = [int(s) for s in samples_us]
    avg = sum(ints) / len(ints)
    std = int(round(math.sqrt(sum((x - avg) ** 2 for x in ints) / len(ints))))
    return (f"count={len(ints)} first={ints[0]} curr={ints[-1]} min={min(ints)} max={max(ints)} "
            f"avg={_g(avg)} std={std}")


def _layer_shapes(layers: str, shapes: str) -> dict[str, list[int]]:
    names = [n for n in layers.split(",") if n]
    dims = [s for s in shapes.split(":") if s]
    return {name: [int(d) for d in shape.split(",") if d]
            for name, shape in zip(names, dims)}


# -- onnxruntime_perf_test ---------------------------------------------------------------------
_ORT_VALUE_OPTIONS = set("emrtxyofFSciCMpdqlRuUVLHgT")


def _onnxruntime_perf_test(shell, argv, io) -> int:
    options, free_dims, positionals = {"e": "cpu", "m": "times", "r": "1000", "x": "0"}, {}, []
    flags = set()
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg.startswith("-") and len(arg) >= 2 and arg[1] in _ORT_VALUE_OPTIONS:
            value = arg[2:] or (args.pop(0) if args else "")
            if arg[1] == "f":
                name, _, dim = value.partition(":")
                free_dims[name] = int(dim) if dim.isdigit() else 1
            options[arg[1]] = value
        elif arg.startswith("-") and len(arg) == 2:
            flags.add(arg[1])
        else:
            positionals.append(arg)
    if not positionals or options["e"] != "cpu":
        reason = "model path is required" if not positionals else \
            f"the virtual device has only the cpu execution provider, not {options['e']!r}"
        _say(io, f"Invalid arguments: {reason}", err=True)
        return 255
    model_text = positionals[0]
    _, host = _device_file(shell, model_text)
    if host is None:
        _say(io, f"Error: file '{model_text}' does not exist", err=True)  # ORT's Env::LoadModel
        return 255
    threads = int(options["x"])
    if threads > 0:
        _say(io, f"Setting intra_op_num_threads to {threads}")
    if "Z" in flags:
        _say(io, "Disabling intra-op thread spinning between runs")
    shapes = None
    if "I" not in flags:  # without -I perf_test feeds <model dir>/test_data_set_*/input_*.pb
        shapes = _test_data_shapes(shell, shell.fs.normalize(model_text, shell.cwd))
        if shapes is None:
            folder = posixpath.basename(posixpath.dirname(shell.fs.normalize(model_text, shell.cwd)))
            _say(io, f"there is no test data for model {folder.removeprefix('test_')}")
            return 255
    duration = options["m"] == "duration"
    repeats = int(options["r"])
    phases = [[1, 0.0], [1, float(options.get("t", 600))] if duration else [repeats, 0.0]]
    result = measure(shell, io, {"engine": "onnxruntime", "model_path": str(host),
                                 "threads": threads, "free_dims": free_dims, "phases": phases,
                                 "shapes": (shapes or {}).get("named", {}),
                                 "positional_shapes": (shapes or {}).get("positional", [])})
    if "error" in result:
        _say(io, f"{result['error']['type']}: {result['error']['message']}", err=True)
        return 255
    first, samples = result["phases"][0], [s / 1e9 for s in result["phases"][1]]  # ns -> s
    total, wall = sum(samples), result["phase_wall_s"][1]
    peak = int(result["peak_rss_mb"] * 1024 * 1024)
    _say(io, f"Session creation time cost: {_g(result['load_ms'] / 1000)} s")
    _say(io, f"First inference time cost: {int(first[0] / 1e6)} ms")
    _say(io, f"Total inference time cost: {_g(total)} s")
    _say(io, f"Total inference requests: {len(samples)}")
    _say(io, f"Average inference time cost: {_g(total / len(samples) * 1000)} ms")
    _say(io, f"Total inference run time: {_g(wall)} s")
    _say(io, f"Number of inferences per second: {_g(len(samples) / wall)} ")
    _say(io, f"Avg CPU usage: {result.get('cpu_pct', 0)} %")
    _say(io, f"Peak working set size: {peak} bytes")
    if "s" in flags or len(positionals) < 2:  # perf_test prints percentiles then
        ordered = sorted(samples)
        _say(io, f"Avg CPU usage:{result.get('cpu_pct', 0)}\nPeak working set size:{peak}\n"
                 f"Runs:{len(samples)}")
        _say(io, f"Min Latency: {_g(ordered[0])} s\nMax Latency: {_g(ordered[-1])} s")
        for label, pct in (("P50", 50), ("P90", 90), ("P95", 95), ("P99", 99), ("P999", 99.9)):
            index = min(len(ordered) - 1, int(pct / 100 * len(ordered)))
            _say(io, f"{label} Latency: {_g(ordered[index])} s")
    return 0


def _test_data_shapes(shell, model: str) -> dict | None:
    """Input shapes from the first test_data_set_N/input_K.pb (ONNX TensorProto) beside the model."""
    fs, folder = shell.fs, posixpath.dirname(model)
    try:
        sets = sorted(n for n in fs.listdir(folder) if n.startswith("test_data_set_"))
        names = sorted((n for n in fs.listdir(posixpath.join(folder, sets[0]))
                        if re.fullmatch(r"input_\d+\.pb", n)), key=lambda n: int(n[6:-3]))
    except (OSError, IndexError):
        return None
    if not names:
        return None
    named, positional = {}, []
    for name in names:
        tensor_name, dims = _tensor_proto_dims(fs.read_bytes(posixpath.join(folder, sets[0], name)))
        positional.append(dims)
        if tensor_name:
            named[tensor_name] = dims
    return {"named": named, "positional": positional}


def _tensor_proto_dims(data: bytes) -> tuple[str, list[int]]:
    """Fields 1 (dims, int64) and 8 (name) of an onnx.TensorProto, read without onnx."""
    dims, name, position = [], "", 0

    def varint() -> int:
        nonlocal position
        value = shift = 0
        while True:
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value
    while position < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
            if field == 1:
                dims.append(value)
        elif wire == 2:
            length = varint()
            chunk, end = data[position:position + length], position + length
            if field == 1:  # packed dims
                while position < end:
                    dims.append(varint())
            elif field == 8:
                name = chunk.decode(errors="replace")
            position = end
        else:
            position += {1: 8, 5: 4}.get(wire, len(data))
    return name, dims


# -- ncnn benchncnn and MNN benchmark.out: need the ncnn / mnn engines on the host --------------
def _engine_available(name: str) -> bool:
    from harness.engines import REGISTRY, get_engine

    return name in REGISTRY and get_engine(name).version() is not None


def _benchncnn(shell, argv, io) -> int:
    numbers = [int(a) if a.lstrip("-").isdigit() else 0 for a in argv[1:6]]
    loop, threads, powersave, gpu, cooldown = (numbers + [4, 1, 2, -1, 1][len(numbers):])[:5]
    keys = dict(a.split("=", 1) for a in argv[6:] if "=" in a)
    param = keys.get("param")
    if param and "shape" not in keys:
        _say(io, "input tensor shape empty!", err=True)
        return 255
    for line in (f"loop_count = {loop}", f"num_threads = {threads}", f"powersave = {powersave}",
                 f"gpu_device = {gpu}", f"cooling_down = {int(cooldown != 0)}"):
        _say(io, line, err=True)
    if not param:
        _say(io, "virtual device: benchncnn's built-in model list needs param=... here", err=True)
        return 1
    _, host = _device_file(shell, param)
    if host is None:
        _say(io, f"fopen {param} failed", err=True)  # ncnn Net::load_param
        return 1
    if not _engine_available("ncnn"):
        _say(io, "virtual device: no ncnn engine on the host to run this model", err=True)
        return 1
    if cooldown:
        shell.wait(10)  # benchncnn sleeps 10 s before each model to cool the SoC down
    # benchncnn's shape=[w,h,c],... is per input in ncnn's w,h,c order: NCHW is (1, c, h, w)
    shapes = [[1] + [int(d) for d in reversed(dims.split(","))]
              for dims in re.findall(r"\[([\d,]+)\]", keys["shape"])]
    result = measure(shell, io, {"engine": "ncnn", "model_path": str(host), "threads": threads,
                                 "positional_shapes": shapes,
                                 "phases": [[10 if gpu >= 0 else 8, 0.0], [loop, 0.0]]})
    if "error" in result:
        _say(io, f"{result['error']['type']}: {result['error']['message']}", err=True)
        return 1
    ms = [s / 1e6 for s in result["phases"][1]]
    _say(io, f"{param:>20}  min = {min(ms):7.2f}  max = {max(ms):7.2f}  avg = {sum(ms) / len(ms):7.2f}",
         err=True)
    return 0


def _mnn_benchmark(shell, argv, io) -> int:
    _say(io, "MNN benchmark")
    if len(argv) <= 2:
        _say(io, f"Usage: {argv[0]} models_folder [loop_count] [warmup] [forwardtype] "
                 f"[numberThread] [precision] [weightSparsity] [testQuantizedModel]")
        return 1
    ints = [int(a) if a.lstrip("-").isdigit() else 0 for a in argv[2:7]]
    loop, warmup, forward, threads, precision = (ints + [10, 10, 0, 4, 2][len(ints):])[:5]
    kind = {0: "CPU", 1: "Metal", 3: "OpenCL", 6: "OpenGL", 7: "Vulkan"}.get(forward, "N/A")
    _say(io, f"Forward type: **{kind}** thread={threads}** precision={precision}** sparsity=0** "
             f"sparseBlockOC=1")
    _say(io, f"--------> Benchmarking... loop = {argv[2]}, warmup = {warmup}")
    folder = shell.fs.normalize(argv[1], shell.cwd)
    try:
        models = [n for n in shell.fs.listdir(folder) if n.endswith(".mnn")]
    except OSError:
        models = []
    if not models:
        _say(io, f"virtual device: no .mnn model in {argv[1]}", err=True)
        return 1
    if forward != 0 or not _engine_available("mnn"):
        _say(io, "virtual device: no MNN engine (CPU) on the host to run these models", err=True)
        return 1
    for name in models:
        host = shell.fs.host_path(shell.fs.normalize(name, folder))
        result = measure(shell, io, {"engine": "mnn", "model_path": str(host), "threads": threads,
                                     "phases": [[warmup, 0.0], [loop, 0.0]]})
        if "error" in result:
            _say(io, f"{result['error']['type']}: {result['error']['message']}", err=True)
            return 1
        ms = [s / 1e6 for s in result["phases"][1]]
        _say(io, f"[ - ] {name:<27} max = {max(ms):8.3f} ms  min = {min(ms):8.3f} ms  "
                 f"avg = {sum(ms) / len(ms):8.3f} ms")
    return 0

