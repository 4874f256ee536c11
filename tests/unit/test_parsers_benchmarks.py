"""Hand-written variations of benchmark tool output, as each tool's source prints it.

Covers spacing, logcat / level prefixes, CRLF, scientific notation, several
runs per text, cut-off and failed runs for tflite benchmark_model, benchncnn,
MNN benchmark.out and onnxruntime_perf_test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.parsers import benchncnn, mnn_benchmark, onnxruntime_perf_test
from harness.parsers import tflite_benchmark_model as tflite

# --------------------------------------------------------------- tflite
TFLITE_NEW = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/mobilenet_v2.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Use gpu: [1]
INFO: Loaded model /data/local/tmp/mobilenet_v2.tflite
INFO: Created TensorFlow Lite delegate for GPU.
INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.
INFO: The input model file size (MB): 13.9786
INFO: Initialized session in 1361.24ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=5 first=125113 curr=112537 min=111758 max=125113 avg=115344 std=4959 p5=111758 median=112912 p95=125113

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=119614 curr=115889 min=111842 max=119614 avg=115246 std=1329 p5=112107 median=115350 p95=116620

INFO: Inference timings in us: Init: 1361240, First inference: 125113, Warmup (avg): 115344, Inference (avg): 115246
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=42.1211 overall=61.9453
INFO: Overall peak memory footprint (MB) via periodic monitoring: 75.7617
"""


def test_tflite_newer_format_with_percentiles_and_peak_monitoring():
    result = tflite.parse(TFLITE_NEW)
    assert result["ok"] is True
    assert result["avg_us"] == pytest.approx(115246)
    assert (result["count"], result["warmup_count"]) == (50, 5)
    assert result["median_us"] == pytest.approx(115350)
    assert result["p95_us"] == pytest.approx(116620)
    assert result["peak_memory_mb"] == pytest.approx(75.7617)  # periodic monitoring wins
    assert result["footprint_overall_mb"] == pytest.approx(61.9453)
    assert (result["delegate"], result["fully_delegated"], result["num_threads"]) == ("gpu", True, 4)
    assert result["model"] == "/data/local/tmp/mobilenet_v2.tflite"
    assert result["init_session_ms"] == pytest.approx(1361.24)


def test_tflite_memory_delta_wording_without_monitoring():
    text = TFLITE_NEW.replace("INFO: Overall peak memory footprint (MB) via periodic monitoring: 75.7617\n", "")
    assert tflite.parse(text)["peak_memory_mb"] == pytest.approx(61.9453)


def test_tflite_brief_logcat_prefix_and_crlf():
    text = "".join(f"I/tflite  ( 1234): {line}\r\n" for line in TFLITE_NEW.splitlines())
    result = tflite.parse(text)
    assert result["ok"] and result["avg_us"] == pytest.approx(115246)
    assert result["min_us"] == pytest.approx(111842)


def test_tflite_scientific_notation_and_all_same_run():
    text = ("count=1 curr=3.02496e+07\n\n"
            "count=3 curr=3.1e+07(all same)\n\n"
            "Inference timings in us: Init: 512, First inference: 30249600, "
            "Warmup (avg): 3.02496e+07, Inference (avg): 3.1e+07\n")
    result = tflite.parse(text)
    assert result["warmup_us"] == pytest.approx(30249600.0)
    assert result["avg_us"] == pytest.approx(31000000.0)
    assert (result["count"], result["min_us"], result["std_us"]) == (3, pytest.approx(3.1e7), 0.0)


def test_tflite_oldest_average_timings_line():
    text = ("count=50 first=900 curr=850 min=800 max=950 avg=860.5 std=20\n"
            "Average inference timings in us: Warmup: 910.5, Init: 2500, no stats: 860.5\n")
    result = tflite.parse(text)
    assert result["ok"] and result["avg_us"] == pytest.approx(860.5)
    assert result["warmup_us"] == pytest.approx(910.5) and result["first_us"] is None


def test_tflite_several_runs_reports_the_last_complete_one():
    second = TFLITE_NEW.replace("115246", "99999")
    failed = "INFO: STARTING!\nINFO: Use NNAPI: [1]\nERROR: Failed to apply NNAPI delegate.\nBenchmarking failed.\n"
    result = tflite.parse(TFLITE_NEW + second + failed)
    assert result["ok"] and result["avg_us"] == pytest.approx(99999)
    assert result["runs"] == 3


def test_tflite_failed_run_reports_the_cause():
    text = ("STARTING!\nUse NNAPI: [1]\nLoaded model /data/local/tmp/m.tflite\n"
            "ERROR: Node number 3 (TfLiteNnapiDelegate) failed to prepare.\n"
            "Failed to apply NNAPI delegate.\nBenchmarking failed.\n")
    result = tflite.parse(text)
    assert result["ok"] is False and result["avg_us"] is None and result["count"] is None
    assert result["delegate"] == "nnapi" and result["benchmark_failed"] is True
    assert "Failed to apply NNAPI delegate." in result["error"]


def test_tflite_cut_before_timings_is_not_ok():
    cut = TFLITE_NEW.split("INFO: Inference timings")[0]
    result = tflite.parse(cut)
    assert result["ok"] is False
    assert "truncated" in result["error"]


def test_tflite_warn_level_file_size_message_is_not_an_error():
    result = tflite.parse("WARN: Failed to get the input model file size.\n" + TFLITE_NEW)
    assert result["errors"] == []


# ------------------------------------------------------------ benchncnn
NCNN_RUN = """\
loop_count = 8
num_threads = 4
powersave = 2
gpu_device = -1
cooling_down = 0
          squeezenet  min =    8.44  max =    8.51  avg =    8.47
         yolov4-tiny  min =   44.94  max =   45.46  avg =   45.22
    yolo-fastest-1.1  min =    3.84  max =    3.93  avg =    3.89
"""


def test_benchncnn_single_run_header_and_names_with_dashes():
    result = benchncnn.parse(NCNN_RUN)
    assert (result["loop_count"], result["num_threads"], result["powersave"]) == (8, 4, 2)
    assert (result["gpu_device"], result["cooling_down"], result["runs"]) == (-1, 0, 1)
    assert result["models"]["yolo-fastest-1.1"] == {"min_ms": 3.84, "max_ms": 3.93, "avg_ms": 3.89}


def test_benchncnn_later_run_overrides_and_keeps_earlier_only_models():
    second = ("[0 Adreno (TM) 740]  queueC=0[3]  queueG=0[3]  queueT=0[3]\n"
              "loop_count = 4\nnum_threads = 1\npowersave = 0\ngpu_device = 0\ncooling_down = 1\n"
              "          squeezenet  min =    2.00  max =    2.50  avg =    2.20\n")
    result = benchncnn.parse(NCNN_RUN + second)
    assert (result["loop_count"], result["gpu_device"], result["runs"]) == (4, 0, 2)
    assert result["gpu_name"] == "Adreno (TM) 740"
    assert result["models"]["squeezenet"]["avg_ms"] == pytest.approx(2.2)
    assert result["models"]["yolov4-tiny"]["avg_ms"] == pytest.approx(45.22)


def test_benchncnn_logcat_prefix_crlf_and_option_compare_lines():
    text = "".join(f"05-30 15:16:44.857  3380  3380 I ncnn    : {line}\r\n" for line in NCNN_RUN.splitlines())
    text += "         mobilenet_v2 gpu min =    3.10  max =    3.50  avg =    3.20  user =    1.00  sys =    0.50\r\n"
    result = benchncnn.parse(text)
    assert result["models"]["squeezenet"]["min_ms"] == pytest.approx(8.44)
    assert result["models"]["mobilenet_v2"] == {"min_ms": 3.1, "max_ms": 3.5, "avg_ms": 3.2,
                                                "backend": "gpu", "user_ms": 1.0, "sys_ms": 0.5}


def test_benchncnn_cut_after_header_reports_error():
    result = benchncnn.parse(NCNN_RUN.split("          squeezenet")[0])
    assert result["models"] == {} and result["loop_count"] == 8
    assert "no model finished" in result["error"]


# ---------------------------------------------------------------- MNN
def test_mnn_newer_format_without_stars_and_with_space_before_ms():
    text = ("MNN benchmark\n"
            "Forward type: OpenCL thread=4 precision=2 sparsity=0 sparseBlockOC=1 testQuantizedModel=0\n"
            "--------> Benchmarking... loop = 10, warmup = 5\n"
            "[-INFO-]: precision=2, use fp16 inference if your device supports and open MNN_ARM82=ON.\n"
            "[ - ] mobilenet-v1-1.0.mnn        max =   28.616 ms  min =   28.278 ms  avg =   28.426 ms\n"
            "[ - ] quant-mobilenet-v1-1.0.mnn  max =   12.000 ms  min =   10.000 ms  avg =   11.000 ms\n")
    result = mnn_benchmark.parse(text)
    assert (result["forward_type"], result["threads"], result["precision"]) == ("OpenCL", 4, 2)
    assert (result["loop_count"], result["warmup"]) == (10, 5)
    assert result["models"]["mobilenet-v1-1.0.mnn"] == {"min_ms": 28.278, "max_ms": 28.616, "avg_ms": 28.426}
    assert "quant-mobilenet-v1-1.0.mnn" in result["models"]


def test_mnn_threads_key_only_when_printed_and_mnn_prefix():
    text = ("MNN: Forward type: **CPU**\r\n"
            "MNN: [ - ] vgg16.mnn    max =  499.545ms  min =  410.570ms  avg =  445.868ms\r\n")
    result = mnn_benchmark.parse(text)
    assert result["forward_type"] == "CPU" and "threads" not in result
    assert result["models"]["vgg16.mnn"]["avg_ms"] == pytest.approx(445.868)


def test_mnn_no_results_is_an_error():
    assert "error" in mnn_benchmark.parse("Forward type: **Vulkan** thread=4\n--------> Benchmarking... loop = 10\n")


# --------------------------------------------------------- onnxruntime
ORT_NEW = """\
Session creation time cost: 0.0357 s
First inference time cost: 12 ms
Total inference time cost: 3.02496e+01 s
Total inference requests: 1000
Average inference time cost: 30.2496 ms
Total inference run time: 30.3 s
Number of inferences per second: 33.0
Avg CPU usage: 97 %
Peak working set size: 1,234,567 bytes
Min Latency: 0.028 s
Max Latency: 0.041 s
P50 Latency: 0.030 s
P90 Latency: 0.032 s
P95 Latency: 0.033 s
P99 Latency: 0.037 s
P999 Latency: 0.040 s
"""


def test_ort_current_format_with_sci_notation_and_grouped_bytes():
    result = onnxruntime_perf_test.parse(ORT_NEW)
    assert result["avg_ms"] == pytest.approx(30.2496)
    assert result["total_time_s"] == pytest.approx(30.2496)
    assert result["requests"] == 1000
    assert result["peak_working_set_bytes"] == 1234567
    assert result["p999_ms"] == pytest.approx(40.0)
    assert (result["min_ms"], result["max_ms"]) == (pytest.approx(28.0), pytest.approx(41.0))


def test_ort_recent_total_wording_and_annotated_values():
    text = ("Average inference time cost total: 98.961997 ms\nTotal inference requests: 5\n"
            "Min Latency: 0.0422596 s (42.26 ms)\nP50 Latency: 0.134472 s (134.47 ms)\n"
            "Peak working set size: 431194112 bytes (411.32 MB)\nTotal CPU usage: 382 %\n")
    result = onnxruntime_perf_test.parse(text)
    assert result["avg_ms"] == pytest.approx(98.961997)
    assert (result["min_ms"], result["p50_ms"]) == (pytest.approx(42.2596), pytest.approx(134.472))
    assert result["peak_working_set_bytes"] == 431194112
    assert result["total_cpu_usage_pct"] == 382.0 and result["cpu_usage_pct"] is None


def test_ort_several_runs_reports_the_last_and_crlf():
    second = ORT_NEW.replace("30.2496 ms", "20.5 ms")
    result = onnxruntime_perf_test.parse((ORT_NEW + second).replace("\n", "\r\n"))
    assert result["avg_ms"] == pytest.approx(20.5) and result["runs"] == 2


def test_ort_failed_run_has_error_and_null_latencies():
    text = "Session creation time cost: 0.1 s\nException during initialization: Load model failed\n"
    result = onnxruntime_perf_test.parse(text)
    assert result["avg_ms"] is None and result["p50_ms"] is None
    assert "Load model failed" in result["error"]


# ------------------------------------- "not this tool" vs "cut short" vs "failed"
DEVICE_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "device-data"
# tool -> (a real capture of it, the line its summary starts with)
CAPTURES = {
    tflite: ("tflite_benchmark_model/android_cpu_espcn_op_profiling_issue42507.txt",
             "Inference timings in us"),
    benchncnn: ("benchncnn/kirin970.txt", "          squeezenet  min"),
    mnn_benchmark: ("mnn_benchmark/kirin960_huawei_p10_20190218_cpu.txt", "[ - ]"),
    onnxruntime_perf_test: ("onnxruntime_perf_test/android_arm_acl_ep_squeezenet_computelibrary_issue850.txt",
                            "Average inference time cost"),
}
MODULES = list(CAPTURES)


def _capture(module) -> tuple[str, str]:
    relpath, summary = CAPTURES[module]
    return (DEVICE_DATA / relpath).read_text(encoding="utf-8"), summary


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_real_output_cut_before_its_summary_is_cut_short(module):
    text, summary = _capture(module)
    result = module.parse(text[:text.index(summary)])
    assert result["error_kind"] == "cut_short", result["error"]
    assert "cut short" in result["error"] and "not " not in result["error"][:4]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_other_tools_output_and_prose_are_not_this_tools_output(module):
    others = [m for m in MODULES if m is not module]
    for other in others:
        result = module.parse(_capture(other)[0])
        assert result.get("error_kind") == "not_tool_output", (other.__name__, result.get("error"))
        assert result["error"].startswith("not ")
    prose = "Hello,\nthis is a README: it has words, a failed attempt and 3 numbers = 1 2 3.\n"
    assert module.parse(prose)["error_kind"] == "not_tool_output"


def test_failed_runs_say_so_distinctly():
    failed = (DEVICE_DATA / "tflite_benchmark_model" /
              "snapdragon888_xiaomi_mi11_yolov5s_int8_nnapi_qti_default_FAILED.txt").read_text()
    assert tflite.parse(failed)["error_kind"] == "run_failed"
    ort = onnxruntime_perf_test.parse("Setting intra_op_num_threads to 1\n"
                                      "Run failed:Load model from m.onnx failed: Protobuf parsing failed.\n")
    assert ort["error_kind"] == "run_failed" and "Protobuf parsing failed" in ort["error"]
    ncnn = benchncnn.parse(NCNN_RUN.split("          squeezenet")[0] + "fopen m.param failed\n"
                           "network graph not ready\n")
    assert ncnn["error_kind"] == "run_failed" and "network graph not ready" in ncnn["error"]
    mnn = mnn_benchmark.parse("MNN benchmark\nForward type: **CPU** thread=4** precision=2\n"
                              "open /data/local/tmp/none failed: No such file or directory\n"
                              "--------> Benchmarking... loop = 10, warmup = 10\n")
    assert mnn["error_kind"] == "run_failed" and "No such file" in mnn["error"]


def test_every_device_tool_file_name_is_a_parser_name():
    from harness import parsers
    from harness.engines.tools import TOOL_SPECS

    for spec in TOOL_SPECS.values():
        assert parsers.ALIASES.get(spec.file, spec.file) == spec.parser, spec.file
        assert parsers.parse(spec.file, "") == parsers.parse(spec.parser, "")
