"""``python -m harness <command>``: one module per command under ``harness/commands/``.

Each command module provides ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``
and is imported only when its command runs (``--help`` imports them all, which stays light).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import HarnessError

COMMANDS: dict[str, str] = {
    "devices": "harness.commands.devices",
    "models": "harness.commands.models",
    "parse": "harness.commands.parse",
    "report": "harness.commands.report",
    "compare": "harness.commands.compare",
    "history": "harness.commands.history",
    "virtual-device": "harness.commands.virtual_device",
    "tools": "harness.commands.tools",
    "ios-runner": "harness.commands.ios_runner",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness",
                                     description="edgelab: on-device ML benchmarking harness")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except HarnessError as exc:
        print(f"edgelab: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head` closed the pipe: not an error worth a traceback
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("edgelab: interrupted", file=sys.stderr)
        return 130
