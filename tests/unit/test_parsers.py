"""Parsers against the real captures in ../shared/device-data, plus the front door.

Every entry of expected.json is compared key by key (``note`` and ``kind``
are documentation); floats compare with pytest.approx.  Tool-specific
variations (spacing, prefixes, CRLF, truncation, ...) live in the
``test_parsers_*`` modules beside this one.
"""

from __future__ import annotations

import importlib
import json
import random
from pathlib import Path

import pytest

from harness import parsers

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "device-data"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8")) if DATA.is_dir() else {}
# expected.json "kind" -> parser name, where they differ.
KIND_TO_TOOL = {"ios": "ios_info"}
IGNORED_KEYS = {"note", "kind"}
# Every capture folder and the parser for it (adb/ holds failures + one listing).
FOLDER_TOOL = {"getprop": "getprop", "battery": "battery", "cpuinfo": "cpuinfo",
               "cpufreq": "cpufreq", "thermal": "thermal", "meminfo": "meminfo",
               "tflite_benchmark_model": "tflite_benchmark_model", "benchncnn": "benchncnn",
               "mnn_benchmark": "mnn_benchmark", "onnxruntime_perf_test": "onnxruntime_perf_test",
               "ios": "ios_info", "adb": "exec_failure"}


def _tool_for(path: Path) -> str:
    if path.name.startswith("devices_l"):
        return "adb_devices"
    return FOLDER_TOOL[path.parent.name]


ALL_CAPTURES = sorted(DATA.rglob("*.txt")) if DATA.is_dir() else []


def approx(value):
    """pytest.approx for floats, recursively through dicts and lists."""
    if isinstance(value, float):
        return pytest.approx(value)
    if isinstance(value, dict):
        return {key: approx(item) for key, item in value.items()}
    if isinstance(value, list):
        return [approx(item) for item in value]
    return value


def test_shared_data_is_present():
    assert DATA.is_dir(), f"{DATA} is missing: the tests read real captures from ../shared"
    assert EXPECTED, "expected.json is empty"


@pytest.mark.parametrize("relpath", sorted(EXPECTED))
def test_expected_json_entry(relpath):
    expected = EXPECTED[relpath]
    tool = KIND_TO_TOOL.get(expected["kind"], expected["kind"])
    result = parsers.parse(tool, (DATA / relpath).read_text(encoding="utf-8"))
    for key, want in expected.items():
        if key in IGNORED_KEYS:
            continue
        assert key in result, f"{relpath}: key {key!r} missing from {sorted(result)}"
        assert result[key] == approx(want), f"{relpath}: {key}"


@pytest.mark.parametrize("relpath", sorted(EXPECTED))
def test_expected_json_entry_survives_crlf(relpath):
    """Windows line endings must not change a single value."""
    expected = EXPECTED[relpath]
    tool = KIND_TO_TOOL.get(expected["kind"], expected["kind"])
    text = (DATA / relpath).read_text(encoding="utf-8")
    assert parsers.parse(tool, text.replace("\n", "\r\n")) == parsers.parse(tool, text)


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_capture_parses_without_error(path):
    tool = _tool_for(path)
    result = parsers.parse(tool, path.read_text(encoding="utf-8"))
    failed_on_purpose = path.name.endswith("_FAILED.txt")
    assert ("error" in result) == failed_on_purpose, result.get("error")


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_detect_recognises_every_capture(path):
    assert parsers.detect(path.read_text(encoding="utf-8")) == _tool_for(path)


def test_registry_lists_the_fourteen_tools():
    assert set(parsers.TOOLS) == {
        "getprop", "battery", "tflite_benchmark_model", "benchncnn", "mnn_benchmark",
        "onnxruntime_perf_test", "cpuinfo", "cpufreq", "thermal", "meminfo", "adb_devices",
        "ios_info", "exec_failure", "sampler_stream"}
    for module_path in parsers.TOOLS.values():
        assert callable(importlib.import_module(module_path).parse)


def test_modules_are_reachable_as_package_attributes():
    assert parsers.exec_failure.classify("Exec format error")["kind"] == "wrong_abi"
    with pytest.raises(AttributeError):
        parsers.no_such_parser


def test_unknown_tool_raises_with_the_valid_list():
    with pytest.raises(ValueError) as info:
        parsers.parse("nope", "text")
    assert "getprop" in str(info.value) and "exec_failure" in str(info.value)


def test_front_door_turns_a_crash_into_an_error(monkeypatch):
    module = importlib.import_module(parsers.TOOLS["battery"])

    def boom(text):
        raise RuntimeError("kaboom")
    monkeypatch.setattr(module, "parse", boom)
    assert parsers.parse("battery", "level: 5") == {"error": "parser crashed: RuntimeError: kaboom"}


def test_expected_json_kind_names_are_accepted():
    text = (DATA / "ios" / "tidevice_list_one_device_ios15_4_tidevice186.txt").read_text(encoding="utf-8")
    assert parsers.parse("ios", text) == parsers.parse("ios_info", text)


def test_front_door_accepts_bytes():
    assert parsers.parse("battery", b"  level: 42\r\n  status: 2\r\n")["level"] == 42


def test_detect_returns_none_for_prose():
    assert parsers.detect("nothing to see here\njust words\n") is None
    assert parsers.detect("") is None


def _junk_inputs() -> list[str]:
    rnd = random.Random(20240601)
    junk = ["", " ", "\n\n\n", "\x00\x00\x00", "]:[", "{", "[", "null", "nan", ":::", "=\n=\n"]
    junk += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400))).decode("latin-1")
             for _ in range(40)]
    junk += ["".join(rnd.choice("[]{}:=,.-0123456789eE \n\tabz*#$/|()\"") for _ in range(200))
             for _ in range(40)]
    return junk


JUNK = _junk_inputs()


@pytest.mark.parametrize("tool", sorted(parsers.TOOLS))
def test_garbage_returns_error_and_never_raises(tool):
    module = importlib.import_module(parsers.TOOLS[tool])
    for text in JUNK:
        result = module.parse(text)  # the module itself, not the front door's safety net
        assert isinstance(result, dict)
        assert "error" in result, (tool, text[:60])


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_truncated_or_shuffled_captures_never_raise(path):
    module = importlib.import_module(parsers.TOOLS[_tool_for(path)])
    text = path.read_text(encoding="utf-8")
    rnd = random.Random(path.name)
    cuts = sorted({rnd.randrange(len(text) + 1) for _ in range(25)} | {0, len(text) // 2})
    for cut in cuts:
        assert isinstance(module.parse(text[:cut]), dict)
    lines = text.splitlines()
    rnd.shuffle(lines)
    assert isinstance(module.parse("\n".join(lines)), dict)
    assert isinstance(module.parse(text.replace("\n", "\r")), dict)


@pytest.mark.parametrize("tool", sorted(parsers.TOOLS))
def test_other_tools_captures_never_raise(tool):
    module = importlib.import_module(parsers.TOOLS[tool])
    for path in ALL_CAPTURES:
        assert isinstance(module.parse(path.read_text(encoding="utf-8")), dict)


def test_results_are_json_serialisable():
    for path in ALL_CAPTURES:
        json.dumps(parsers.parse(_tool_for(path), path.read_text(encoding="utf-8")))
