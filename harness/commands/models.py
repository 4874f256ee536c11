from __future__ import annotations

from pathlib import Path

from ..models.fetch import cached_path, default_cache_dir, fetch
from ..models.manifest import load_manifest

HELP = "list, fetch or build (variants per engine format) the models of models/manifest.toml"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["list", "fetch", "build"],
                        help="list models, fetch them, or build their variants (fetches first)")
    parser.add_argument("--model", action="append", help="only this model (repeatable)")
    parser.add_argument("--manifest", type=Path, default=Path("models/manifest.toml"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache dir (default $EDGELAB_CACHE or ~/.cache/edgelab)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where variants go (default $EDGELAB_BUILD or <cache>/build)")
    parser.add_argument("--plan", type=Path, default=Path("models/variants.toml"),
                        help="which variants/formats to build per model (default "
                             "models/variants.toml; everything when absent)")


def run(args) -> int:
    manifest = load_manifest(args.manifest)
    names = args.model or list(manifest)
    unknown = [n for n in names if n not in manifest]
    if unknown:
        from ..errors import UsageError

        raise UsageError(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(manifest)}")
    cache = args.cache or default_cache_dir()
    if args.action == "build":
        return _build(args, manifest, names, cache)
    for name in names:
        spec = manifest[name]
        if args.action == "fetch":
            path = fetch(spec, cache)
            print(f"{name:<16} ok  {path}")
        else:
            path = cached_path(spec, cache)
            state = "fetched" if path.is_file() else "not fetched"
            print(f"{name:<16} {spec.format:<7} {state:<12} {spec.package or spec.path}  {spec.description}")
    return 0


def _build(args, manifest, names, cache: Path) -> int:
    from ..models.build import default_build_dir
    from ..models.build.index import VariantIndex
    from ..models.build.pipeline import build_model, load_plan

    plans = load_plan(args.plan, manifest)
    build_dir = args.build_dir or default_build_dir(cache)
    index = VariantIndex.load(build_dir)
    counts: dict[str, int] = {}
    for name in names:
        source = fetch(manifest[name], cache)
        for entry in build_model(manifest[name], source, index, plans[name]):
            counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    print(f"edgelab: {index.path}: {summary}")
    return 0
