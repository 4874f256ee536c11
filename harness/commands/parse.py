from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UsageError

HELP = "parse a tool's captured output (getprop, benchncnn, ...) into one JSON object"


def add_arguments(parser) -> None:
    parser.add_argument("--tool", help="tool name (guessed from the text when omitted)")
    parser.add_argument("file", help="captured output file, or - for standard input")


def run(args) -> int:
    from .. import parsers

    if args.file == "-":
        text = sys.stdin.read()
    else:
        path = Path(args.file)
        if not path.is_file():
            raise UsageError(f"{args.file}: no such file")
        text = path.read_text(errors="replace")
    tool = args.tool or parsers.detect(text)
    if tool is None:
        raise UsageError(f"cannot tell which tool printed {args.file}; pass --tool "
                         f"({', '.join(parsers.TOOLS)})")
    try:
        result = parsers.parse(tool, text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0
