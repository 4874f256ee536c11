"""Model variants (precisions) and the engine-format artifact each engine runs for a variant.

A *variant* is a precision recipe applied to a source model (fp32 = the source as shipped).
An *artifact* is the file one engine loads for that variant: the ONNX file for ONNX Runtime, the
.tflite for LiteRT, the .param (+ .bin beside it) for ncnn, the .mnn for MNN, the .mlpackage
for Core ML. ``python -m harness models build`` makes them and lists them in variants.json
(harness/build); this module only reads that index. A cell whose engine has no artifact for the
variant is ``unsupported`` with the recorded reason (no converter, conversion failed, not built).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build.index import VariantIndex
from ..errors import Unsupported
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
    precision: str = "fp32 (source as shipped)"
    compression_ratio: float | None = 1.0
    notes: dict[str, Any] | None = None  # build-time findings, e.g. which ORT kernels really run
    # how it was made from the source, one step per format: [{"format", "converter",
    # "version"}...]; the first step is the source. Only for artifacts converted from another
    # format than their own (a TFLite source's ncnn model: tflite -> onnx -> ncnn)
    chain: tuple[dict[str, Any], ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {"id": self.variant, "format": self.format, "path": str(self.path),
                "sha256": self.sha256, "bytes": self.bytes, "converter": self.converter,
                "precision": self.precision, "compression_ratio": self.compression_ratio}
        if self.notes:
            data["notes"] = self.notes
        if self.chain:
            data["chain"] = [dict(step) for step in self.chain]
        return data


_hash_cache: dict[tuple[str, float, int], str] = {}
_index_cache: dict[str, tuple[float, VariantIndex]] = {}


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_mtime, stat.st_size)
    if key not in _hash_cache:
        _hash_cache[key] = sha256_file(path)
    return _hash_cache[key]


def _index(build_dir: Path) -> VariantIndex | None:
    """variants.json, re-read only when it changed (one lookup per test cell)."""
    path = Path(build_dir) / "variants.json"
    if not path.is_file():
        return None
    mtime = path.stat().st_mtime
    cached = _index_cache.get(str(path))
    if cached is None or cached[0] != mtime:
        cached = (mtime, VariantIndex.load(build_dir))
        _index_cache[str(path)] = cached
    return cached[1]


def source_artifact(model: ModelSpec, source_path: Path) -> Artifact:
    return Artifact(model.name, "fp32", model.format, source_path,
                    model.sha256 or _cached_sha256(source_path), source_path.stat().st_size)


def build_command(model: ModelSpec, build_dir: Path | None = None) -> str:
    """The command that builds ``model``'s variants where this run looks for them, ready to
    paste: a local file by its absolute path (its name alone is no manifest entry), the input
    shapes it runs with (they shape calibration and conversion) and a non-default build dir."""
    from .build import default_build_dir

    argv = ["python", "-m", "harness", "models", "build", "--model",
            str(model.path) if model.adhoc and model.path else model.name]
    for name, dims in model.input.shapes:
        argv += ["--input-shape", f"{name}={'x'.join(map(str, dims))}"]
    if build_dir is not None and Path(build_dir).resolve() != default_build_dir().resolve():
        argv += ["--build-dir", str(build_dir)]
    return shlex.join(argv)


def resolve_artifact(model: ModelSpec, source_path: Path, variant: str, engine_format: str,
                     build_dir: Path | None = None) -> Artifact:
    """The file an engine of ``engine_format`` runs for ``model``/``variant``, or Unsupported."""
    if build_dir is None:
        from .build import default_build_dir

        build_dir = default_build_dir()
    index = _index(build_dir)
    entry = index.get(model.name, variant, engine_format) if index else None
    what = f"{variant} {engine_format} artifact of {model.name}"
    rebuild = f"`{build_command(model, build_dir)}`"
    if entry is None:
        if variant == "fp32" and engine_format == model.format:
            return source_artifact(model, source_path)  # the source needs no build
        raise Unsupported(f"no {what}: variants not built yet (run {rebuild})")
    if entry["status"] != "ok":
        raise Unsupported(f"no {what}: {entry['reason']}")
    source_sha = model.sha256 or _cached_sha256(source_path)
    if entry["source"]["sha256"] != source_sha:
        raise Unsupported(f"the {what} was built from another source file "
                          f"(sha256 {entry['source']['sha256'][:12]}, now {source_sha[:12]}): "
                          f"run {rebuild}")
    path = index.absolute(entry)
    if not index.is_current(entry, entry["key"]):
        raise Unsupported(f"the {what} is missing or changed on disk ({path}): run {rebuild}")
    converter = entry["converter"]
    return Artifact(model.name, variant, engine_format, path, entry["sha256"], entry["bytes"],
                    converter=f"{converter['name']} {converter['version'] or ''}".strip(),
                    precision=entry.get("precision", ""),
                    compression_ratio=entry.get("compression_ratio"), notes=entry.get("notes"),
                    chain=_chain(entry))


def _chain(entry: dict[str, Any]) -> tuple[dict[str, Any], ...] | None:
    """The steps from the source to this artifact when it crossed formats (else None)."""
    steps = entry.get("chain") or ()
    if len({step.get("format") for step in steps}) < 2:
        return None
    return tuple({k: step.get(k) for k in ("format", "converter", "version")} for step in steps)
