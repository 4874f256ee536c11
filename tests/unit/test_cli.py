"""The command line: one JSON object out, one clear line on bad input, no tracebacks."""
import json
import subprocess
import sys

from tests.conftest import REPO


def cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_parse_prints_one_json_object(device_data):
    proc = cli("parse", "--tool", "battery",
               str(device_data / "battery" / "dumpsys_battery_pixel_c_dragon_syzkaller79.txt"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["level"] == 19 and data["temperature_c"] == 27.5


def test_parse_guesses_the_tool_and_reads_stdin(device_data):
    text = (device_data / "benchncnn" / "kirin970.txt").read_text()
    proc = cli("parse", "-", stdin=text)
    assert proc.returncode == 0 and "models" in json.loads(proc.stdout)


def test_parse_bad_input_is_one_line(tmp_path):
    unknown = cli("parse", "--tool", "nvidia-smi", __file__)
    assert unknown.returncode == 2 and "getprop" in unknown.stderr and "Traceback" not in unknown.stderr
    missing = cli("parse", "--tool", "getprop", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_parse_takes_the_tools_own_names_and_says_why_there_is_no_result(device_data):
    ncnn = str(device_data / "benchncnn" / "kirin970.txt")
    tflite = device_data / "tflite_benchmark_model" / "android_cpu_espcn_op_profiling_issue42507.txt"
    from harness.engines.tools import TOOL_SPECS

    for spec in TOOL_SPECS.values():  # the names `python -m harness tools list` shows
        capture = {"benchncnn": ncnn, "benchmark_model": str(tflite)}.get(spec.file)
        if capture:
            by_file, by_parser = cli("parse", "--tool", spec.file, capture), \
                cli("parse", "--tool", spec.parser, capture)
            assert by_file.returncode == 0 and by_file.stdout == by_parser.stdout
    wrong = cli("parse", "--tool", "benchmark_model", ncnn)
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert "is not benchmark_model output" in wrong.stderr and "Traceback" not in wrong.stderr
    text = tflite.read_text()
    cut = cli("parse", "--tool", "benchmark_model", "-", stdin=text[:text.index("Inference timings")])
    assert cut.returncode == 1 and json.loads(cut.stdout)["error_kind"] == "cut_short"
    assert "cut short" in cut.stderr and "not benchmark_model" not in cut.stderr
    failed = cli("parse", str(device_data / "tflite_benchmark_model" /
                              "snapdragon888_xiaomi_mi11_yolov5s_int8_nnapi_qti_default_FAILED.txt"))
    assert failed.returncode == 1 and "failed before reporting timings" in failed.stderr


def test_devices_json_lists_the_host():
    proc = cli("devices", "--json")
    assert proc.returncode == 0, proc.stderr
    devices = json.loads(proc.stdout)["devices"]
    host = [d for d in devices if d["id"] == "host"]
    assert host and host[0]["profile"]["kind"] == "host"


def test_models_list_and_unknown_model():
    listed = cli("models", "list")
    assert listed.returncode == 0 and "ppocr_cls" in listed.stdout
    bad = cli("models", "fetch", "--model", "resnet9000")
    assert bad.returncode == 2 and "unknown model 'resnet9000'; valid: ppocr_cls" in bad.stderr


def test_report_of_a_non_run_dir(tmp_path):
    proc = cli("report", str(tmp_path))
    assert proc.returncode == 2 and "has no results.jsonl" in proc.stderr


def test_devices_takes_the_same_adb_options_as_pytest():
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("devices", "--json", "--no-probe", "--adb-server", f"127.0.0.1:{port}")
    assert result.returncode == 0, result.stderr
    notes = json.loads(result.stdout)["notes"]
    assert any(f"no adb server on 127.0.0.1:{port}" in note for note in notes), notes
    bad = cli("devices", "--adb-server", "nonsense")
    assert bad.returncode == 2 and "'nonsense' is not HOST:PORT" in bad.stderr
