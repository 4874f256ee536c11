"""Core ML (coremltools) — runs only on Apple platforms.

On Linux/Windows/Android every cell is ``unsupported`` with that reason: coremltools can build
and inspect a package anywhere but ``predict`` needs the Core ML framework of macOS/iOS. On a
Mac host the model is loaded and run with coremltools (CPU only, so numbers compare with the
other CPU engines); iPhones are measured device-side.
"""
from __future__ import annotations

import platform
import sys
from typing import Any

from .base import Support, TensorSpec, dist_version, format_support

_COMPUTE_UNITS = "CPU_ONLY"


def _is_apple(profile: dict[str, Any]) -> bool:
    text = " ".join(str(profile.get(k, "")) for k in ("os", "kind", "platform")).lower()
    return any(word in text for word in ("macos", "darwin", "ios", "iphone"))


class _CoreMLModel:
    def __init__(self, path: str, threads: int):
        import coremltools as ct

        self.model = ct.models.MLModel(path, compute_units=getattr(ct.ComputeUnit, _COMPUTE_UNITS))
        spec = self.model.get_spec()
        self.inputs = [TensorSpec(i.name, tuple(i.type.multiArrayType.shape), "float32")
                       for i in spec.description.input]
        self._out_names = [o.name for o in spec.description.output]
        # Core ML has no thread count knob: it picks its own; the record says so
        self.backend = f"Core ML {_COMPUTE_UNITS} (threads chosen by Core ML, asked {threads})"
        self._feed: dict[str, Any] = {}
        self._outputs: dict[str, Any] = {}

    def set_inputs(self, feed: dict[str, Any]) -> None:
        self._feed = feed

    def invoke(self) -> None:
        self._outputs = self.model.predict(self._feed)

    def outputs(self) -> list[Any]:
        return [self._outputs[name] for name in self._out_names]


class CoreMLEngine:
    name = "coreml"
    formats = ("coreml",)

    def version(self) -> str | None:
        return dist_version("coremltools")

    def supports(self, artifact_format: str, device_profile: dict[str, Any]) -> Support:
        if not _is_apple(device_profile):
            where = device_profile.get("os") or device_profile.get("kind") or platform.system()
            return Support(False, f"Core ML runs only on macOS/iOS (this device: {where})")
        if device_profile.get("kind") == "host" and sys.platform != "darwin":
            return Support(False, "Core ML runs only on macOS/iOS")
        return format_support(self, artifact_format)

    def load(self, path: str, threads: int) -> _CoreMLModel:
        if sys.platform != "darwin":
            raise RuntimeError("Core ML runs only on macOS/iOS: coremltools cannot predict here")
        return _CoreMLModel(path, threads)
