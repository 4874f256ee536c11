"""Calibration inputs for static INT8: real pictures, preprocessed exactly as the benchmark does.

Static quantization learns activation ranges from what it is fed; random tensors give ranges no
real picture produces, and the INT8 model then looks fine on noise and drifts on photos. So the
calibration set is scikit-image's bundled photos (offline), put through ``harness.models.inputs`` with the
model's own input spec. The model's benchmark picture comes first so its range is always covered.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ..inputs import make_feed
from ..manifest import InputSpec

# bundled in scikit-image's wheel (checked offline); varied content: faces, text, objects, texture
CALIBRATION_IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "text", "page", "camera",
                      "immunohistochemistry", "coins", "clock")


def calibration_feeds(inputs: Sequence[Any], spec: InputSpec, count: int = 8) -> list[dict[str, np.ndarray]]:
    """``count`` feeds (input name -> array) for a model whose inputs are ``inputs`` (TensorSpec)."""
    names = [spec.image] + [n for n in CALIBRATION_IMAGES if n != spec.image]
    feeds = []
    for name in names[:count]:
        feed, source = make_feed(inputs, dataclasses.replace(spec, image=name))
        if "synthetic" in source:
            raise RuntimeError("static INT8 calibration needs real images: install scikit-image "
                               "(pip install 'edgelab[engines]')")
        feeds.append(feed)
    return feeds
