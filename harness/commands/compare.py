"""``python -m harness compare BASE CURRENT``: the release gate offline, on two run folders.

Exit 0 when nothing regressed (unchanged, improved, inconclusive, new, ...), 1 when a cell
regressed or broke, 2 on bad input (a folder that is no run, a damaged results file, a bad rule).
The verdicts are the ones the pytest run and the report give (results/gate.py).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import DEFAULTS, GATE_OPTION, read_pyproject_defaults
from ..errors import UsageError

HELP = "gate CURRENT against BASE (run folders or saved baseline names): exit 1 when a cell regressed"


def add_arguments(parser) -> None:
    parser.add_argument("base", metavar="BASE",
                        help="baseline: a run directory or a saved baseline's name")
    parser.add_argument("current", metavar="CURRENT", help="the run to judge: a run directory "
                                                           "(e.g. reports/latest) or a name")
    parser.add_argument("--gate", dest="gate", **GATE_OPTION)
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    parser.add_argument("--report-dir", type=Path, default=None, metavar="DIR",
                        help="where saved baselines live: DIR/baselines/NAME (default: "
                             "[tool.edgelab] report_dir, else reports)")


def run(args) -> int:
    from ..report.compare import compare_runs, gate_lines
    from ..results.baselines import label, resolve
    from ..results.gate_rules import GateRules

    lab = read_pyproject_defaults(Path.cwd())
    report_dir = args.report_dir or Path(lab.get("report_dir") or DEFAULTS["report_dir"])
    rules = (lab.get("gate") or GateRules()).with_overrides(args.gate or {})
    base_dir = resolve(args.base, report_dir, "BASE")
    current_dir = resolve(args.current, report_dir, "CURRENT")
    base_info, base_table = _read(base_dir, "BASE")
    info, table = _read(current_dir, "CURRENT")
    base_id = label(base_dir, str(base_info.get("run_id") or ""))
    result = compare_runs(table, base_table, base_id, rules)
    if args.json:
        spec = result["table"]
        keys = [c["key"] for c in spec["columns"]]
        print(json.dumps({"baseline": base_id, "current": str(info.get("run_id") or
                                                               current_dir.resolve().name),
                          "rules": result["rules"], "counts": result["counts"],
                          "regressed": result["regressions"],
                          "rows": [dict(zip(keys, row)) for row in spec["rows"]]}, indent=2))
    else:
        for line in gate_lines(result, {"regressions": result["table"]}):
            print(line)
    return 1 if result["regressions"] else 0


def _read(run_dir: Path, what: str):
    from ..report.load import read_run

    if not (run_dir / "results.jsonl").is_file():
        raise UsageError(f"{what} {run_dir}: no results.jsonl there; pass a run directory such "
                         f"as reports/latest or a saved baseline's name")
    try:
        info, table = read_run(run_dir)
    except UsageError as exc:
        raise UsageError(f"{what} {run_dir}: {exc}") from None
    if what == "BASE" and table.torn_lines:
        raise UsageError(f"BASE {run_dir}: the last line of results.jsonl is cut short (that run "
                         f"was killed while writing); remove that line or pass another run")
    if not len(table.frame):
        raise UsageError(f"{what} {run_dir}: results.jsonl holds no records")
    return info, table
