"""ONNX Runtime (CPU execution provider) on the host; onnxruntime_perf_test on phones."""
from __future__ import annotations

from typing import Any

from .base import Support, TensorSpec, dist_version, format_support

_ORT_TO_NUMPY = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
                 "tensor(uint8)": "uint8", "tensor(int32)": "int32", "tensor(int64)": "int64",
                 "tensor(bool)": "bool", "tensor(double)": "float64"}


class _OrtModel:
    def __init__(self, path: str, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-wait spinning between runs: a spinning pool steals the CPU the timed loop uses
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(path, sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.backend = ",".join(self.session.get_providers())
        self.inputs = [TensorSpec(i.name, tuple(i.shape), _ORT_TO_NUMPY.get(i.type, "float32"))
                       for i in self.session.get_inputs()]
        self._run = self.session.run
        self._feed: dict[str, Any] = {}
        self._outputs: list[Any] = []

    def set_inputs(self, feed: dict[str, Any]) -> None:
        self._feed = feed

    def invoke(self) -> None:
        self._outputs = self._run(None, self._feed)

    def outputs(self) -> list[Any]:
        return self._outputs


class OnnxRuntimeEngine:
    name = "onnxruntime"
    formats = ("onnx",)

    def version(self) -> str | None:
        return dist_version("onnxruntime", "onnxruntime-gpu")

    def supports(self, artifact_format: str, device_profile: dict[str, Any]) -> Support:
        return format_support(self, artifact_format, device_profile)

    def load(self, path: str, threads: int) -> _OrtModel:
        return _OrtModel(path, threads)
