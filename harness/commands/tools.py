from __future__ import annotations

import json
from pathlib import Path

HELP = "list or register the engines' benchmark tools for phones (per ABI)"


def add_arguments(parser) -> None:
    parser.add_argument("--tools-dir", default=None, metavar="DIR",
                        help="tool cache (default $EDGELAB_CACHE/tools or ~/.cache/edgelab/tools)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="registered tools and where to get missing ones")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    add = sub.add_parser("add", help="register an official tool binary for an engine and ABI")
    add.add_argument("engine", help="tflite, onnxruntime, ncnn or mnn")
    add.add_argument("abi", help="arm64-v8a, armeabi-v7a, x86_64 or x86")
    add.add_argument("path", help="the tool binary (checked: ELF class and machine fit the ABI)")
    add.add_argument("--lib", action="append", default=[], metavar="PATH",
                     help="a shared library the tool needs next to it (repeatable)")
    add.add_argument("--version", default=None, help="the tool's version, recorded with results")
    virtual = sub.add_parser("add-virtual",
                             help="register virtual stand-ins (usable only on virtual devices)")
    virtual.add_argument("--engine", action="append", default=[], help="only these engines")
    virtual.add_argument("--abi", action="append", default=[], help="only these ABIs")
    remove = sub.add_parser("remove", help="unregister the tool of an engine and ABI")
    remove.add_argument("engine")
    remove.add_argument("abi")


def run(args) -> int:
    from ..engines.tools import ToolCache, official_sources

    cache = ToolCache(Path(args.tools_dir) if args.tools_dir else None)
    if args.action == "add":
        tool = cache.add(args.engine, args.abi, Path(args.path), tuple(Path(p) for p in args.lib),
                         version=args.version)
        print(f"registered {tool.engine} {tool.abi}: {tool.path} ({tool.bytes:,} bytes, "
              f"sha256 {tool.sha256[:16]}…)")
        return 0
    if args.action == "add-virtual":
        for tool in cache.add_virtual(tuple(args.engine), tuple(args.abi)):
            print(f"registered virtual {tool.engine} {tool.abi}: {tool.path}")
        return 0
    if args.action == "remove":
        found = cache.remove(args.engine, args.abi)
        print(f"{'removed' if found else 'nothing registered for'} {args.engine} {args.abi}")
        return 0
    return _list(cache, official_sources(), args.json)


def _list(cache, sources: dict, as_json: bool) -> int:
    from ..engines.tools import TOOL_SPECS

    tools = cache.tools()
    if as_json:
        print(json.dumps({"root": str(cache.root), "tools": [t.as_dict() for t in tools]},
                         indent=2))
        return 0
    print(f"tool cache: {cache.root}")
    for engine, spec in TOOL_SPECS.items():
        mine = [t for t in tools if t.engine == engine]
        if not mine:
            docs = sources.get(engine, {}).get("docs", "tools/manifest.toml")
            print(f"{engine:<12} {spec.file:<22} none registered (see {docs})")
        for t in mine:
            tag = "virtual stand-in" if t.virtual else f"sha256 {t.sha256[:12]}"
            print(f"{engine:<12} {spec.file:<22} {t.abi:<12} {t.bytes:>11,} B  {tag}"
                  f"{'  libs: ' + ', '.join(p.name for p in t.libs) if t.libs else ''}")
    return 0
