"""LiteRT (ai-edge-litert, successor of tflite-runtime) on the host; benchmark_model on phones.

``tflite_runtime`` is used only when ``ai_edge_litert`` is missing: its wheels need numpy < 2.
"""
from __future__ import annotations

from typing import Any

from .base import Support, TensorSpec, dist_version, format_support


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
    return Interpreter


class _LiteRTModel:
    # LiteRT applies its XNNPACK delegate by default and says so on stderr; the child process
    # reads that line to report which backend really ran (see child.py).
    backend = "cpu (builtin kernels; XNNPACK when it applied)"

    def __init__(self, path: str, threads: int):
        self.interpreter = _interpreter_class()(model_path=path, num_threads=threads)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()
        self._out = self.interpreter.get_output_details()
        self.inputs = [TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), d["dtype"].__name__)
                       for d in self._in]
        self._set = self.interpreter.set_tensor
        self._get = self.interpreter.get_tensor
        self.invoke = self.interpreter.invoke  # the timed call, bound once: no wrapper cost

    def set_inputs(self, feed: dict[str, Any]) -> None:
        for detail in self._in:
            self._set(detail["index"], feed[detail["name"]])

    def outputs(self) -> list[Any]:
        return [self._get(d["index"]) for d in self._out]


class TFLiteEngine:
    name = "tflite"
    formats = ("tflite",)

    def version(self) -> str | None:
        return dist_version("ai-edge-litert", "tflite-runtime")

    def supports(self, artifact_format: str, device_profile: dict[str, Any]) -> Support:
        return format_support(self, artifact_format, device_profile)

    def load(self, path: str, threads: int) -> _LiteRTModel:
        return _LiteRTModel(path, threads)
