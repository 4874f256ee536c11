from __future__ import annotations

from pathlib import Path

from ..fetch import cached_path, default_cache_dir, fetch
from ..manifest import load_manifest

HELP = "list or fetch the source models of models/manifest.toml"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["list", "fetch"], help="list models or fetch them")
    parser.add_argument("--model", action="append", help="only this model (repeatable)")
    parser.add_argument("--manifest", type=Path, default=Path("models/manifest.toml"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache dir (default $EDGELAB_CACHE or ~/.cache/edgelab)")


def run(args) -> int:
    manifest = load_manifest(args.manifest)
    names = args.model or list(manifest)
    unknown = [n for n in names if n not in manifest]
    if unknown:
        from ..errors import UsageError

        raise UsageError(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(manifest)}")
    cache = args.cache or default_cache_dir()
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
