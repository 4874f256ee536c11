"""Model variants (precisions) and the engine-format artifact each engine runs for a variant.

A *variant* is a precision recipe applied to a source model (fp32 = the source as shipped).
An *artifact* is the file one engine loads for that variant: the ONNX file for ONNX Runtime, the
.tflite for LiteRT, and so on. A cell whose engine has no artifact for the variant is
``unsupported`` with the reason (e.g. no converter, conversion failed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Unsupported
from .manifest import ModelSpec, sha256_file

VARIANTS: dict[str, str] = {
    "fp32": "the source model as shipped (float32)",
    "fp16": "float16 weights (and compute where the engine supports it)",
    "int8": "INT8 static quantization, calibrated on real inputs",
    "int8-dynamic": "INT8 weights, activations quantized at run time",
    "int8-weight": "INT8 weights only, float compute",
}


@dataclass(frozen=True)
class Artifact:
    model: str
    variant: str
    format: str
    path: Path
    sha256: str
    bytes: int
    converter: str = "source"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.variant, "format": self.format, "path": str(self.path),
                "sha256": self.sha256, "bytes": self.bytes, "converter": self.converter}


_hash_cache: dict[tuple[str, float, int], str] = {}


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_mtime, stat.st_size)
    if key not in _hash_cache:
        _hash_cache[key] = sha256_file(path)
    return _hash_cache[key]


def resolve_artifact(model: ModelSpec, source_path: Path, variant: str, engine_format: str) -> Artifact:
    """The file an engine of ``engine_format`` runs for ``model``/``variant``, or Unsupported."""
    if variant == "fp32" and engine_format == model.format:
        return Artifact(model.name, variant, model.format, source_path,
                        model.sha256 or _cached_sha256(source_path), source_path.stat().st_size)
    if variant == "fp32":
        raise Unsupported(f"no {engine_format} artifact of {model.name}: the source is "
                          f"{model.format} and no conversion to {engine_format} is available")
    raise Unsupported(f"no {variant} {engine_format} artifact of {model.name}: variant builds "
                      f"are not available yet")
