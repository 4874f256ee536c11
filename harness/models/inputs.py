"""Model inputs from real pictures, shaped and scaled for each model.

Images come from scikit-image's bundled samples (offline, no hub). Without scikit-image a
deterministic gradient stands in and the record says so (``input_source``): latency barely depends
on pixel content, but fidelity checks need real images and say so when they lack them.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .manifest import InputSpec


def load_image(name: str) -> tuple[np.ndarray, str]:
    """Return an HxWx3 uint8 image and a label of where it came from."""
    try:
        import skimage.data

        image = getattr(skimage.data, name)()
        source = f"skimage.data.{name}"
    except (ImportError, AttributeError):
        y, x = np.mgrid[0:256, 0:256]
        image = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)
        source = "synthetic gradient (scikit-image not installed)"
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3].astype(np.uint8), source


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = (np.arange(height) * image.shape[0] / height).astype(int)
    cols = (np.arange(width) * image.shape[1] / width).astype(int)
    return image[rows][:, cols]


def concrete_shape(model_shape: Sequence[Any], spec: InputSpec) -> tuple[int, ...]:
    """The model's declared shape with dynamic dims taken from the manifest (or defaults)."""
    if spec.shape is not None:
        return tuple(spec.shape)
    defaults = (1, 3, 224, 224) if spec.layout == "NCHW" else (1, 224, 224, 3)
    dims = list(model_shape)
    return tuple(d if isinstance(d, int) and d > 0 else defaults[i] if i < 4 else 1
                 for i, d in enumerate(dims))


def make_feed(inputs, spec: InputSpec) -> tuple[dict[str, np.ndarray], str]:
    """Arrays for every model input; the first image-like input gets the real picture."""
    feed, sources = {}, []
    for tensor in inputs:
        shape = concrete_shape(tensor.shape, spec)
        feed[tensor.name], source = _tensor_for(shape, tensor.dtype, spec)
        sources.append(source)
    return feed, "; ".join(sorted(set(sources)))


def _tensor_for(shape: tuple[int, ...], dtype: str, spec: InputSpec) -> tuple[np.ndarray, str]:
    is_image = len(shape) == 4 and (shape[1] == 3 if spec.layout == "NCHW" else shape[3] == 3)
    if not is_image:
        # non-image inputs (states, lengths): zeros are what callers start from
        return np.zeros(shape, dtype=dtype), "zeros"
    height, width = (shape[2], shape[3]) if spec.layout == "NCHW" else (shape[1], shape[2])
    image, source = load_image(spec.image)
    pixels = resize_nearest(image, height, width).astype(np.float32) / 255.0
    lo, hi = spec.range
    pixels = lo + pixels * (hi - lo)
    if np.dtype(dtype).kind in "iu":  # quantized inputs take raw 0..255 pixels
        pixels = resize_nearest(image, height, width).astype(np.float32)
    if spec.layout == "NCHW":
        pixels = pixels.transpose(2, 0, 1)
    batch = np.broadcast_to(pixels, shape).astype(dtype)
    return np.ascontiguousarray(batch), source
