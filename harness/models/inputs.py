"""Model inputs from real pictures, shaped and scaled for each model.

Images come from scikit-image's bundled samples (offline, no hub). Without scikit-image a
deterministic gradient stands in and the record says so (``input_source``): latency barely depends
on pixel content, but fidelity checks need real images and say so when they lack them.

Shapes: an input's shape is the one given for it (``--input-shape NAME=DIMS``, then the manifest's
``input.shape``), else the model's own with dynamic dims guessed (batch 1, 3 channels, 224x224);
``guessed_dims`` lists what was guessed so records, terminal and report can say so.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .memo import read_memo, write_memo

from .manifest import InputSpec, TensorSpec


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


GUESS_NCHW = (1, 3, 224, 224)
GUESS_NHWC = (1, 224, 224, 3)


def is_dynamic(dim: Any) -> bool:
    # None / "height" / "?" from ONNX Runtime and MNN, -1 from paddle2onnx and TFLite signatures
    return not (isinstance(dim, int) and dim > 0)


def concrete_shape(model_shape: Sequence[Any], spec: InputSpec,
                   name: str | None = None) -> tuple[int, ...]:
    """The shape an input gets: the one given for it (``--input-shape``, then the manifest),
    else the model's declared shape with dynamic dims guessed (see ``guessed_dims``)."""
    named = dict(spec.shapes).get(name) if name is not None else None
    if named is not None:
        check_given_shape(name, named, model_shape)
        return tuple(named)
    if spec.shape is not None:
        return tuple(spec.shape)
    defaults = GUESS_NCHW if spec.layout == "NCHW" else GUESS_NHWC
    return tuple(defaults[i] if is_dynamic(d) and i < 4 else 1 if is_dynamic(d) else d
                 for i, d in enumerate(model_shape))


def check_given_shape(name: str | None, given: Sequence[int], model_shape: Sequence[Any]) -> None:
    """A given shape must fit the model: same rank, same fixed dims. Caught here it names the
    input; the engine's own error would come later and name neither."""
    if not model_shape:
        return  # rank unknown (some engines report none): the engine checks
    if len(given) != len(model_shape) or any(not is_dynamic(d) and d != g
                                             for d, g in zip(model_shape, given)):
        shown = "x".join("?" if is_dynamic(d) else str(d) for d in model_shape)
        raise ValueError(f"input {name}: shape {'x'.join(map(str, given))} does not fit the "
                         f"model's {shown} (? = dynamic)")


def guessed_dims(inputs, spec: InputSpec) -> dict[str, list[int]]:
    """Inputs whose dynamic dims nobody gave: name -> the shape they get. Benchmarks of a guessed
    shape time a different computation than the user's, so every caller says so."""
    return {t.name: list(concrete_shape(t.shape, spec, t.name)) for t in inputs
            if spec.shape_for(t.name) is None and any(is_dynamic(d) for d in t.shape)}


def guess_warning(guessed: dict[str, list[int]]) -> str:
    shapes = ", ".join(f"{name}={'x'.join(map(str, dims))}" for name, dims in guessed.items())
    return (f"dynamic input dims guessed: {shapes}; give the real shape with --input-shape "
            f"NAME=DIMS")


def declared_inputs(path, fmt: str) -> list[TensorSpec]:
    """The inputs a model file declares, dynamic dims as None / their name / -1; [] when this
    machine cannot read the format (then nothing can be checked or guessed ahead of the run).

    Kept on disk per file (path, size, mtime): reading them takes the onnx package or the LiteRT
    interpreter (~1 s of imports), which every xdist worker would otherwise pay for the same few
    files, while the phone it drives needs neither (benchmarks/farm_scale.py)."""
    readers = {"onnx": _onnx_inputs, "tflite": _tflite_inputs}
    if fmt not in readers:
        return []
    cache = _facts_file(Path(path), fmt)
    known = read_memo(cache) if cache is not None else None
    if known is not None:
        try:
            return [TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in known]
        except (KeyError, TypeError):
            pass  # a damaged cache entry: read the model again
    try:
        found = readers[fmt](str(path))
    except ImportError:
        return []
    if cache is not None and found:  # [] may be a file the engine reports: not worth keeping
        write_memo(cache, [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
                           for t in found])
    return found


def _facts_file(path: Path, fmt: str) -> Path | None:
    """Where this file's declared inputs are kept: keyed by its resolved path, size and mtime, so
    a rewritten model is read again."""
    from .fetch import default_cache_dir

    try:
        stat = path.stat()
    except OSError:
        return None
    key = f"1|{fmt}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"  # 1: this layout
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return default_cache_dir() / "derived" / "declared-inputs" / f"{digest}.json"


def _onnx_inputs(path: str) -> list[TensorSpec]:
    import onnx

    try:
        graph = onnx.load(path, load_external_data=False).graph
    except Exception:  # DecodeError and friends (no common base): the engine reports the file
        return []
    weights = {init.name for init in graph.initializer}
    return [TensorSpec(i.name, tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0
                                     else (d.dim_param or None)
                                     for d in i.type.tensor_type.shape.dim), "float32")
            for i in graph.input if i.name not in weights]


def _tflite_inputs(path: str) -> list[TensorSpec]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
    try:
        details = Interpreter(model_path=path).get_input_details()
    except (ValueError, RuntimeError):  # not a flatbuffer LiteRT reads: the engine reports it
        return []
    # shape_signature keeps -1 for dynamic dims; shape has them as 1 already
    return [TensorSpec(d["name"], tuple(int(v) for v in d.get("shape_signature", d["shape"])),
                       "float32") for d in details]


def check_input_shapes(specs: dict, paths: dict, given) -> list[str]:
    """Before anything runs: every ``--input-shape`` name must be an input of some chosen model and
    fit it (UsageError otherwise); returns one line per model whose dynamic dims will be guessed.

    ``specs``: name -> ModelSpec, ``paths``: name -> source file, ``given``: (name, dims) pairs."""
    from ..errors import UsageError

    found: dict[str, list] = {}
    unreadable = False
    lines = []
    for name, spec in specs.items():
        inputs = declared_inputs(paths[name], spec.format)
        unreadable |= not inputs
        for tensor in inputs:
            found.setdefault(tensor.name, []).append((name, tensor))
        guessed = guessed_dims(inputs, spec.input)
        if guessed:
            lines.append(f"{name}: {guess_warning(guessed)}")
    for input_name, dims in given:
        for model, tensor in found.get(input_name, []):
            try:
                check_given_shape(input_name, dims, tensor.shape)
            except ValueError as exc:
                raise UsageError(f"--input-shape {input_name}=...: {model}'s {exc}") from None
        if input_name not in found and not unreadable:
            names = ", ".join(sorted(found)) or "none"
            raise UsageError(f"--input-shape {input_name}: no model input has that name "
                             f"(inputs of {', '.join(specs)}: {names})")
    return lines


def make_feed(inputs, spec: InputSpec) -> tuple[dict[str, np.ndarray], str]:
    """Arrays for every model input; the first image-like input gets the real picture."""
    feed, sources = {}, []
    for tensor in inputs:
        shape = concrete_shape(tensor.shape, spec, tensor.name)
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
