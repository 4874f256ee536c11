"""The variant build: source models -> per-engine-format FP32/FP16/INT8 artifacts + variants.json.

``python -m harness models build`` drives ``pipeline.build_model``; each converter family is one
module (onnx_variants, tflite_variants, ncnn, mnn, coreml) exporting ``RECIPES``; ``bridges``
holds the cross-format FP32 conversions (TFLite <-> ONNX), ``ncnn_int8`` ncnn's int8 writer,
``verify`` the build-time fidelity check, ``matrix`` the table the command prints last;
``index`` owns variants.json and the atomic moves. Converters are imported only when a recipe
runs.
"""
from __future__ import annotations

import os
from pathlib import Path


def default_build_dir(cache: Path | None = None) -> Path:
    """``$EDGELAB_BUILD``, else ``<cache>/build``: variants derive from the cached sources and
    are as large, so they live beside them, outside the repo, shared by every checkout."""
    if os.environ.get("EDGELAB_BUILD"):
        return Path(os.environ["EDGELAB_BUILD"]).expanduser()
    if cache is None:
        from ..fetch import default_cache_dir

        cache = default_cache_dir()
    return Path(cache) / "build"
