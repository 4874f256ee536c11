"""Peak memory of the tool process on the phone (VmHWM of its pid, read on the device until it
ends: harness/devices/toolmem.py), for all four benchmark tools, through the real adb server
against a virtual phone whose tool stubs run the real engines on the host."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from android_fixtures import adb_env, discovered, model_cache, models  # noqa: F401 (fixtures)

from harness.devices.android import AndroidDevice
from harness.engines.base import RunSettings
from harness.engines.device_tools import run_with_tool
from harness.engines.tools import ToolCache
from harness.errors import ToolTimeout

pytestmark = pytest.mark.integration
SETTINGS = RunSettings(warmup=1, iterations=3, threads=1, timeout_s=60)
ENGINES = {"tflite": ("face_landmark", "tflite"), "onnxruntime": ("ppocr_cls", "onnx"),
           "ncnn": ("ppocr_cls", "ncnn"), "mnn": ("ppocr_cls", "mnn")}


class Engine:
    def __init__(self, name: str):
        self.name = name

    def version(self) -> str:
        return "host"


def _artifact(spec, path: Path, fmt: str):
    from harness.models.variants import Artifact

    data = path.read_bytes()
    return Artifact(spec.name, "fp32", fmt, path, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture(scope="module")
def built(models, tmp_path_factory):  # noqa: F811
    """ppocr_cls as ncnn and MNN fp32 files (converted here, as `models build` does)."""
    from harness.models.build.index import VariantIndex
    from harness.models.build.pipeline import Plan, build_model
    from harness.models.variants import resolve_artifact

    spec, path = models["ppocr_cls"]
    build_dir = tmp_path_factory.mktemp("build")
    build_model(spec, path, VariantIndex.load(build_dir), Plan(("fp32",), ("ncnn", "mnn")),
                log=lambda _m: None)
    return {fmt: resolve_artifact(spec, path, "fp32", fmt, build_dir) for fmt in ("ncnn", "mnn")}


@pytest.fixture
def all_tools(tmp_path) -> ToolCache:
    cache = ToolCache(tmp_path / "tools")
    cache.add_virtual(tuple(ENGINES), ("arm64-v8a", "armeabi-v7a"))
    return cache


@pytest.mark.parametrize("profile", ["pixel8", "nexus4"])  # shell v2, and v1 (Android 5.1)
def test_every_tool_has_its_vmhwm_from_the_device(virtual_phone, adb_env, models, built,
                                                  all_tools, profile, capsys):
    phone = virtual_phone(profile)
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    figures = {}
    for engine, (model, fmt) in ENGINES.items():
        spec, path = models[model]
        artifact = built[fmt] if fmt in built else _artifact(spec, path, fmt)
        start = time.monotonic()
        raw = run_with_tool(device, Engine(engine), artifact, spec, SETTINGS, all_tools)
        took = time.monotonic() - start
        tool = all_tools.get(engine, raw.extra["abi"]).spec.file
        memory = raw.memory
        assert memory["source"].startswith(f"VmHWM of {tool} pid "), memory
        assert memory["source"].endswith(" on the device")
        # the whole engine process: more than the model file, far less than a phone's RAM
        assert artifact.bytes / 2**20 < raw.peak_rss_mb < 2048, raw.peak_rss_mb
        assert 0 <= memory["vmhwm_read_before_exit_s"] < 1.5
        if engine in ("tflite", "onnxruntime"):  # tools that print their own figure keep it
            assert memory["tool_reported_mb"] > 0
        else:
            assert "tool_reported_mb" not in memory
        assert "EDGELAB_VMHWM_KB" not in raw.log  # the watcher's line never reaches parsers
        figures[engine] = (raw.peak_rss_mb, memory.get("tool_reported_mb"),
                           memory["vmhwm_read_before_exit_s"], took)
    with capsys.disabled():
        print(f"\n{profile} peak MB (VmHWM, tool's own, last read before exit s, run s): "
              + "; ".join(f"{e} {p:.1f}/{t if t is None else round(t, 1)}/{s}/{d:.1f}"
                          for e, (p, t, s, d) in figures.items()))


def test_a_hung_tool_still_times_out_with_the_watcher(virtual_phone, adb_env, models, all_tools):
    phone = virtual_phone("pixel8", faults=["hang=tools"])
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    spec, path = models["face_landmark"]
    settings = RunSettings(warmup=1, iterations=3, threads=1, timeout_s=2)
    start = time.monotonic()
    with pytest.raises(ToolTimeout, match="^timeout: "):
        run_with_tool(device, Engine("tflite"), _artifact(spec, path, "tflite"), spec, settings,
                      all_tools)
    assert time.monotonic() - start < 2 + 5  # the device's own limit, not the host's slack
    assert device.exec(["echo", "still here"], timeout=10).stdout.strip() == "still here"
