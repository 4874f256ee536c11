"""Inference engines behind one small interface; each module is imported only when used."""
from __future__ import annotations

import importlib

from ..errors import UsageError

# name -> "module:Class". One line per engine: a new engine is one module plus one line here.
REGISTRY: dict[str, str] = {
    "onnxruntime": "harness.engines.onnxruntime:OnnxRuntimeEngine",
    "tflite": "harness.engines.tflite:TFLiteEngine",
    "ncnn": "harness.engines.ncnn:NcnnEngine",
    "mnn": "harness.engines.mnn:MnnEngine",
    "coreml": "harness.engines.coreml:CoreMLEngine",
}

_instances: dict[str, object] = {}


def engine_names() -> list[str]:
    return list(REGISTRY)


def get_engine(name: str):
    """Return the engine object (cheap: engine modules import their runtime lazily)."""
    if name not in REGISTRY:
        raise UsageError(f"unknown engine {name!r}; valid engines: {', '.join(REGISTRY)}")
    if name not in _instances:
        module_name, _, class_name = REGISTRY[name].partition(":")
        _instances[name] = getattr(importlib.import_module(module_name), class_name)()
    return _instances[name]
