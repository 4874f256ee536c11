"""run_with_tool without adb: command lines, honest statistics and failure classes, driven by
real captured tool outputs (../shared/device-data) through a scripted device."""
from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest
from android_elf_factory import make_elf

from harness.devices.base import DeviceInfo, ExecResult
from harness.engines.base import RunSettings
from harness.engines.device_tools import run_with_tool
from harness.engines.tool_cli import ncnn_shape, onnxruntime_argv, tflite_argv
from harness.errors import InfraError, MeasurementError, ToolTimeout, Unsupported
from harness.results.schema import is_timeout
from harness.models.manifest import InputSpec, ModelSpec
from harness.engines.tools import ToolCache
from harness.models.variants import Artifact

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "device-data"
WEIRD = "we ird 'name';rm -rf x.tflite"


def _capture(relative: str) -> str:
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} missing (captures live in ../shared/device-data)")
    return path.read_text()


class ScriptedDevice:
    """Records pushes and commands; answers the tool run with a captured output."""

    def __init__(self, abis, output="", rc=0, virtual=False, page_size=4096):
        self.info = DeviceInfo(id="SERIAL1", kind="android", serial="SERIAL1", virtual=virtual)
        self._profile = {"abis": abis, "page_size": page_size, "virtual": virtual}
        self.output, self.rc = output, rc
        self.pushed: list[str] = []
        self.runs: list[tuple[list[str], dict]] = []
        self.push_stats = {"pushed_bytes": 0, "skipped_bytes": 0}

    def profile(self):
        return dict(self._profile)

    def push(self, local, remote_dir):
        self.pushed.append(f"{remote_dir}/{Path(local).name}")
        self.push_stats = {**self.push_stats,
                           "pushed_bytes": self.push_stats["pushed_bytes"] + Path(local).stat().st_size}
        return self.pushed[-1]

    def exec(self, argv, timeout):
        return ExecResult(0, "", "", 0.0)

    def run_tool(self, argv, timeout, cwd=None, env=None):
        self.runs.append((argv, {"cwd": cwd, "env": env, "timeout": timeout}))
        return ExecResult(self.rc, self.output, "", 0.1)


class Engine:
    def __init__(self, name):
        self.name = name

    def version(self):
        return "1.0"


@pytest.fixture
def tools(tmp_path) -> ToolCache:
    cache = ToolCache(tmp_path / "tools")
    for abi, aligns in (("arm64-v8a", (0x1000,)), ("armeabi-v7a", (0x4000,))):
        for engine in ("tflite", "onnxruntime"):
            binary = tmp_path / f"{engine}-{abi}"
            binary.write_bytes(make_elf(abi, aligns=aligns))
            cache.add(engine, abi, binary)
    return cache


def _artifact(tmp_path, name=f"{WEIRD}", fmt="tflite") -> Artifact:
    path = tmp_path / name
    path.write_bytes(b"model-bytes")
    return Artifact("m", "fp32", fmt, path, "c0ffee" * 10 + "abcd", 11)


SPEC = ModelSpec("m", "tflite", input=InputSpec())
SETTINGS = RunSettings(warmup=2, iterations=7, threads=2, timeout_s=90)


def test_tflite_run_is_summary_only_with_the_tools_own_statistics(tmp_path, tools):
    output = _capture("tflite_benchmark_model/snapdragon888_xiaomi_mi11_yolov5s_fp32_cpu_4threads.txt")
    device = ScriptedDevice(["arm64-v8a", "armeabi-v7a"], output)
    raw = run_with_tool(device, Engine("tflite"), _artifact(tmp_path), SPEC, SETTINGS, tools)
    assert raw.samples_ms == (249.684,)  # the one mean printed: no invented samples
    assert raw.extra["summary_only"] is True
    assert raw.extra["tool_stats"] == {"n": 50, "mean_ms": 249.684, "min_ms": 247.067,
                                       "max_ms": 254.474, "std_ms": 1.442,
                                       "warmup_mean_ms": 304.586}
    assert raw.peak_rss_mb == 138.809 and raw.load_ms == 16.242 and raw.first_ms == 360.262
    assert raw.extra["abi"] == "arm64-v8a" and raw.extra["device_abis"] == ["arm64-v8a", "armeabi-v7a"]
    argv, options = device.runs[0]
    assert argv[0] == "/data/local/tmp/edgelab/tools/tflite/arm64-v8a/benchmark_model"
    assert argv[1:] == [f"--graph=/data/local/tmp/edgelab/models/{'c0ffee' * 2}c0ff/{WEIRD}",
                        "--num_threads=2", "--num_runs=7", "--warmup_runs=2", "--min_secs=0",
                        "--warmup_min_secs=0"]
    assert options["timeout"] == 90 and options["env"] is None
    assert shlex.split(raw.extra["command"]) == argv
    # the arm64 tool is aligned to 4 KB: fine here, flagged on a 16 KB-page phone
    assert "page_size_warning" not in raw.extra
    device16k = ScriptedDevice(["arm64-v8a"], output, page_size=16384)
    raw16k = run_with_tool(device16k, Engine("tflite"), _artifact(tmp_path), SPEC, SETTINGS, tools)
    assert "PT_LOAD alignment 4096 < device page size 16384" in raw16k.extra["page_size_warning"]


def test_onnxruntime_percentiles_and_peak_working_set(tmp_path, tools):
    output = _capture("onnxruntime_perf_test/riscv64_spacemit_k1_yolov8n_spacemit_ep_percentiles.txt")
    device = ScriptedDevice(["armeabi-v7a", "armeabi"], output)
    artifact = _artifact(tmp_path, "m.onnx", "onnx")
    raw = run_with_tool(device, Engine("onnxruntime"), artifact, ModelSpec("m", "onnx"), SETTINGS,
                        tools)
    assert raw.extra["abi"] == "armeabi-v7a"
    assert raw.extra["tool_stats"]["median_ms"] == 82.6095 and raw.samples_ms == (82.3382,)
    assert raw.peak_rss_mb == pytest.approx(75.289, abs=0.01)
    argv = device.runs[0][0]
    assert argv[1:9] == ["-e", "cpu", "-m", "times", "-r", "7", "-x", "2"]


def test_the_devices_vmhwm_reading_wins_and_the_tools_own_figure_is_kept(tmp_path, tools):
    output = _capture("tflite_benchmark_model/snapdragon888_xiaomi_mi11_yolov5s_fp32_cpu_4threads.txt")
    marker = "\nEDGELAB_VMHWM_KB=150000 prev_kb=150000 pid=4321 read_at_s=9.80 ended_by_s=10.00\n"
    raw = run_with_tool(ScriptedDevice(["arm64-v8a"], output + marker), Engine("tflite"),
                        _artifact(tmp_path), SPEC, SETTINGS, tools)
    assert raw.peak_rss_mb == pytest.approx(146.484, abs=0.001)
    assert raw.memory == {"source": "VmHWM of benchmark_model pid 4321 on the device",
                          "tool_reported_mb": 138.809, "vmhwm_read_before_exit_s": 0.2}
    assert "EDGELAB_VMHWM_KB" not in raw.log and raw.extra["tool_stats"]["n"] == 50
    # without the device's reading (a device that did not run the watcher): the tool's, said so
    plain = run_with_tool(ScriptedDevice(["arm64-v8a"], output), Engine("tflite"),
                          _artifact(tmp_path), SPEC, SETTINGS, tools)
    assert plain.peak_rss_mb == 138.809 and plain.memory["source"] == "reported by benchmark_model itself"


def test_armv7_only_phone_and_arm64_only_tool_is_unsupported(tmp_path, tools):
    tools.remove("tflite", "armeabi-v7a")
    device = ScriptedDevice(["armeabi-v7a", "armeabi"])
    with pytest.raises(Unsupported, match=r"ARMv7-only device \(abis armeabi-v7a, armeabi\); "
                                          r"registered tflite tools: arm64-v8a"):
        run_with_tool(device, Engine("tflite"), _artifact(tmp_path), SPEC, SETTINGS, tools)
    assert device.pushed == []  # decided before anything was copied


@pytest.mark.parametrize("capture, rc, error, match", [
    ("adb/not_executable_64bit_elf_on_armv7l_phone_docker_for_android9.txt", 1, Unsupported,
     "cannot run on this"),
    ("adb/cannot_link_executable_libcxx_shared_termux_nubasic4.txt", 1, Unsupported,
     "needs libc\\+\\+_shared.so"),
])
def test_tool_failures_from_real_captures(tmp_path, tools, capture, rc, error, match):
    device = ScriptedDevice(["arm64-v8a"], _capture(capture), rc=rc)
    with pytest.raises(error, match=match):
        run_with_tool(device, Engine("tflite"), _artifact(tmp_path), SPEC, SETTINGS, tools)


@pytest.mark.parametrize("output, rc, error", [
    ("write: No space left on device\n", 1, InfraError),
    ("ERROR: Didn't find op for builtin opcode 'CONV_2D'\nBenchmarking failed.\n", 1,
     MeasurementError),
    ("STARTING!\nLoaded model x\n", 0, MeasurementError),  # rc 0 but no timings
])
def test_failure_classes(tmp_path, tools, output, rc, error):
    device = ScriptedDevice(["arm64-v8a"], output, rc=rc)
    with pytest.raises(error):
        run_with_tool(device, Engine("tflite"), _artifact(tmp_path), SPEC, SETTINGS, tools)


@pytest.mark.parametrize("rc", [124, 137])
def test_a_tool_killed_by_the_device_timeout_is_failed_timeout_not_infra(tmp_path, tools, rc):
    # 124: the tool died of timeout's TERM; 137: it ignored TERM and the KILL 2 s later ended it
    settings = dataclasses.replace(SETTINGS, timeout_s=0.0)  # the limit has passed at once
    device = ScriptedDevice(["arm64-v8a"], "", rc=rc)
    with pytest.raises(ToolTimeout) as info:
        run_with_tool(device, Engine("tflite"), _artifact(tmp_path), SPEC, settings, tools)
    assert isinstance(info.value, MeasurementError) and not isinstance(info.value, InfraError)
    assert str(info.value) == (f"timeout: benchmark_model did not finish within 0 s; killed on "
                               f"the device (rc {rc})")
    assert is_timeout("failed", str(info.value))


def test_a_kill_before_the_limit_is_not_a_timeout(tmp_path, tools):
    # 137 long before the limit: the low-memory killer or a person, not the device's `timeout`
    device = ScriptedDevice(["arm64-v8a"], "Killed\n", rc=137)
    with pytest.raises(MeasurementError) as info:
        run_with_tool(device, Engine("tflite"), _artifact(tmp_path), SPEC, SETTINGS, tools)
    assert not isinstance(info.value, ToolTimeout) and "exited with status 137" in str(info.value)


def test_argv_builders():
    settings = RunSettings(warmup=1, iterations=5, threads=1, min_time_s=0.5)
    argv = tflite_argv("bm", "/m.tflite", settings, [("input_1", (1, 192, 192, 3))])
    assert argv[-2:] == ["--input_layer=input_1", "--input_layer_shape=1,192,192,3"]
    assert "--min_secs=0.5" in argv
    argv = onnxruntime_argv("pt", "/m.onnx", settings, [("edgelab_dim_2", 48), ("w", 192)])
    assert argv[-5:] == ["-f", "edgelab_dim_2:48", "-f", "w:192", "/m.onnx"] and "-I" in argv
    assert ncnn_shape((1, 3, 48, 192)) == (192, 48, 3)


def test_unnamed_dynamic_onnx_dims_are_named_for_perf_test(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from harness.engines.tool_cli import onnx_free_dims

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [-1, 3, "?", "?"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(model))
    pairs, renamed = onnx_free_dims(model, InputSpec(shape=(1, 3, 48, 192)), tmp_path / "derived")
    assert pairs == [("edgelab_dim_0", 1), ("edgelab_dim_2", 48), ("edgelab_dim_3", 192)]
    dims = onnx.load(str(renamed)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["edgelab_dim_0", 3, "edgelab_dim_2",
                                                          "edgelab_dim_3"]
    assert model.read_bytes() != renamed.read_bytes()  # the user's file is left alone
    named = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                                  [named], [y])), str(model))
    pairs, renamed = onnx_free_dims(model, InputSpec(shape=(1, 3, 48, 192)), tmp_path / "d2")
    assert pairs == [("batch", 1), ("h", 48), ("w", 192)] and renamed is None


def test_given_and_guessed_shapes_reach_the_tool_command_lines(tmp_path, model_files):
    """--input-shape by input name, else the guess host runs make (perf_test would use 1)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from harness.engines.tool_cli import ncnn_input_shape, onnx_free_dims, tflite_inputs

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                                  [x], [y])), str(model))
    given = InputSpec(shapes=(("x", (1, 3, 48, 192)),))
    assert onnx_free_dims(model, given, tmp_path)[0] == [("batch", 1), ("h", 48), ("w", 192)]
    assert onnx_free_dims(model, InputSpec(), tmp_path)[0] == [("batch", 1), ("h", 224), ("w", 224)]
    # LiteRT benchmark_model: --input_layer_shape for the named input
    face = InputSpec(layout="NHWC", shapes=(("input_1", (1, 192, 192, 3)),))
    assert tflite_inputs(model_files["face_landmark"], face) == [("input_1", (1, 192, 192, 3))]
    assert tflite_inputs(model_files["face_landmark"], InputSpec(layout="NHWC")) == []  # all fixed
    # benchncnn: shape= for the source input the .param's first input came from
    param = tmp_path / "m.param"
    (tmp_path / "m.inputs.json").write_text(
        '{"layout": "NCHW", "inputs": [{"name": "in0", "onnx_name": "x", "shape": [1, 3, 32, 32]}]}')
    assert ncnn_input_shape(param, InputSpec()) == (1, 3, 32, 32)  # as the build converted it
    assert ncnn_input_shape(param, given) == (1, 3, 48, 192)


def test_phone_records_say_when_the_tools_shape_was_guessed(tmp_path, tools, model_files,
                                                           monkeypatch):
    monkeypatch.setenv("EDGELAB_CACHE", str(tmp_path / "cache"))  # the renamed-dims copy goes here
    output = _capture("onnxruntime_perf_test/android_arm_acl_ep_squeezenet_computelibrary_issue850.txt")
    device = ScriptedDevice(["arm64-v8a"], output)
    artifact = Artifact("ppocr_cls", "fp32", "onnx", model_files["ppocr_cls"], "ab" * 32,
                        model_files["ppocr_cls"].stat().st_size)
    spec = ModelSpec(name="ppocr_cls", format="onnx")
    raw = run_with_tool(device, Engine("onnxruntime"), artifact, spec, SETTINGS, tools)
    assert raw.extra["input_shape_guessed"] == {"x": [1, 3, 224, 224]}
    assert "-f edgelab_dim_2:224" in " ".join(device.runs[0][0])
    shaped = ModelSpec(name="ppocr_cls", format="onnx",
                       input=InputSpec(shapes=(("x", (1, 3, 48, 192)),)))
    raw = run_with_tool(device, Engine("onnxruntime"), artifact, shaped, SETTINGS, tools)
    assert "input_shape_guessed" not in raw.extra
    assert "-f edgelab_dim_2:48 -f edgelab_dim_3:192" in " ".join(device.runs[1][0])
