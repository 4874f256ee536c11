"""The Android backend through the REAL adb server against virtual phones (harness.virtual).

Discovery and states, profiles, the Device contract, push dedupe, quoting, and what a phone that
breaks mid-run leaves behind. Each phone is a VirtualDevice on a free loopback port; the adb
server is Debian's `adb` (conftest.py).
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from android_fixtures import (adb_env, discovered, model_cache, models,  # noqa: F401 (fixtures)
                              three_phones, virtual_tools)

from harness.devices.android import AndroidDevice, abis_of
from harness.engines.base import RunSettings
from harness.engines.device_tools import DEVICE_ROOT, run_with_tool
from harness.errors import InfraError, ToolTimeout, Unsupported

pytestmark = pytest.mark.integration

WEIRD = "we ird 'name';rm -rf x.tflite"
SETTINGS = RunSettings(warmup=1, iterations=3, threads=1, timeout_s=60)


class Engine:
    """The identity run_with_tool needs; the virtual tools run the real host engine."""

    def __init__(self, name: str):
        self.name = name

    def version(self) -> str:
        return "host"


def _artifact(spec, path: Path):
    from harness.models.variants import Artifact

    data = path.read_bytes()
    return Artifact(spec.name, "fp32", spec.format, path, hashlib.sha256(data).hexdigest(),
                    len(data))


def test_discovery_lists_the_three_phones_with_states_and_profiles(three_phones, adb_server):
    infos = discovered([phone.serial for phone in three_phones.values()])
    for name, phone in three_phones.items():
        info = infos[phone.serial]
        assert (info.kind, info.state, info.virtual) == ("virtual-android", "device", True)
        assert info.id == phone.serial
        assert info.details["adb_server"] == f"127.0.0.1:{adb_server.port}"
        profile = AndroidDevice(info).profile()
        assert profile["profile"] == name and profile["virtual"] is True
    assert infos[three_phones["pixel8"].serial].model == "Pixel 8"
    abis = {name: abis_of(AndroidDevice(infos[p.serial]).profile())
            for name, p in three_phones.items()}
    assert abis == {"pixel8": ["arm64-v8a"], "nexus4": ["armeabi-v7a", "armeabi"],
                    "mate20": ["arm64-v8a", "armeabi-v7a", "armeabi"]}


def test_connect_list_and_unauthorized_state(virtual_phone, adb_env, monkeypatch):
    locked = virtual_phone("pixel8", faults=["unauthorized"], connect=False)
    fine = virtual_phone("mate20", connect=False)
    monkeypatch.setenv("EDGELAB_ADB_CONNECT", f"{locked.serial},{fine.serial}")
    infos = discovered([locked.serial, fine.serial])  # discovery runs `adb connect` itself
    assert infos[locked.serial].state == "unauthorized"
    assert infos[locked.serial].kind == "android"  # nothing can be asked of it, not even props
    assert infos[fine.serial].state == "device" and infos[fine.serial].virtual


def test_no_adb_server_means_no_phones_and_a_note(monkeypatch):
    import socket

    from harness.devices.android import discover

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("EDGELAB_ADB_SERVER", f"127.0.0.1:{sock.getsockname()[1]}")
        monkeypatch.delenv("EDGELAB_ADB_START", raising=False)
        notes: list[str] = []
        assert discover(notes=notes) == []
    assert "no adb server" in notes[0] and "EDGELAB_ADB_START=1" in notes[0]


def test_android_profile_and_conditions_beyond_the_contract(virtual_phone, adb_env):
    # the shared checks live in tests/contract; these are what only a phone has
    phone = virtual_phone("nexus4")
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    assert isinstance(device.profile()["governors"], dict)
    with device.prepare({}) as conditions:
        assert conditions["governor"] != "unavailable" and conditions["applied"] == []
    assert "battery_pct" in device.sample()


def test_16k_page_phone_reports_its_page_size(virtual_phone, adb_env):
    phone = virtual_phone("pixel8", page_size=16384)
    profile = AndroidDevice(discovered([phone.serial])[phone.serial]).profile()
    assert profile["page_size"] == 16384 and profile["profile"] == "pixel8_16k"


def test_push_dedupe_second_run_pushes_zero_bytes(virtual_phone, adb_env, models, virtual_tools,
                                                  capsys):
    phone = virtual_phone("pixel8")
    info = discovered([phone.serial])[phone.serial]
    spec, path = models["face_landmark"]
    runs = []
    for _ in range(2):  # a fresh AndroidDevice per run: nothing remembered between sessions
        device = AndroidDevice(info)
        raw = run_with_tool(device, Engine("tflite"), _artifact(spec, path), spec, SETTINGS,
                            virtual_tools)
        runs.append((raw, device.push_stats))
    tool = virtual_tools.get("tflite", "arm64-v8a")
    (first, first_stats), (second, second_stats) = runs
    assert first_stats["pushed_bytes"] == path.stat().st_size + tool.bytes
    assert second_stats["pushed_bytes"] == 0 and second_stats["pushed_files"] == 0
    assert second_stats["skipped_bytes"] == first_stats["pushed_bytes"]
    assert first.extra["push"] == first_stats and first.extra["abi"] == "arm64-v8a"
    assert first.extra["summary_only"] and first.samples_ms == (first.extra["tool_stats"]["mean_ms"],)
    with capsys.disabled():
        print(f"\npush dedupe on {phone.serial}: run 1 pushed {first_stats['pushed_bytes']:,} B, "
              f"run 2 pushed {second_stats['pushed_bytes']:,} B "
              f"(skipped {second_stats['skipped_bytes']:,} B)")


def test_weird_model_name_reaches_the_device_intact(virtual_phone, adb_env, models,
                                                    virtual_tools, tmp_path):
    phone = virtual_phone("mate20")
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    spec, path = models["face_landmark"]
    weird = tmp_path / WEIRD
    shutil.copyfile(path, weird)
    artifact = _artifact(spec, weird)
    raw = run_with_tool(device, Engine("tflite"), artifact, spec, SETTINGS, virtual_tools)
    assert raw.extra["tool_stats"]["n"] == 3
    folder = f"{DEVICE_ROOT}/models/{artifact.sha256[:16]}"
    assert device.exec(["ls", folder], timeout=10).stdout.splitlines() == [WEIRD]
    digest = device.exec(["sha256sum", f"{folder}/{WEIRD}"], timeout=30).stdout.split()[0]
    assert digest == artifact.sha256
    assert device.exec(["ls", f"{DEVICE_ROOT}/models"], timeout=10).rc == 0  # nothing removed


def test_arm64_only_tool_on_the_armv7_phone_is_unsupported(virtual_phone, adb_env, models,
                                                           virtual_tools):
    phone = virtual_phone("nexus4")
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    spec, path = models["face_landmark"]
    with pytest.raises(Unsupported, match=r"ARMv7-only device \(abis armeabi-v7a, armeabi\); "
                                          r"registered tflite tools: arm64-v8a"):
        run_with_tool(device, Engine("tflite"), _artifact(spec, path), spec, SETTINGS,
                      virtual_tools)
    onnx_spec, onnx_path = models["ppocr_cls"]
    raw = run_with_tool(device, Engine("onnxruntime"), _artifact(onnx_spec, onnx_path), onnx_spec,
                        SETTINGS, virtual_tools)
    assert raw.extra["abi"] == "armeabi-v7a" and raw.extra["tool_stats"]["n"] == 3


def test_virtual_tool_is_never_used_on_a_real_phone(virtual_phone, adb_env, models,
                                                    virtual_tools):
    phone = virtual_phone("pixel8")
    info = discovered([phone.serial])[phone.serial]
    device = AndroidDevice(info)
    device.info = info.__class__(**{**info.as_dict(), "kind": "android", "virtual": False})
    device._profile["virtual"] = False  # as a real Pixel 8 would report
    spec, path = models["face_landmark"]
    with pytest.raises(Unsupported, match="only a virtual stand-in of benchmark_model"):
        run_with_tool(device, Engine("tflite"), _artifact(spec, path), spec, SETTINGS,
                      virtual_tools)


def test_hung_tool_is_killed_on_the_device_and_is_a_timeout(virtual_phone, adb_env, models,
                                                            virtual_tools):
    """The tool stops making progress while the phone still answers: the thing under test failed
    (failed: timeout), not the device (infra_error); the phone stays usable."""
    phone = virtual_phone("pixel8", faults=["hang=tools"])
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    spec, path = models["face_landmark"]
    settings = RunSettings(warmup=1, iterations=3, threads=1, timeout_s=2)
    with pytest.raises(ToolTimeout, match="^timeout: benchmark_model did not finish within 2 s"):
        run_with_tool(device, Engine("tflite"), _artifact(spec, path), spec, settings,
                      virtual_tools)
    assert device.exec(["echo", "still here"], timeout=10).stdout.strip() == "still here"


def test_storage_full_is_an_infra_error_with_the_fix(virtual_phone, adb_env, models,
                                                     virtual_tools):
    phone = virtual_phone("mate20", faults=["storage-full"])
    device = AndroidDevice(discovered([phone.serial])[phone.serial])
    assert device.profile()["free_storage_mb"] == 0
    spec, path = models["face_landmark"]
    with pytest.raises(InfraError) as info:
        run_with_tool(device, Engine("tflite"), _artifact(spec, path), spec, SETTINGS,
                      virtual_tools)
    assert "free space" in info.value.fix


def test_phone_that_disconnects_mid_run_is_infra_error_and_the_next_phone_measures(
        virtual_phone, adb_env, models, virtual_tools, model_cache, tmp_path, monkeypatch):
    from harness.run.cases import BenchCase
    from harness.config import DEFAULTS, RunConfig
    from harness.run.measure import CellRunner
    from harness.results.store import RunStore

    monkeypatch.setattr("harness.engines.device_tools.ToolCache", lambda: virtual_tools)
    # discovery opens 2 streams; the phone vanishes while being probed for the first cell
    leaving = virtual_phone("pixel8", faults=["disconnect-after=6"])
    staying = virtual_phone("mate20")
    infos = discovered([leaving.serial, staying.serial])
    config = RunConfig(rootdir=Path(__file__).resolve().parents[2], run_id="android-test",
                       reboot_wait_s=3, warmup=1, iterations=3, cache_dir=model_cache,
                       noise={k: float(DEFAULTS[k]) for k in
                              ("noise_other_cpu_pct", "noise_tail_ratio", "noise_cv")})
    store = RunStore(tmp_path / "run").create()
    runner = CellRunner(config, {n: s for n, (s, _) in models.items()},
                        {n: p for n, (_, p) in models.items()}, store)
    records = []
    for serial in (leaving.serial, leaving.serial, staying.serial):
        case = BenchCase(infos[serial], "face_landmark", "fp32", "tflite")
        records.append(runner.run(case, "latency", runner.settings(), f"cell-{len(records)}"))
    assert [r.status for r in records] == ["infra_error", "infra_error", "ok"], \
        [r.reason for r in records]
    assert leaving.serial in records[0].reason and "fix:" in records[0].reason
    assert records[2].latency["summary_only"] and records[2].extra["abi"] == "arm64-v8a"
    assert [r.status for r in store.records()] == ["infra_error", "infra_error", "ok"]
