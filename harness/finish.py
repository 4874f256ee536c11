"""End of a run: final run.json, report.html, reports/latest. Records are already on disk."""
from __future__ import annotations

import datetime as _dt
from collections import Counter


def finish_run(session, exitstatus: int) -> None:
    records = session.store.records()
    counts = Counter(r.status for r in records)
    session.store.write_run_info(session.run_info(
        finished=_dt.datetime.now(_dt.timezone.utc).isoformat(),
        pytest_exitstatus=int(exitstatus), counts=dict(counts)))
    from .report.write import write_report

    write_report(session.store.run_dir)
    session.store.point_latest()
