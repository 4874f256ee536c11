"""``python -m harness history``: the runs in the history database and a metric's trend per cell,
with steps (results/history.py: robust z-score against the last runs, docs/gating.md).

Exit 0 listed; 1 when the newest run of a listed cell stepped worse (a nightly can fail on it);
2 on bad input (no database there, a corrupt one, one from a newer edgelab, a run dir that is no
run). ``--add RUN_DIR`` adds (or re-adds) a run folder, e.g. one whose ingestion failed.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import DEFAULTS, read_pyproject_defaults
from ..errors import UsageError

HELP = "runs in the history database and a metric's trend per cell: exit 1 when the newest run stepped worse"


def add_arguments(parser) -> None:
    parser.add_argument("--db", type=Path, default=None, metavar="PATH",
                        help="history database (default: [tool.edgelab] history, else "
                             "REPORT_DIR/history.sqlite)")
    parser.add_argument("--key", default="", metavar="SUBSTRING",
                        help="only cells whose key contains this (case-insensitive), e.g. "
                             "'ppocr_cls fp32'")
    parser.add_argument("--metric", choices=("latency", "memory", "energy"), default="latency",
                        help="latency (median or tool mean, ms), memory (peak MB) or energy "
                             "(mJ per inference); default latency")
    parser.add_argument("--last", type=int, default=12, metavar="N",
                        help="values shown per cell in the text output (default 12; --json has all)")
    parser.add_argument("--add", type=Path, default=None, metavar="RUN_DIR",
                        help="first add this run folder to the database (replacing an earlier "
                             "ingestion of the same run id)")
    parser.add_argument("--json", action="store_true", help="print runs and trends as JSON")


def default_db(cwd: Path) -> Path:
    lab = read_pyproject_defaults(cwd)
    value = lab.get("history", "")
    if value == "off" or not value:
        return Path(lab.get("report_dir") or DEFAULTS["report_dir"]) / "history.sqlite"
    return Path(value)


def run(args) -> int:
    from ..results import history as hist

    db = args.db or default_db(Path.cwd())
    try:
        if args.add is not None:
            from ..report.load import read_run
            from ..report.trends import cell_rows, run_row

            info, table = read_run(args.add)
            n = hist.ingest(db, run_row(info, args.add, Path.cwd()), cell_rows(table))
            if not args.json:
                print(f"added {n} cells of {args.add} to {db}")
        conn = hist.open_history(db, create=False)
        try:
            runs = hist.runs(conn)
            trends = hist.trends(conn, args.metric, args.key)
        finally:
            conn.close()
    except hist.HistoryError as exc:
        raise UsageError(str(exc)) from None
    newest = runs[-1]["run_id"] if runs else None
    worse = [t for t in trends if t.latest and t.latest.run_id == newest and t.latest.step == "worse"]
    if args.json:
        print(json.dumps({"db": str(db), "metric": args.metric, "runs": runs,
                          "trends": [{"key": t.key, "unit": t.unit,
                                      "points": [vars(p) for p in t.points]} for t in trends],
                          "stepped_worse": [t.key for t in worse]}, indent=2))
        return 1 if worse else 0
    print(f"{db}: {len(runs)} runs")
    for r in runs:
        commit = (r["commit"] or "")[:12] or "-"
        print(f"  {r['run_id']}  {r['started'] or '-'}  commit {commit}  {r['cells']} cells")
    print(f"{args.metric} per cell ({len(trends)}{' matching ' + repr(args.key) if args.key else ''}),"
          f" oldest first:")
    for t in trends:
        shown = t.points[-args.last:] if args.last > 0 else t.points
        values = " ".join(_fmt(p) for p in shown)
        more = "... " if len(shown) < len(t.points) else ""
        stat = f" ({t.latest.stat})" if t.latest and t.latest.stat else ""
        print(f"  {t.key}: {more}{values} {t.unit}{stat}")
        for p in t.steps:
            print(f"    {'STEP WORSE' if p.step == 'worse' else 'step better'} at {p.run_id}"
                  f"{' (newest run)' if p.run_id == newest else ''}: {p.note}")
    if worse:
        print(f"{len(worse)} cell(s) stepped worse in the newest run {newest}")
    return 1 if worse else 0


def _fmt(p) -> str:
    mark = "!" if p.step == "worse" else "*" if p.step == "better" else "~" if p.throttled else ""
    return f"{p.value:.4g}{mark}"
