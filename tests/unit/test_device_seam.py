"""The device-level run seam: discovery survives a broken kind, a cell runs through the
device's own ``run_engine`` (no device-kind branches in run/measure.py), and a state fix named
by discovery reaches the record."""
from __future__ import annotations

import sys
import types
from pathlib import Path

from harness.devices import discovery
from harness.devices.base import DeviceInfo
from harness.engines.base import RawRun, RunSettings
from harness.models.manifest import ModelSpec
from harness.run.cases import BenchCase


def _kind_module(monkeypatch, name: str, body) -> str:
    module = types.ModuleType(name)
    module.discover = body
    monkeypatch.setitem(sys.modules, name, module)
    return f"{name}:discover"


def test_a_discoverer_that_raises_becomes_a_note_and_the_others_still_count(monkeypatch):
    def broken(notes=None, **_):
        raise OSError("usbmuxd socket refused")

    def fine(notes=None, **_):
        return [DeviceInfo(id="d1", kind="host", serial="d1")]

    monkeypatch.setattr(discovery, "DISCOVERERS", {
        "broken": _kind_module(monkeypatch, "edgelab_test_broken_kind", broken),
        "fine": _kind_module(monkeypatch, "edgelab_test_fine_kind", fine)})
    notes: list[str] = []
    found = discovery.discover_all(notes=notes)
    assert [d.id for d in found] == ["d1"]
    assert notes == ["broken: discovery failed (OSError: usbmuxd socket refused); devices of "
                     "this kind are left out of this run"]


class RecordingDevice:
    """A device kind the harness has never seen: only the Device interface."""

    def __init__(self, info: DeviceInfo):
        self.info = info
        self.jobs: list[tuple[str, str]] = []

    def profile(self):
        return {"kind": self.info.kind, "os": "ExampleOS 1"}

    def sample(self):
        return {"temp_c": 30.0, "charging": False}

    def run_engine(self, engine, artifact, spec, settings):
        self.jobs.append((engine.name, str(artifact.path)))
        return RawRun(samples_ms=(4.0, 5.0, 6.0), load_ms=1.0, first_ms=7.0, peak_rss_mb=None,
                      rss_before_load_mb=None, engine_version="x", backend="example",
                      threads=settings.threads)


class _Store:
    def __init__(self):
        self.records = []

    def append(self, record):
        self.records.append(record)


def _runner(tmp_path: Path, device):
    from harness.run.measure import CellRunner

    config = types.SimpleNamespace(
        warmup=1, iterations=3, min_time_s=0.0, threads=1, timeout_s=30.0, cooldown=None,
        idle_window_s=0.0, power_window_s=0.0, fidelity={"enabled": False}, run_id="r",
        iterations_given=True, lease_wait_s=0.0, cache_dir=tmp_path, noise={
            "noise_other_cpu_pct": 50, "noise_tail_ratio": 9, "noise_cv": 9})
    runner = CellRunner(config, {}, {}, _Store())
    runner._devices[device.info.id] = device
    return runner


def test_measure_runs_a_job_through_the_devices_own_run_engine(tmp_path, monkeypatch):
    info = DeviceInfo(id="ex1", kind="example", serial="ex1")
    device = RecordingDevice(info)
    runner = _runner(tmp_path, device)
    artifact = types.SimpleNamespace(path=tmp_path / "m.onnx", format="onnx")
    engine = types.SimpleNamespace(name="onnxruntime")
    raw = runner._execute(device, engine, artifact, ModelSpec("m", "onnx"), RunSettings())
    assert raw.samples_ms == (4.0, 5.0, 6.0)
    assert device.jobs == [("onnxruntime", str(tmp_path / "m.onnx"))]


def test_a_fix_named_by_discovery_reaches_the_infra_error(tmp_path):
    import pytest

    from harness.errors import InfraError

    info = DeviceInfo(id="ios1", kind="ios", serial="ios1", state="developer mode off",
                      details={"fix": "turn on Settings > Privacy & Security > Developer Mode"})
    runner = _runner(tmp_path, RecordingDevice(info))
    case = BenchCase(device=info, model="m", variant="fp32", engine="coreml", governor="default")
    with pytest.raises(InfraError, match=r"is developer mode off \(fix: turn on Settings"):
        runner.device(case)
