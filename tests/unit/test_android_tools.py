"""Tool cache (register, list, remove, virtual stand-ins) and which tool a device gets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from android_elf_factory import make_elf

from harness import cli
from harness.errors import Unsupported, UsageError
from harness.engines.tools import Tool, ToolCache, choose_tool


@pytest.fixture
def cache(tmp_path) -> ToolCache:
    return ToolCache(tmp_path / "tools")


def _binary(tmp_path: Path, abi: str, name: str = "benchmark_model", **kw) -> Path:
    path = tmp_path / f"{abi}-{name}"
    path.write_bytes(make_elf(abi, **kw))
    return path


@pytest.fixture
def virtual_stubs():
    """The real stand-ins from harness.virtual (they are small ELF headers)."""


def test_add_stores_file_with_sha256_and_lists_it(cache, tmp_path):
    tool = cache.add("tflite", "arm64-v8a", _binary(tmp_path, "arm64-v8a"), version="2.17")
    assert tool.path == cache.root / "tflite" / "arm64-v8a" / "benchmark_model"
    assert tool.path.read_bytes() == _binary(tmp_path, "arm64-v8a").read_bytes()
    assert len(tool.sha256) == 64 and not tool.virtual and tool.version == "2.17"
    assert [t.abi for t in cache.tools("tflite")] == ["arm64-v8a"]
    assert cache.get("tflite", "armeabi-v7a") is None


def test_add_refuses_a_binary_of_the_wrong_abi(cache, tmp_path):
    with pytest.raises(UsageError, match="ELF64 aarch64, but armeabi-v7a needs ELF32 arm"):
        cache.add("tflite", "armeabi-v7a", _binary(tmp_path, "arm64-v8a"))
    script = tmp_path / "benchmark_model.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(UsageError, match="not an ELF file"):
        cache.add("tflite", "arm64-v8a", script)
    assert cache.tools() == []


def test_add_checks_libraries_and_unknown_engines(cache, tmp_path):
    lib = _binary(tmp_path, "armeabi-v7a", name="libMNN.so")
    with pytest.raises(UsageError, match="libMNN.so"):
        cache.add("mnn", "arm64-v8a", _binary(tmp_path, "arm64-v8a", name="benchmark.out"), (lib,))
    with pytest.raises(UsageError, match="unknown engine 'coreml'"):
        cache.add("coreml", "arm64-v8a", _binary(tmp_path, "arm64-v8a"))


def test_add_with_library_keeps_it_beside_the_tool(cache, tmp_path):
    lib = _binary(tmp_path, "arm64-v8a", name="libMNN.so")
    tool = cache.add("mnn", "arm64-v8a", _binary(tmp_path, "arm64-v8a", name="b.out"), (lib,))
    assert tool.path.name == "benchmark.out" and [p.name for p in tool.libs] == [lib.name]
    assert all(p.is_file() for p in tool.libs)


def test_pinned_sha256_in_the_manifest_is_enforced(cache, tmp_path, monkeypatch):
    monkeypatch.setattr("harness.engines.tools.pinned_sha256",
                        lambda engine, abi, manifest=None: "0" * 64)
    with pytest.raises(UsageError, match="differs from the one pinned"):
        cache.add("tflite", "arm64-v8a", _binary(tmp_path, "arm64-v8a"))


def test_add_virtual_registers_every_engine_for_both_arm_abis(cache, virtual_stubs):
    added = cache.add_virtual()
    assert {(t.engine, t.abi) for t in added} == {
        (e, a) for e in ("tflite", "onnxruntime", "ncnn", "mnn")
        for a in ("arm64-v8a", "armeabi-v7a")}
    assert all(t.virtual for t in cache.tools())
    only = ToolCache(cache.root.parent / "other").add_virtual(("tflite",), ("arm64-v8a",))
    assert [(t.engine, t.abi) for t in only] == [("tflite", "arm64-v8a")]


def test_remove(cache, tmp_path):
    cache.add("tflite", "arm64-v8a", _binary(tmp_path, "arm64-v8a"))
    assert cache.remove("tflite", "arm64-v8a") and not cache.remove("tflite", "arm64-v8a")
    assert cache.tools() == []


def test_cli_add_list_remove(tmp_path, capsys, virtual_stubs):
    root = str(tmp_path / "tools")
    binary = _binary(tmp_path, "armeabi-v7a")
    assert cli.main(["tools", "--tools-dir", root, "add", "tflite", "armeabi-v7a", str(binary)]) == 0
    assert cli.main(["tools", "--tools-dir", root, "add-virtual", "--engine", "onnxruntime"]) == 0
    capsys.readouterr()
    assert cli.main(["tools", "--tools-dir", root, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["tools"]
    assert {(t["engine"], t["abi"], t["virtual"]) for t in listed} == {
        ("tflite", "armeabi-v7a", False), ("onnxruntime", "arm64-v8a", True),
        ("onnxruntime", "armeabi-v7a", True)}
    assert cli.main(["tools", "--tools-dir", root, "list"]) == 0
    text = capsys.readouterr().out
    assert "ncnn" in text and "none registered" in text and "virtual stand-in" in text
    # a wrong-ABI binary is one clear message and exit status 2, not a traceback
    assert cli.main(["tools", "--tools-dir", root, "add", "tflite", "arm64-v8a", str(binary)]) == 2
    assert "register it under the ABI it was built for" in capsys.readouterr().err


# -- choose_tool: the ABI axis of the compatibility matrix -----------------------------------
def _tool(abi: str, virtual: bool = False, engine: str = "tflite") -> Tool:
    return Tool(engine, abi, Path(f"/cache/{abi}/benchmark_model"), "ab" * 32, 10, virtual)


ARM64_ONLY = ["arm64-v8a"]                                   # Pixel 8
ARMV7_ONLY = ["armeabi-v7a", "armeabi"]                      # Nexus 4
BOTH = ["arm64-v8a", "armeabi-v7a", "armeabi"]               # Mate 20


def test_prefers_arm64_where_the_device_runs_both():
    tools = {"arm64-v8a": _tool("arm64-v8a"), "armeabi-v7a": _tool("armeabi-v7a")}
    assert choose_tool("tflite", BOTH, tools, False).abi == "arm64-v8a"
    assert choose_tool("tflite", ARMV7_ONLY, tools, False).abi == "armeabi-v7a"


def test_32bit_tool_runs_on_a_device_with_both_abis():
    assert choose_tool("tflite", BOTH, {"armeabi-v7a": _tool("armeabi-v7a")}, False).abi == \
        "armeabi-v7a"


def test_armv7_only_device_with_only_an_arm64_tool_is_unsupported_with_the_abis():
    with pytest.raises(Unsupported) as info:
        choose_tool("tflite", ARMV7_ONLY, {"arm64-v8a": _tool("arm64-v8a")}, False)
    assert ("ARMv7-only device (abis armeabi-v7a, armeabi); registered tflite tools: arm64-v8a"
            in info.value.reason)
    assert "run `python -m harness tools fetch tflite armeabi-v7a`" in info.value.reason


def test_arm64_only_device_with_only_a_32bit_tool():
    with pytest.raises(Unsupported, match=r"arm64 device \(abis arm64-v8a\); registered tflite "
                                          r"tools: armeabi-v7a"):
        choose_tool("tflite", ARM64_ONLY, {"armeabi-v7a": _tool("armeabi-v7a")}, False)


def test_nothing_registered_names_the_one_command_that_gets_the_tool():
    with pytest.raises(Unsupported) as info:
        choose_tool("tflite", ARM64_ONLY, {}, False)
    assert info.value.reason == ("no benchmark_model registered for tflite; run `python -m "
                                 "harness tools fetch tflite arm64-v8a`")
    # ONNX Runtime publishes no Android binary (manifest: build-from-source): build, then add
    with pytest.raises(Unsupported) as info:
        choose_tool("onnxruntime", ARM64_ONLY, {}, False)
    assert info.value.reason.startswith("no onnxruntime_perf_test registered for onnxruntime; "
                                        "no prebuilt official build to fetch")
    assert "`python -m harness tools add onnxruntime arm64-v8a PATH`" in info.value.reason


def test_a_virtual_device_gets_the_built_in_stand_in_without_registration(cache):
    for abis, want in ((ARM64_ONLY, "arm64-v8a"), (ARMV7_ONLY, "armeabi-v7a"), (BOTH, "arm64-v8a")):
        tool = choose_tool("ncnn", abis, {}, True, cache)
        assert (tool.abi, tool.virtual, tool.automatic) == (want, True, True)
        assert tool.path.read_bytes()[:4] == b"\x7fELF" and tool.path.stat().st_mode & 0o111
        assert tool.as_dict()["origin"] == "built-in stand-in (virtual device, no registration)"
    # a real build registered for the lab's phones cannot run on a virtual one: stand-in still
    assert choose_tool("tflite", ARM64_ONLY, {"arm64-v8a": _tool("arm64-v8a")}, True, cache).automatic
    # registered stand-ins are honoured as registered (a virtual farm mirroring a real one)
    registered = {"arm64-v8a": _tool("arm64-v8a", virtual=True)}
    assert not choose_tool("tflite", BOTH, registered, True, cache).automatic
    with pytest.raises(Unsupported, match="ARMv7-only device"):
        choose_tool("tflite", ARMV7_ONLY, registered, True, cache)
    # and never on a real phone
    with pytest.raises(Unsupported, match="no benchmark_model registered"):
        choose_tool("tflite", ARM64_ONLY, {}, False, cache)
    assert cache.tools() == []  # nothing was registered


def test_virtual_tools_only_run_on_virtual_devices():
    tools = {"arm64-v8a": _tool("arm64-v8a", virtual=True)}
    assert choose_tool("tflite", ARM64_ONLY, tools, True).virtual
    with pytest.raises(Unsupported) as info:
        choose_tool("tflite", ARM64_ONLY, tools, False)
    assert info.value.reason == ("only a virtual stand-in of benchmark_model is registered; "
                                 "run `python -m harness tools fetch tflite arm64-v8a`")


def test_a_real_tool_beats_a_virtual_one_on_a_real_phone():
    tools = {"arm64-v8a": _tool("arm64-v8a", virtual=True), "armeabi-v7a": _tool("armeabi-v7a")}
    assert choose_tool("tflite", BOTH, tools, False).abi == "armeabi-v7a"


def test_readiness_per_engine_is_what_a_run_would_choose(cache, tmp_path):
    from harness.engines.tools import readiness

    cache.add("tflite", "armeabi-v7a", _binary(tmp_path, "armeabi-v7a"))
    real = readiness(BOTH, False, cache)
    assert real["tflite"]["state"] == "ready" and real["tflite"]["abi"] == "armeabi-v7a"
    assert real["tflite"]["detail"].startswith("sha256 ")
    assert real["ncnn"] == {"state": "missing", "detail": (
        "no benchncnn registered for ncnn; no prebuilt official build to fetch: build it as "
        "tools/manifest.toml [ncnn] says, then run `python -m harness tools add ncnn arm64-v8a "
        "PATH`")}
    armv7 = readiness(ARMV7_ONLY, True, cache)  # virtual: built-in stand-ins, real builds unused
    assert {e: (r["state"], r["abi"]) for e, r in armv7.items()} == {
        e: ("stand-in", "armeabi-v7a") for e in ("tflite", "onnxruntime", "ncnn", "mnn")}
    assert not (cache.root / "_stand-ins").exists()   # listing writes nothing
