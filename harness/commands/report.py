from __future__ import annotations

from pathlib import Path

from ..errors import UsageError

HELP = "rebuild report.html of a run directory (optionally against a baseline run)"


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", type=Path, help="reports/<run-id> (or reports/latest)")
    parser.add_argument("--baseline", default=None, metavar="NAME|RUN_DIR",
                        help="an earlier run or a saved baseline to compare with: the gate's "
                             "verdicts (docs/gating.md); `python -m harness compare` exits 1 "
                             "on a regression")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output file (default RUN_DIR/report.html)")
    parser.add_argument("--history", type=Path, default=None, metavar="PATH",
                        help="a run-history database (docs/gating.md): the Trends section's "
                             "sparklines, this run last (read only; nothing is added)")


def _check_run_dir(path: Path, what: str) -> None:
    if not (path / "results.jsonl").is_file():
        raise UsageError(f"{what} {path} has no results.jsonl: pass a run directory such as "
                         f"reports/latest")


def run(args) -> int:
    _check_run_dir(args.run_dir, "run directory")
    from ..config import DEFAULTS, read_pyproject_defaults
    from ..results.baselines import resolve

    lab = read_pyproject_defaults(Path.cwd())
    baseline = None
    if args.baseline is not None:
        baseline = resolve(args.baseline, Path(lab.get("report_dir") or DEFAULTS["report_dir"]))
        _check_run_dir(baseline, "--baseline")
    from ..report.model import build_model
    from ..report.write import write_report

    model = build_model(args.run_dir, baseline, rules=lab.get("gate"), history=args.history,
                        root=Path.cwd())
    out = write_report(args.run_dir, args.output, model=model)
    summary = model["summary"]
    line = f"{out} ({summary['records']} records, {summary['cells']} latency cells"
    if summary["regressions"] is not None:
        line += f", {summary['regressions']} regressions vs {summary['baseline']}"
    print(line + ")")
    # what the page warns about first: a run that did not finish, records cut short
    if summary["completion"]:
        print(f"warning: {summary['completion']['text']}")
    if summary["torn_lines"]:
        print(f"warning: {summary['torn_lines']} damaged last line of results.jsonl skipped "
              f"(a record cut short when the run was killed)")
    return 0
