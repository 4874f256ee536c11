"""``python -m harness parse``: one captured output -> one JSON object on stdout.

Exit status: 0 when the parser found its result; 1 when the text is that tool's output without a
result (the run failed, or the capture was cut short: the JSON still holds what was read); 2 when
the text is not that tool's output at all or the input is unusable (one line, no JSON).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UsageError

HELP = "parse a tool's captured output (getprop, benchncnn, ...) into one JSON object"


def add_arguments(parser) -> None:
    parser.add_argument("--tool", help="parser name or the tool's own file name (benchmark_model, "
                                       "benchmark.out, onnxruntime_perf_test, benchncnn); guessed "
                                       "from the text when omitted")
    parser.add_argument("file", help="captured output file, or - for standard input")


def run(args) -> int:
    from .. import parsers
    from ..parsers._text import NOT_TOOL_OUTPUT

    text = _read(args.file)
    tool = args.tool or parsers.detect(text)
    if tool is None:
        raise UsageError(f"cannot tell which tool printed {args.file}; pass --tool "
                         f"({', '.join([*parsers.TOOLS, *parsers.ALIASES])})")
    try:
        result = parsers.parse(tool, text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if result.get("error_kind") == NOT_TOOL_OUTPUT:
        raise UsageError(f"{args.file} is {result['error']}; pick the parser with --tool, or "
                         f"omit --tool to have it guessed")
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    if "error" in result:
        print(f"edgelab: {args.file}: {result['error']}", file=sys.stderr)
        return 1
    return 0


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"{name}: no such file")
    return path.read_text(errors="replace")
