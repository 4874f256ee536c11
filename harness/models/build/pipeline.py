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
from ..fidelity import Thresholds
from ..manifest import ModelSpec, sha256_file
from .index import VariantIndex, build_key, entry_id, now_iso, tree_sha256
from .recipe import BuildContext, ConversionError, Recipe, tail
from .verify import Verifier, summary

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


@dataclass(frozen=True)
class Form:
    """An FP32 model in one format that recipes of that format read: the source file itself,
    or a converted FP32 artifact that passed its fidelity check."""
    format: str
    path: Path
    sha256: str
    chain: tuple[dict[str, Any], ...]   # the steps from the source file to this model
    entry_id: str | None = None         # None: the source file


def input_format(recipe: Recipe, origin_format: str) -> str:
    """The format of the model a recipe reads: the source's own when it can, else the first
    of its ``sources`` (a converted FP32 model of that format)."""
    return origin_format if origin_format in recipe.sources else recipe.sources[0]


def groups_of(recipes: Iterable[Recipe]) -> dict[tuple[str, str], list[Recipe]]:
    """Recipes by the cell they make, in order: the first that can run makes the cell."""
    grouped: dict[tuple[str, str], list[Recipe]] = {}
    for recipe in recipes:
        grouped.setdefault((recipe.format, recipe.variant), []).append(recipe)
    return grouped


def wanted_cells(groups: dict[tuple[str, str], list[Recipe]], plan: Plan,
                 origin_format: str) -> set[tuple[str, str]]:
    """The planned cells plus the FP32 cells they read from (a TFLite source's ncnn INT8
    reads ncnn FP32, which reads the ONNX FP32 made from the source)."""
    wanted = {cell for cell in groups if cell[1] in plan.variants and cell[0] in plan.formats}
    todo = list(wanted)
    while todo:
        cell = todo.pop()
        if any(origin_format in recipe.sources for recipe in groups[cell]):
            continue  # made from the source itself (the source's own FP32 cell, MNN...)
        for recipe in groups[cell]:
            needed = (input_format(recipe, origin_format), "fp32")
            if needed[0] != origin_format and needed != cell and needed in groups \
                    and needed not in wanted:
                wanted.add(needed)
                todo.append(needed)
    return wanted


def build_model(spec: ModelSpec, source: Path, index: VariantIndex, plan: Plan,
                log: Callable[[str], None] = print, recipes: list[Recipe] | None = None,
                thresholds: Thresholds | None = None, verifier: Verifier | None = None
                ) -> list[dict[str, Any]]:
    """Bring every planned entry of one model up to date; returns the entries with ``action``.

    Cells are made in recipe order; each FP32 cell in another format than the source's, once
    built and checked, is what that format's other cells are built from."""
    sha = spec.sha256 or sha256_file(source)
    ctx = BuildContext(spec=spec, source=source, source_sha256=sha, log=log)
    verifier = verifier or Verifier(spec, source, thresholds)
    forms = {spec.format: Form(spec.format, source, sha, (_source_step(spec, sha),))}
    problems: dict[str, str] = {}  # format -> why no FP32 model of it can be built from
    groups = groups_of(recipes if recipes is not None else all_recipes())
    wanted = wanted_cells(groups, plan, spec.format)
    results = []
    with index.locked():
        index.clean_leftovers(spec.name)
        for cell, group in groups.items():
            if cell not in wanted:
                continue
            entry, action = _build_cell(ctx, group, index, forms, problems, verifier)
            index.put(entry)
            index.save()
            results.append({**entry, "action": action})
            log(_line(entry, action))
            if cell[1] == "fp32" and cell[0] != spec.format:
                _take_form(entry, index, forms, problems)
    return results


def _source_step(spec: ModelSpec, sha: str) -> dict[str, Any]:
    return {"format": spec.format, "converter": "source", "sha256": sha}


def _take_form(entry: dict[str, Any], index: VariantIndex, forms: dict[str, Form],
               problems: dict[str, str]) -> None:
    """An FP32 cell just made: what its format's other cells are built from, or why not."""
    fmt = entry["format"]
    what = f"the fp32 {fmt} model"
    fidelity = entry.get("fidelity") or {}
    if entry["status"] != "ok":
        problems[fmt] = f"built from {what}, which could not be made: {entry['reason']}"
    elif fidelity.get("ok"):
        forms[fmt] = Form(fmt, index.absolute(entry), entry["sha256"],
                          tuple(entry.get("chain") or ()), entry["id"])
    elif fidelity.get("ok") is False:
        problems[fmt] = (f"built from {what} converted from the source, which does not compute "
                         f"what the source computes ({fidelity.get('reason')}): not built from a "
                         f"wrong model")
    else:
        problems[fmt] = (f"built from {what} converted from the source, whose outputs could not "
                         f"be checked against the source's ({fidelity.get('reason')})")


def _choose(group: list[Recipe], forms: dict[str, Form], problems: dict[str, str],
            origin_format: str) -> tuple[Recipe, Form | None, str | None]:
    """The first recipe of a cell that can run (its input exists, its converter is there);
    else the most telling reason the cell cannot be made: a converter missing for an input
    that exists, else an input missing for a converter that is there, else the first."""
    options = []
    for recipe in group:
        fmt = input_format(recipe, origin_format)
        form = forms.get(fmt)
        converter = recipe.blocked_reason(fmt)
        if converter is None and form is not None:
            return recipe, form, None
        missing = None if form is not None else (
            problems.get(fmt) or f"no fp32 {fmt} model of this {origin_format} source")
        options.append((recipe, form, converter, missing))
    for recipe, form, converter, missing in options:
        if form is not None:
            return recipe, form, converter
    for recipe, form, converter, missing in options:
        if converter is None:
            return recipe, form, missing
    recipe, form, converter, missing = options[0]
    return recipe, form, converter or missing


def _build_cell(ctx: BuildContext, group: list[Recipe], index: VariantIndex,
                forms: dict[str, Form], problems: dict[str, str], verifier: Verifier
                ) -> tuple[dict, str]:
    recipe, form, blocked = _choose(group, forms, problems, ctx.origin_format)
    version = recipe.version()
    params = {"format": recipe.format, "variant": recipe.variant, **recipe.params,
              **({"requires": recipe.tool_versions()} if recipe.requires else {}),
              **_shape_params(ctx.spec)}
    if form is not None and form.entry_id is not None:
        params["input"] = {"format": form.format, "sha256": form.sha256}
    if blocked:
        params["blocked"] = blocked
    key = build_key(ctx.origin_sha256, recipe.converter, version, params)
    existing = index.get(ctx.spec.name, recipe.variant, recipe.format)
    if index.is_current(existing, key):
        return existing, "cached"
    entry = _base_entry(ctx, recipe, version, key)
    if blocked:
        return {**entry, "status": "unconvertible", "reason": blocked}, "unconvertible"
    assert form is not None
    step = {"format": recipe.format, "converter": recipe.converter, "version": version}
    entry["chain"] = [*form.chain, step] if recipe.converter != "source" else list(form.chain)
    entry["input"] = {"format": form.format, "sha256": form.sha256,
                      "entry": form.entry_id or "source"}
    view = ctx.reading(form.path, form.format)
    view.notes = {}
    started = time.perf_counter()
    if recipe.converter == "source":
        path = ctx.origin
        fidelity = {"ok": True, "reason": None, "reference": True}
    else:
        try:
            with index.staging(ctx.spec.name) as staged:
                produced = recipe.convert(view, staged)
                fidelity = verifier.check(produced, recipe.format)
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
            "notes": dict(view.notes), "fidelity": fidelity,
            "build_s": round(time.perf_counter() - started, 2)}, \
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
            "source": {"path": str(ctx.origin), "sha256": ctx.origin_sha256,
                       "format": ctx.origin_format, "bytes": ctx.origin.stat().st_size},
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
        fidelity = entry.get("fidelity") or {}
        verdict = ("" if fidelity.get("reference") else
                   f"  {summary(fidelity)}{'  DRIFT' if fidelity.get('ok') is False else ''}")
        return f"{head} {entry['bytes']:>10,} B  x{entry['compression_ratio']:.2f}{verdict}"
    return f"{head} {entry['reason']}"
