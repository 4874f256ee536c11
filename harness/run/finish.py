"""End of a run: final run.json, report.html, results.csv, CI summary, reports/latest, the terminal
lines about how the run ended, and the exit status. Records are already on disk.

Three exit statuses are added to pytest's own (0 passed, 1 cells failed, 2 interrupted, 3 internal
error, 4 usage error, 5 no tests collected), all above 1 because `make bench` treats 0 and 1 as
success (a failed cell is a finding): 6 and 7 left nothing to look at, 8 is the release gate.
"""
from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field

from ..results.schema import Measurement, SchemaError
from ..results.store import DamagedResults, read_records

EXIT_NOTHING_MEASURED = 6    # no cell produced a measurement (all unsupported / infra_error / none)
EXIT_REPORT_NOT_WRITTEN = 7  # the records are on disk, but report.html could not be built
EXIT_REGRESSED = 8           # --gate: a cell regressed (or broke) against --baseline


@dataclass
class Ending:
    """How the run ended, for the terminal summary and the exit status."""
    interrupted: str | None = None       # the signal, e.g. "SIGTERM"
    records: list[Measurement] = field(default_factory=list)
    torn_lines: int = 0                  # a last line cut short, skipped
    report_error: str | None = None      # also when results.jsonl is damaged before its last line
    nothing_measured: str | None = None  # why, when no cell produced a measurement
    regressed: int = 0                   # --gate: cells that regressed or broke vs the baseline
    baseline_note: str | None = None     # --save-baseline: where it went, or why not
    history_note: str | None = None      # run history: ingested where, or why not (never fatal)
    exitstatus: int = 0


def end_run(session, exitstatus: int, interrupted: str | None = None) -> Ending:
    """Write everything a finished run leaves and decide its exit status; never raises for a
    report that cannot be built: the records are safe, and the run says how to rebuild."""
    ending = Ending(interrupted=interrupted)
    records = None  # a damaged file is read again by finish_run, whose error names the line
    try:
        records, ending.torn_lines = read_records(session.store.results_path)
        ending.records, ending.nothing_measured = records, nothing_measured(records)
    except (DamagedResults, SchemaError):
        pass
    try:
        session.report_model = finish_run(session, exitstatus, interrupted, records)
    except Exception as exc:  # noqa: BLE001 - any bug here must still leave the records usable
        ending.report_error = f"{type(exc).__name__}: {exc}"
        session.notes.append(
            f"report not written ({ending.report_error}); the records are safe in "
            f"{session.store.results_path}: rebuild with `python -m harness report "
            f"{session.store.run_dir}`")
    if getattr(session.config, "gate_enforced", False) and session.report_model:
        ending.regressed = int((session.report_model.get("regressions") or {}).get("regressions") or 0)
    ending.exitstatus = settle_exitstatus(int(exitstatus), ending)
    if getattr(session.config, "save_baseline", None):
        ending.baseline_note = save_baseline(session, ending)
    if getattr(session.config, "history", None):
        ending.history_note = ingest_history(session, ending)
    return ending


def ingest_history(session, ending: Ending) -> str:
    """Add the finished run to the history database, after the report: a failure here is a note
    and never changes the exit status (the records and the report are already written; the run
    can be added later with `python -m harness history --add RUN_DIR`). Interrupted runs and runs
    that measured nothing are not added: half a sweep is not a nightly's figure."""
    from ..results.history import HistoryError, ingest

    db, run_dir = session.config.history, session.store.run_dir
    if ending.interrupted or ending.nothing_measured or ending.exitstatus not in (0, 1, 8):
        return f"run not added to history {db}: it ended with exit {ending.exitstatus}"
    try:
        cells = (session.report_model or {}).get("history_cells")
        if cells is None:  # the report failed: read the records again
            from ..report.load import read_run
            from ..report.trends import cell_rows, run_row

            info, table = read_run(run_dir)
            cells = (run_row(info, run_dir, session.config.rootdir), cell_rows(table))
        n = ingest(db, *cells)
    except HistoryError as exc:
        return f"run not added to history: {exc}"
    except Exception as exc:  # noqa: BLE001 - the run is on disk; history is derived from it
        return (f"run not added to history {db} ({type(exc).__name__}: {exc}); add it later with "
                f"`python -m harness history --db {db} --add {run_dir}`")
    return f"history: {n} cells added to {db}"


def save_baseline(session, ending: Ending) -> str:
    """--save-baseline NAME: copy the run unless it regressed, was cut short or left no report
    (a regressed run saved as the baseline would make the regression the new normal)."""
    from ..results.baselines import save

    name = session.config.save_baseline
    if ending.exitstatus not in (0, 1):
        return (f"baseline {name!r} not saved: the run ended with exit {ending.exitstatus}; "
                f"the earlier {name!r}, if any, is unchanged")
    try:
        where = save(session.store.run_dir, session.config.report_dir, name)
    except OSError as exc:
        return f"baseline {name!r} not saved: {exc}"
    return f"baseline {name!r} saved: {where} (use --baseline {name})"


def finish_run(session, exitstatus: int, interrupted: str | None = None,
               records: list[Measurement] | None = None) -> dict:
    records = session.store.records() if records is None else records
    counts = Counter(r.status for r in records)
    more = {"interrupted": interrupted} if interrupted else {}
    session.store.write_run_info(session.run_info(
        finished=_dt.datetime.now(_dt.timezone.utc).isoformat(),
        pytest_exitstatus=int(exitstatus), counts=dict(counts), **more))
    from ..report.flat import write_csv
    from ..report.markdown import append_step_summary
    from ..report.model import build_model
    from ..report.write import write_report

    run_dir = session.store.run_dir
    model = build_model(run_dir, getattr(session.config, "baseline", None),
                        rules=getattr(session.config, "gate", None),
                        history=getattr(session.config, "history", None),
                        root=getattr(session.config, "rootdir", None))
    report = write_report(run_dir, model=model)
    write_csv(run_dir)
    append_step_summary(model, report)  # only when $GITHUB_STEP_SUMMARY is set
    session.store.point_latest()
    return model  # the terminal summary prints its seed tables


def measured(record: Measurement) -> bool:
    """A number came out of this cell: ok, or failed on fidelity after timing (drifted)."""
    latency = record.latency or {}
    return record.status == "ok" or (record.status == "failed" and
                                     latency.get("median_ms") is not None)


def nothing_measured(records: list[Measurement]) -> str | None:
    """Why no cell produced a measurement, or None when one did."""
    if any(measured(r) for r in records):
        return None
    if not records:
        return ("nothing was measured: no cell recorded anything (no device or model selected, "
                "or every test deselected; see the notes above)")
    counts = Counter(r.status for r in records).most_common()
    reasons = Counter((r.reason or "").strip() for r in records if r.reason).most_common(2)
    why = "; ".join(f"{n} x {reason[:160]}" for reason, n in reasons)
    return (f"nothing was measured: every cell was {_join(counts)}"
            + (f" ({why})" if why else ""))


def _join(counts: list[tuple[str, int]]) -> str:
    if len(counts) == 1:
        return counts[0][0]
    return ", ".join(f"{status} ({n})" for status, n in counts)


def settle_exitstatus(exitstatus: int, ending: Ending) -> int:
    """pytest's status, unless it says success (0) or findings (1) for a run that left no
    report or measured nothing: `make bench` treats those two as success."""
    if exitstatus not in (0, 1):
        return exitstatus  # interrupted, internal or usage error, nothing collected: more specific
    if ending.report_error:
        return EXIT_REPORT_NOT_WRITTEN
    if ending.nothing_measured:
        return EXIT_NOTHING_MEASURED
    if ending.regressed:
        return EXIT_REGRESSED
    return exitstatus


def ending_lines(session, ending: Ending | None) -> list[tuple[str, bool]]:
    """The edgelab section of the terminal summary: ``(line, is_bad)`` pairs."""
    from ..report.summary import summary_lines

    if ending is None:  # the session ended before sessionfinish (an error pytest reported)
        return []
    lines = [(line, False) for line in summary_lines(ending.records, session.report_model)]
    lines += _gate_lines(session.report_model)
    lines += [(f"note: {note}", note.startswith("report not written")) for note in session.notes]
    completion = (session.report_model or {}).get("summary", {}).get("completion")
    if completion:
        lines.append((f"edgelab: {completion['text']}", True))
    elif ending.interrupted:
        lines.append((f"edgelab: interrupted by {ending.interrupted}", True))
    if ending.torn_lines:
        lines.append((f"edgelab: {session.store.results_path}: {ending.torn_lines} damaged last "
                      f"line skipped (a record cut short by a kill)", True))
    if ending.exitstatus == EXIT_NOTHING_MEASURED:
        lines.append((f"edgelab: {ending.nothing_measured} (exit {ending.exitstatus})", True))
    if ending.exitstatus == EXIT_REGRESSED:
        lines.append((f"edgelab: gate failed: {ending.regressed} regressed or broke against the "
                      f"baseline (exit {EXIT_REGRESSED})", True))
    if ending.baseline_note:
        lines.append((f"edgelab: {ending.baseline_note}", "not saved" in ending.baseline_note))
    if ending.history_note:
        lines.append((f"edgelab: {ending.history_note}", "not added" in ending.history_note))
    steps = [r for r in ((session.report_model or {}).get("trends") or {}).get("rows", [])
             if r.get("step")]
    for row in steps[:20]:
        lines.append((f"edgelab: trend {row['key']}: {row['note']}", row["step"] == "worse"))
    report = session.store.run_dir / "report.html"
    if report.exists() and not ending.report_error:
        lines.append((f"report: {report}", False))
    return lines


def _gate_lines(model: dict | None) -> list[tuple[str, bool]]:
    """The verdicts against --baseline (report/compare.py), regressed ones in red."""
    from ..report.compare import gate_lines

    model = model or {}
    return [(line, line.lstrip().startswith(("REGRESSED", "BROKE")))
            for line in gate_lines(model.get("regressions"), model.get("tables", {}))]
