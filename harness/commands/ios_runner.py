"""``python -m harness ios-runner``: register the EdgelabRunner .ipa that iPhone runs install."""
from __future__ import annotations

from pathlib import Path

HELP = ("register the signed EdgelabRunner .ipa (built once on a Mac, docs/ios.md) that Core ML "
        "cells install on iPhones without it; `show` prints what is registered")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="check an .ipa (bundle org.edgelab.EdgelabRunner) and "
                                     "register it")
    add.add_argument("ipa", type=Path, help="the exported EdgelabRunner.ipa")
    sub.add_parser("show", help="print the registered .ipa and its facts")


def run(args) -> int:
    from ..devices import ios_app

    if args.action == "add":
        facts = ios_app.register(args.ipa)
        print(f"registered {args.ipa} as {ios_app.runner_dir() / 'EdgelabRunner.ipa'}: "
              f"{facts['bundle_id']} {facts.get('version') or '?'} (build "
              f"{facts.get('build') or '?'}), minimum iOS {facts.get('minimum_ios') or '?'}, "
              f"sha256 {facts['sha256'][:16]}")
        return 0
    found = ios_app.registered()
    if found is None:
        print(f"no EdgelabRunner registered in {ios_app.runner_dir()}: build it (docs/ios.md) "
              f"and run `python -m harness ios-runner add EdgelabRunner.ipa`")
        return 1
    ipa, facts = found
    print(f"{ipa}: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    return 0
