from __future__ import annotations

import json
from pathlib import Path

HELP = "list, fetch or register the engines' benchmark tools for phones (per ABI)"


def add_arguments(parser) -> None:
    parser.add_argument("--tools-dir", default=None, metavar="DIR",
                        help="tool cache (default $EDGELAB_CACHE/tools or ~/.cache/edgelab/tools)")
    parser.add_argument("--manifest", default=None, metavar="FILE",
                        help="the tools' official sources and sha256 pins (default "
                             "$EDGELAB_TOOLS_MANIFEST, else the checkout's tools/manifest.toml)")
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
    fetch = sub.add_parser("fetch", help="download the official tool from the url pinned in the "
                                         "manifest, check sha256 and ELF, register it")
    fetch.add_argument("engine", help="tflite, onnxruntime, ncnn or mnn")
    fetch.add_argument("abi", nargs="?", default=None,
                       help="arm64-v8a (default: the first the manifest lists, 64-bit first), "
                            "armeabi-v7a, ...")
    virtual = sub.add_parser("add-virtual",
                             help="register virtual stand-ins explicitly (virtual devices get "
                                  "built-in ones without this; use it to mirror a real farm's "
                                  "tool set, ABI gaps included)")
    virtual.add_argument("--engine", action="append", default=[], help="only these engines")
    virtual.add_argument("--abi", action="append", default=[], help="only these ABIs")
    remove = sub.add_parser("remove", help="unregister the tool of an engine and ABI")
    remove.add_argument("engine")
    remove.add_argument("abi")


def run(args) -> int:
    from ..engines.tools import ToolCache, official_sources

    manifest = Path(args.manifest) if args.manifest else None
    cache = ToolCache(Path(args.tools_dir) if args.tools_dir else None, manifest)
    if args.action == "fetch":
        from ..engines.tool_fetch import fetch_tool

        tool = fetch_tool(args.engine, args.abi, cache, manifest=manifest)
        print(f"registered {tool.engine} {tool.abi}: {tool.path} ({tool.bytes:,} bytes, "
              f"sha256 {tool.sha256[:16]}…) from {tool.source}")
        return 0
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
    return _list(cache, official_sources(manifest), args.json)


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
            get = (f"`python -m harness tools fetch {engine}`"
                   if sources.get(engine, {}).get("how") == "prebuilt" else f"build it: {docs}")
            print(f"{engine:<12} {spec.file:<22} none registered ({get}; virtual devices use "
                  f"built-in stand-ins)")
        for t in mine:
            tag = "virtual stand-in" if t.virtual else f"sha256 {t.sha256[:12]}"
            print(f"{engine:<12} {spec.file:<22} {t.abi:<12} {t.bytes:>11,} B  {tag}"
                  f"{'  libs: ' + ', '.join(p.name for p in t.libs) if t.libs else ''}")
    return 0
