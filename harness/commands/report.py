from __future__ import annotations

from pathlib import Path

from ..errors import UsageError

HELP = "rebuild report.html of a run directory"


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", type=Path, help="reports/<run-id> (or reports/latest)")
    parser.add_argument("-o", "--output", type=Path, default=None, help="output file")


def run(args) -> int:
    if not (args.run_dir / "results.jsonl").is_file():
        raise UsageError(f"{args.run_dir} has no results.jsonl: pass a run directory such as "
                         f"reports/latest")
    from ..report.write import write_report

    print(write_report(args.run_dir, args.output))
    return 0
