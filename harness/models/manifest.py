"""``models/manifest.toml``: which source models exist, where they come from, what they eat.

A model can also be given ad hoc as a file path (``--model ./mine.onnx``): it then has no
package or checksum, its name is the file's stem and its input shape is read from the model
itself; ``--input-shape NAME=DIMS`` fixes dims the model leaves dynamic (``InputSpec.shapes``).
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError

FORMATS = {".onnx": "onnx", ".tflite": "tflite"}
TASKS = ("classification", "detection", "landmarks", "segmentation", "other")
_MODEL_KEYS = {"format", "task", "description", "package", "member", "sha256", "licence", "input",
               "path"}
_INPUT_KEYS = {"shape", "layout", "image", "range"}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor as a model file declares it."""
    name: str
    shape: tuple[Any, ...]  # ints, or None/str for dynamic dims
    dtype: str              # numpy dtype name


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...] | None = None  # manifest: the shape of every input
    layout: str = "NCHW"
    image: str = "astronaut"
    range: tuple[float, float] = (0.0, 1.0)
    # --input-shape: (input name, dims) pairs; they win over ``shape`` for the inputs they name
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def shape_for(self, name: str | None) -> tuple[int, ...] | None:
        """The shape the user gave for this input, or None (then dynamic dims are guessed)."""
        return dict(self.shapes).get(name, self.shape) if name is not None else self.shape

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "InputSpec":
        """Back from ``dataclasses.asdict`` after a JSON round trip (lists instead of tuples)."""
        shape = data.get("shape")
        return cls(shape=tuple(shape) if shape else None, layout=data.get("layout", "NCHW"),
                   image=data.get("image", "astronaut"),
                   range=tuple(data.get("range", (0.0, 1.0))),
                   shapes=tuple((str(n), tuple(int(d) for d in dims))
                                for n, dims in data.get("shapes") or ()))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    format: str
    task: str = "other"
    description: str = ""
    package: str | None = None
    member: str | None = None
    sha256: str | None = None
    licence: str = ""
    path: Path | None = None  # local file models (ad hoc or manifest `path = ...`)
    input: InputSpec = field(default_factory=InputSpec)
    adhoc: bool = False  # given as a file path (--model ./mine.onnx), not a manifest entry

    @property
    def filename(self) -> str:
        if self.member:
            return Path(self.member).name
        return self.path.name if self.path else f"{self.name}.{self.format}"

    def as_dict(self) -> dict[str, Any]:
        # the shapes a run fed are in each record's extra.input_shapes
        return {"name": self.name, "format": self.format, "task": self.task,
                "source": self.package or (str(self.path) if self.path else None),
                "sha256": self.sha256}

    def with_input_shapes(self, shapes: tuple[tuple[str, tuple[int, ...]], ...]) -> "ModelSpec":
        return replace(self, input=replace(self.input, shapes=tuple(shapes)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(path: Path) -> dict[str, ModelSpec]:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"model manifest {path} not found: run from the edgelab repo or pass "
                         f"--edgelab-manifest PATH") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"model manifest {path} is not valid TOML: {exc}") from None
    return {name: _model_from_table(name, table, Path(path)) for name, table in data.items()}


def _model_from_table(name: str, table: dict[str, Any], manifest: Path) -> ModelSpec:
    where = f"{manifest} [{name}]"
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table of model keys, got {table!r}")
    unknown = set(table) - _MODEL_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {sorted(unknown)}; valid: {sorted(_MODEL_KEYS)}")
    fmt = table.get("format")
    if fmt not in FORMATS.values():
        raise UsageError(f"{where}: format {fmt!r} is not one of {sorted(FORMATS.values())}")
    task = table.get("task", "other")
    if task not in TASKS:
        raise UsageError(f"{where}: task {task!r} is not one of {list(TASKS)}")
    has_package = bool(table.get("package") and table.get("member") and table.get("sha256"))
    if not has_package and "path" not in table:
        raise UsageError(f"{where}: give either package + member + sha256 or a local path")
    local = (manifest.parent / table["path"]).resolve() if "path" in table else None
    return ModelSpec(name=name, format=fmt, task=task, description=table.get("description", ""),
                     package=table.get("package"), member=table.get("member"),
                     sha256=table.get("sha256"), licence=table.get("licence", ""), path=local,
                     input=_input_from_table(table.get("input", {}), where))


def _input_from_table(table: dict[str, Any], where: str) -> InputSpec:
    unknown = set(table) - _INPUT_KEYS
    if unknown:
        raise UsageError(f"{where}.input: unknown key(s) {sorted(unknown)}; valid: {sorted(_INPUT_KEYS)}")
    shape = table.get("shape")
    if shape is not None and not all(isinstance(d, int) and d > 0 for d in shape):
        raise UsageError(f"{where}.input: shape {shape!r} must be positive integers")
    layout = table.get("layout", "NCHW")
    if layout not in ("NCHW", "NHWC"):
        raise UsageError(f"{where}.input: layout {layout!r} must be NCHW or NHWC")
    lo, hi = table.get("range", (0.0, 1.0))
    return InputSpec(shape=tuple(shape) if shape else None, layout=layout,
                     image=table.get("image", "astronaut"), range=(float(lo), float(hi)))


def adhoc_model(path_text: str) -> ModelSpec:
    """A model given on the command line as a file path."""
    path = Path(path_text).expanduser().resolve()
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"--model {path_text}: unknown model file type {path.suffix!r}; "
                         f"supported: {', '.join(FORMATS)}")
    if not path.is_file():
        raise UsageError(f"--model {path_text}: no such file")
    layout = "NHWC" if fmt == "tflite" else "NCHW"
    return ModelSpec(name=path.stem, format=fmt, path=path, input=InputSpec(layout=layout),
                     adhoc=True)


def is_model_path(name: str) -> bool:
    """``--model`` takes manifest names and file paths; a path has a suffix and exists or has a
    directory part (so a typo'd ``./mine.onxx`` gets "unknown file type", not "unknown model")."""
    return bool(Path(name).suffix) and (Path(name).exists() or "/" in name)


def resolve_model(name: str, manifest: dict[str, ModelSpec]) -> ModelSpec:
    """A ``--model`` value: a manifest entry or a local file (the same rule for ``pytest`` and
    ``python -m harness models``, so a model one front door takes the other takes too)."""
    if name in manifest:
        return manifest[name]
    if not is_model_path(name):
        raise UsageError(f"--model: unknown model {name!r}; valid: {', '.join(manifest)} "
                         f"(or a path to a .onnx/.tflite file)")
    spec = adhoc_model(name)
    if spec.name in manifest:  # one name would stand for two files in records and variants.json
        raise UsageError(f"--model {name}: its name {spec.name!r} is a model of the manifest; "
                         f"rename the file (e.g. {spec.name}_local{Path(name).suffix})")
    return spec
