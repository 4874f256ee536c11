from __future__ import annotations

from pathlib import Path

from ..config import merge_input_shapes, parse_input_shapes
from ..models.fetch import cached_path, default_cache_dir, fetch
from ..models.manifest import ModelSpec, is_model_path, load_manifest, resolve_model

HELP = "list, fetch or build (variants per engine format) the models of models/manifest.toml"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["list", "fetch", "build"],
                        help="list models, fetch them, or build their variants (fetches first)")
    parser.add_argument("--model", action="append",
                        help="only this model: a manifest name or a path to a .onnx/.tflite file, "
                             "as pytest's --model takes it (repeatable)")
    parser.add_argument("--input-shape", action="append", type=parse_input_shapes, metavar="NAME=DIMS",
                        help="shape of a model input with dynamic dims, e.g. x=1x3x48x192 "
                             "(repeatable or comma-separated): conversion and INT8 calibration "
                             "use it; without it such dims are guessed (1x3x224x224)")
    parser.add_argument("--manifest", type=Path, default=Path("models/manifest.toml"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache dir (default $EDGELAB_CACHE or ~/.cache/edgelab)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where variants go (default $EDGELAB_BUILD or <cache>/build)")
    parser.add_argument("--plan", type=Path, default=Path("models/variants.toml"),
                        help="which variants/formats to build per model (default "
                             "models/variants.toml; everything when absent)")


def run(args) -> int:
    manifest = _manifest(args)
    shapes = merge_input_shapes(args.input_shape)
    specs = chosen_models(args.model or list(manifest), manifest, shapes)
    cache = args.cache or default_cache_dir()
    if args.action == "build":
        return _build(args, manifest, specs, cache, shapes)
    for name, spec in specs.items():
        if args.action == "fetch":
            path = fetch(spec, cache)
            print(f"{name:<16} ok  {path}")
        else:
            path = cached_path(spec, cache)
            state = "fetched" if path.is_file() else "not fetched"
            print(f"{name:<16} {spec.format:<7} {state:<12} {spec.package or spec.path}  {spec.description}")
    return 0


def _manifest(args) -> dict[str, ModelSpec]:
    """The manifest; not needed when every --model is a local file, so the build command a
    pytest run prints for one works from any directory."""
    if args.model and all(is_model_path(m) for m in args.model) and not args.manifest.is_file():
        return {}
    return load_manifest(args.manifest)


def chosen_models(names, manifest: dict[str, ModelSpec], shapes) -> dict[str, ModelSpec]:
    """Manifest names and local files, each once, with the given input shapes attached."""
    specs = {}
    for name in dict.fromkeys(names):
        spec = resolve_model(name, manifest).with_input_shapes(shapes)
        specs[spec.name] = spec
    return specs


def _build(args, manifest, specs: dict[str, ModelSpec], cache: Path, shapes) -> int:
    from ..config import read_pyproject_defaults
    from ..models.build import default_build_dir
    from ..models.build.index import VariantIndex
    from ..models.build.matrix import render
    from ..models.build.pipeline import build_model, load_plan
    from ..models.fidelity import Thresholds
    from ..models.inputs import check_input_shapes, declared_inputs
    from ..models.variants import VARIANTS

    plans = load_plan(args.plan, [*manifest, *(n for n in specs if n not in manifest)])
    build_dir = args.build_dir or default_build_dir(cache)
    index = VariantIndex.load(build_dir)
    sources = {name: fetch(spec, cache) for name, spec in specs.items()}
    for line in check_input_shapes(specs, sources, shapes):
        print(f"edgelab: {line}")  # before converting: calibration and pnnx use these shapes
    # the run-time fidelity thresholds judge each artifact at build time too
    thresholds = Thresholds.from_table(read_pyproject_defaults(Path.cwd()).get("fidelity"))
    counts: dict[str, int] = {}
    entries = []
    for name, spec in specs.items():
        names = {t.name for t in declared_inputs(sources[name], spec.format)}
        # only this model's own inputs key its build: a shape for another model rebuilds nothing
        spec = spec.with_input_shapes([(n, d) for n, d in shapes if not names or n in names])
        for entry in build_model(spec, sources[name], index, plans[name], thresholds=thresholds):
            counts[entry["action"]] = counts.get(entry["action"], 0) + 1
            entries.append(entry)
    print()
    print(render(entries, VARIANTS))
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    print(f"edgelab: {index.path}: {summary}")
    return 0
