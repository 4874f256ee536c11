"""End of a run: final run.json, report.html, results.csv, CI summary, reports/latest.
Records are already on disk."""
from __future__ import annotations

import datetime as _dt
from collections import Counter


def finish_run(session, exitstatus: int) -> dict:
    records = session.store.records()
    counts = Counter(r.status for r in records)
    session.store.write_run_info(session.run_info(
        finished=_dt.datetime.now(_dt.timezone.utc).isoformat(),
        pytest_exitstatus=int(exitstatus), counts=dict(counts)))
    from ..report.flat import write_csv
    from ..report.markdown import append_step_summary
    from ..report.model import build_model
    from ..report.write import write_report

    run_dir = session.store.run_dir
    model = build_model(run_dir, getattr(session.config, "baseline", None))
    report = write_report(run_dir, model=model)
    write_csv(run_dir)
    append_step_summary(model, report)  # only when $GITHUB_STEP_SUMMARY is set
    session.store.point_latest()
    return model  # the terminal summary prints its seed tables
