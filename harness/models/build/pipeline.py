"""Build every (variant x engine format) of each source model into the build dir + variants.json.

One recipe at a time: a recipe whose key (source sha256 + converter version + recipe params)
matches its index entry is skipped, a recipe that cannot apply or whose converter fails becomes
an ``unconvertible`` entry with the reason, and the index is saved after every entry so an
interrupted build keeps what it finished.
"""
from __future__ import annotations

import importlib
import time
import tomllib
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ...errors import UsageError
from ..manifest import ModelSpec, sha256_file
from .index import VariantIndex, build_key, entry_id, now_iso, tree_sha256
from .recipe import BuildContext, ConversionError, Recipe, tail

FAMILIES = ("onnx_variants", "tflite_variants", "ncnn", "mnn", "coreml")
FORMATS = ("onnx", "tflite", "ncnn", "mnn", "coreml")


def all_recipes() -> list[Recipe]:
    recipes: list[Recipe] = []
    for family in FAMILIES:
        recipes.extend(importlib.import_module(f"harness.models.build.{family}").RECIPES)
    return recipes


@dataclass(frozen=True)
class Plan:
    """Which variants and formats to build for one model (models/variants.toml)."""
    variants: tuple[str, ...]
    formats: tuple[str, ...]


def load_plan(path: Path | None, models: Iterable[str]) -> dict[str, Plan]:
    """Per-model build plan; every model gets everything unless variants.toml narrows it.

    ``[default]`` and ``[<model>]`` tables take ``variants = [...]`` and ``formats = [...]``;
    an unknown variant, format, key or model is an error naming the entry."""
    from ..variants import VARIANTS

    data: dict[str, Any] = {}
    if path is not None and Path(path).is_file():
        try:
            data = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path} is not valid TOML: {exc}") from None
    models = list(models)
    for name, table in data.items():
        where = f"{path} [{name}]"
        if name != "default" and name not in models:
            raise UsageError(f"{where}: unknown model {name!r}; valid: default, {', '.join(models)}")
        if not isinstance(table, dict) or set(table) - {"variants", "formats"}:
            raise UsageError(f"{where}: expected only `variants = [...]` and `formats = [...]`")
        for key, valid in (("variants", list(VARIANTS)), ("formats", list(FORMATS))):
            unknown = [v for v in table.get(key, []) if v not in valid]
            if unknown:
                raise UsageError(f"{where}: unknown {key[:-1]} {', '.join(map(repr, unknown))}; "
                                 f"valid: {', '.join(valid)}")
    default = data.get("default", {})
    plans = {}
    for name in models:
        table = {**default, **data.get(name, {})}
        plans[name] = Plan(tuple(table.get("variants", VARIANTS)), tuple(table.get("formats", FORMATS)))
    return plans


def build_model(spec: ModelSpec, source: Path, index: VariantIndex, plan: Plan,
                log: Callable[[str], None] = print, recipes: list[Recipe] | None = None
                ) -> list[dict[str, Any]]:
    """Bring every planned entry of one model up to date; returns the entries with ``action``."""
    ctx = BuildContext(spec=spec, source=source, source_sha256=spec.sha256 or sha256_file(source),
                       log=log)
    results = []
    with index.locked():
        index.clean_leftovers(spec.name)
        for recipe in recipes if recipes is not None else all_recipes():
            if recipe.variant not in plan.variants or recipe.format not in plan.formats:
                continue
            entry, action = _build_one(ctx, recipe, index)
            index.put(entry)
            index.save()
            results.append({**entry, "action": action})
            log(_line(entry, action))
    return results


def _build_one(ctx: BuildContext, recipe: Recipe, index: VariantIndex) -> tuple[dict, str]:
    version = recipe.version()
    key = build_key(ctx.source_sha256, recipe.converter, version,
                    {"format": recipe.format, "variant": recipe.variant, **recipe.params,
                     **({"requires": recipe.tool_versions()} if recipe.requires else {}),
                     **_shape_params(ctx.spec)})
    existing = index.get(ctx.spec.name, recipe.variant, recipe.format)
    if index.is_current(existing, key):
        return existing, "cached"
    entry = _base_entry(ctx, recipe, version, key)
    blocked = recipe.blocked_reason(ctx.source_format)
    if blocked:
        return {**entry, "status": "unconvertible", "reason": blocked}, "unconvertible"
    started = time.perf_counter()
    ctx.notes = {}
    if recipe.converter == "source":
        path = ctx.source
    else:
        try:
            with index.staging(ctx.spec.name) as staged:
                produced = recipe.convert(ctx, staged)
                final = index.publish(staged, ctx.spec.name, recipe.format, recipe.variant)
                path = final / produced.relative_to(staged)
        except Exception as exc:  # any converter failure costs this variant only
            return {**entry, "status": "unconvertible", "reason": _reason(recipe, exc),
                    "build_s": round(time.perf_counter() - started, 2)}, "failed"
    digest, size = tree_sha256(path)
    source_bytes = entry["source"]["bytes"]
    rel = path.relative_to(index.build_dir) if path.is_relative_to(index.build_dir) else path
    return {**entry, "status": "ok", "path": str(rel), "sha256": digest, "bytes": size,
            "compression_ratio": round(source_bytes / size, 3) if size else None,
            "notes": dict(ctx.notes), "build_s": round(time.perf_counter() - started, 2)}, \
        "source" if recipe.converter == "source" else "built"


def _shape_params(spec: ModelSpec) -> dict[str, Any]:
    """--input-shape values shape calibration and conversion (pnnx's inputshape): another shape
    is another build. Absent when none is given, so earlier keys stay valid."""
    if not spec.input.shapes:
        return {}
    return {"input_shapes": {name: list(dims) for name, dims in spec.input.shapes}}


def _base_entry(ctx: BuildContext, recipe: Recipe, version: str | None, key: str) -> dict:
    return {"id": entry_id(ctx.spec.name, recipe.variant, recipe.format), "model": ctx.spec.name,
            **_shape_params(ctx.spec),
            "variant": recipe.variant, "format": recipe.format, "precision": recipe.precision,
            "source": {"path": str(ctx.source), "sha256": ctx.source_sha256,
                       "format": ctx.source_format, "bytes": ctx.source.stat().st_size},
            "converter": {"name": recipe.converter, "version": version},
            "recipe": recipe.params, "key": key, "status": None, "reason": None, "path": None,
            "sha256": None, "bytes": None, "compression_ratio": None, "built_at": now_iso()}


def _reason(recipe: Recipe, exc: Exception) -> str:
    if isinstance(exc, ConversionError):
        return str(exc)[:500]
    where = traceback.extract_tb(exc.__traceback__)[-1]
    message = tail(str(exc), lines=2, chars=300) or type(exc).__name__
    return (f"{recipe.converter} {recipe.variant} failed: {type(exc).__name__}: {message} "
            f"(at {Path(where.filename).name}:{where.lineno})")


def _line(entry: dict[str, Any], action: str) -> str:
    head = f"{entry['model']:<15} {entry['format']:<7} {entry['variant']:<13} {action:<13}"
    if entry["status"] == "ok":
        return f"{head} {entry['bytes']:>10,} B  x{entry['compression_ratio']:.2f}"
    return f"{head} {entry['reason']}"
