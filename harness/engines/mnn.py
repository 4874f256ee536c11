"""MNN (pip ``MNN``) on the host through its Module API; MNN's benchmark tool on phones.

Only the runtime is imported (``MNN``, ``MNN.nn``, ``MNN.expr``), never ``MNN.tools``: that
package pip-installs a logging SDK and sends usage logs at import (docs/design.md, known traps).
``Module.forward`` runs the graph eagerly (measured: forward alone and forward + read cost the
same), so it is the timed call.
"""
from __future__ import annotations

import platform
from typing import Any

from .base import Support, TensorSpec, dist_version, format_support

_DTYPES = {"float": "float32", "int": "int32", "uint8": "uint8", "int8": "int8",
           "double": "float64", "int64": "int64"}


def _compute_note() -> str:
    """MNN's fp16 arithmetic exists on ARMv8.2 only, and precision=high keeps float layers in
    fp32 everywhere: FP16 (and INT8-weight) files are widened to fp32 at load, so their speed is
    fp32 speed. Static INT8 files run MNN's int8 kernels on any CPU."""
    arch = platform.machine()
    if arch.lower() in ("aarch64", "arm64"):
        return "precision=high (float layers in fp32)"
    return f"precision=high (float layers in fp32; no fp16 arithmetic on {arch})"


class _MnnModel:
    def __init__(self, path: str, threads: int):
        import MNN.expr as F
        import MNN.nn as nn

        self._F = F
        config = {"backend": "CPU", "numThread": threads, "precision": "high"}
        self._runtime = nn.create_runtime_manager((config,))
        # empty name lists: MNN takes the model's own inputs/outputs
        self.module = nn.load_module_from_file(path, [], [], runtime_manager=self._runtime)
        info = self.module.get_info()
        self._names = list(info["inputNames"])
        self._vars_info = list(info["inputs"])
        self.inputs = [TensorSpec(name, tuple(d if d > 0 else None for d in var.shape),
                                  _DTYPES.get(str(var.dtype).split(".")[-1], "float32"))
                       for name, var in zip(self._names, self._vars_info)]
        self.backend = f"CPU {threads} thread(s), {_compute_note()}"
        self._feed: list[Any] = []
        self._outputs: list[Any] = []
        self.forward = self.module.forward

    def set_inputs(self, feed: dict[str, Any]) -> None:
        import numpy as np

        F = self._F
        ordered = []
        for name, var in zip(self._names, self._vars_info):
            array = np.ascontiguousarray(feed[name])
            # MNN's own layout for this input (NCHW for ONNX sources, NHWC for TFLite)
            fmt = var.data_format if var.data_format != F.NC4HW4 else F.NCHW
            dtype = F.float if array.dtype == np.float32 else F.int
            ordered.append(F.const(array, list(array.shape), fmt, dtype))
        self._feed = ordered

    def invoke(self) -> None:
        self._outputs = self.forward(self._feed)

    def outputs(self) -> list[Any]:
        import numpy as np

        F = self._F
        result = []
        for var in self._outputs:
            if var.data_format == F.NC4HW4:  # MNN's packed internal layout: unpack for readers
                var = F.convert(var, F.NCHW)
            result.append(np.array(var.read(), copy=True).reshape(var.shape))
        return result


class MnnEngine:
    name = "mnn"
    formats = ("mnn",)

    def version(self) -> str | None:
        return dist_version("MNN", "mnn")

    def supports(self, artifact_format: str, device_profile: dict[str, Any]) -> Support:
        return format_support(self, artifact_format, device_profile)

    def load(self, path: str, threads: int) -> _MnnModel:
        return _MnnModel(path, threads)
