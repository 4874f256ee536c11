"""Records shaped exactly as a run writes them, for report tests: phone cells go through the real
chain (a captured tool output -> run_with_tool on a scripted device -> CellRunner._emit_ok), host
cells through _emit_ok with samples and a fidelity verdict. Only adb and the engines are left out.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from android_elf_factory import make_elf
from test_android_device_tools import Engine, ScriptedDevice

from harness.config import DEFAULTS, RunConfig
from harness.devices.base import DeviceInfo
from harness.engines.base import RawRun, RunSettings
from harness.engines.device_tools import run_with_tool
from harness.engines.tools import TOOL_SPECS, ToolCache
from harness.models.variants import Artifact
from harness.results.store import RunStore
from harness.run.cases import BenchCase
from harness.run.measure import CellRunner

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "device-data"
PHONE = DeviceInfo(id="R5CT01", kind="android", serial="R5CT01", model="SM-A525F")
HOST = DeviceInfo(id="host", kind="host", serial="host")
SETTINGS = RunSettings(warmup=1, iterations=50, threads=4, timeout_s=60)
FORMAT = {"tflite": "tflite", "onnxruntime": "onnx", "ncnn": "ncnn", "mnn": "mnn"}


def capture(relative: str) -> str:
    path = DATA / relative
    if not path.is_file():
        pytest.fail(f"{path} missing: the report tests read real tool captures from ../shared")
    return path.read_text()


class Run:
    """One run directory being written: ``phone(...)`` and ``host(...)`` append a record each."""

    def __init__(self, tmp_path: Path, name: str = "run"):
        self.tmp = tmp_path / f"{name}-files"
        self.tmp.mkdir(parents=True)
        self.store = RunStore(tmp_path / name).create()
        config = RunConfig(rootdir=tmp_path, run_id=name, noise={
            k: float(DEFAULTS[k]) for k in ("noise_other_cpu_pct", "noise_tail_ratio", "noise_cv")})
        self.runner = CellRunner(config, {}, {}, self.store)
        self.tools = ToolCache(self.tmp / "tools")
        for engine in TOOL_SPECS:
            binary = self.tmp / f"{engine}-arm64"
            binary.write_bytes(make_elf("arm64-v8a"))
            self.tools.add(engine, "arm64-v8a", binary)

    @property
    def dir(self) -> Path:
        return self.store.run_dir

    def artifact(self, model: str, variant: str, engine: str, file_name: str,
                 content: str | None = None) -> Artifact:
        """A model file; the same ``content`` gives the same sha256, as the same build would."""
        data = (content or f"{model}/{variant}/{engine}").encode()
        folder = self.tmp / "models" / hashlib.sha256(data).hexdigest()[:8]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name
        path.write_bytes(data)
        return Artifact(model, variant, FORMAT[engine], path, hashlib.sha256(data).hexdigest(), len(data))

    def phone(self, engine: str, artifact: Artifact, output: str, suite: str = "latency"):
        """The record of a phone cell timed by ``engine``'s tool printing ``output``."""
        device = ScriptedDevice(["arm64-v8a"], output)
        raw = run_with_tool(device, Engine(engine), artifact, _spec(artifact), SETTINGS, self.tools)
        return self._emit(PHONE, engine, artifact, raw, suite, None)

    def host(self, engine: str, artifact: Artifact, samples_ms, fidelity: dict | None,
             suite: str = "latency"):
        raw = RawRun(samples_ms=tuple(samples_ms), load_ms=5.0, first_ms=samples_ms[0] * 2,
                     peak_rss_mb=80.0, rss_before_load_mb=60.0, engine_version="1.0",
                     backend="cpu", threads=1, other_cpu_pct=2.0)
        return self._emit(HOST, engine, artifact, raw, suite, fidelity)

    def host_failed(self, engine: str, artifact: Artifact, reason: str, suite: str = "latency"):
        """A host cell that broke (a crash, not drift): no latency, as CellRunner writes it."""
        case, ident = _case(HOST, engine, artifact)
        return self.runner._emit(case, suite, f"{suite}[{case.id}]", ident, "failed", reason,
                                 threads=1)  # the threads the cell asked for

    def _emit(self, info: DeviceInfo, engine: str, artifact: Artifact, raw: RawRun, suite: str,
              fidelity: dict | None):
        case, ident = _case(info, engine, artifact)
        return self.runner._emit_ok(case, suite, f"{suite}[{case.id}]", ident, raw,
                                    {"governor": "schedutil"}, {"temp_c": 35.0}, fidelity)


def _case(info: DeviceInfo, engine: str, artifact: Artifact) -> tuple[BenchCase, dict]:
    ident = {"device": {"id": info.id, "kind": info.kind, "model": info.model, "virtual": False,
                        "abis": ["arm64-v8a"] if info.kind != "host" else ["x86_64"]},
             "model": {"name": artifact.model, "task": "classification"},
             "variant": artifact.as_dict(), "engine": {"name": engine, "version": "1.0"}}
    return BenchCase(info, artifact.model, artifact.variant, engine), ident


def _spec(artifact: Artifact):
    from harness.models.manifest import InputSpec, ModelSpec

    return ModelSpec(artifact.model, "onnx" if artifact.format in ("onnx", "ncnn", "mnn") else "tflite",
                     input=InputSpec())
