"""The ``bench`` fixture's object: one cell of the grid, ready to be measured by a suite."""
from __future__ import annotations

from typing import Any

import pytest

from .cases import BenchCase
from ..results.schema import Measurement


class Bench:
    def __init__(self, session, case: BenchCase, test_id: str, on_record=None):
        self.session = session
        self.case = case
        self.test_id = test_id
        self._on_record = on_record or (lambda record: None)

    @property
    def device(self):
        return self.case.device

    def measure(self, repeats: int | None = None, **settings: Any) -> Measurement:
        """Timed run with the session's warm-up/iterations (overridable per call), repeated
        ``repeats`` times (default: the run's --repeats for this device kind). Each repeat is a
        whole independent run (cooldown gate, governor hold, sampling, its own child process or
        tool run) and its own record with ``extra.repeat = {"index": i, "of": K}``; every reader
        (report pooling, the gate's ranks) already takes several records of a cell.

        With ``--baseline X --gate``, a cell whose comparison is inconclusive gets more repeats
        (``_recheck``). Returns the record the test's outcome follows: the first failed repeat
        (crash or drift) if any, else the last one. An unsupported or infra_error repeat ends
        the cell (the next one would say the same, or the device is gone)."""
        if repeats is None:
            config = self.session.runner.config
            repeats = config.repeats_for(self.case.device.kind) \
                if hasattr(config, "repeats_for") else 1
        records: list[Measurement] = []
        for index in range(repeats):
            repeat = {"index": index, "of": repeats} if repeats > 1 else None
            records.append(self._run_once(settings, repeat))
            if records[-1].status in ("unsupported", "infra_error"):
                break
        self._recheck(records, settings)
        failed = [r for r in records if r.status == "failed"]
        return failed[0] if failed else records[-1]

    def _run_once(self, settings: dict[str, Any], repeat: dict | None) -> Measurement:
        runner = self.session.runner
        record = runner.run(self.case, "latency", runner.settings(**settings), self.test_id,
                            repeat=repeat)
        self._on_record(record)
        return record

    def _recheck(self, records: list[Measurement], settings: dict[str, Any]) -> None:
        """--gate with a baseline: while the cell's comparison is inconclusive, one more repeat
        (run/recheck.py), at most the gate's ``rechecks`` times; all records are kept."""
        recheck = getattr(self.session, "recheck", None)
        if recheck is None or any(r.status != "ok" for r in records):
            return
        limit = recheck.limit(self.case.model)
        for attempt in range(1, limit + 1):
            why = recheck.reason(records)
            if not why:
                return
            records.append(self._run_once(settings, {
                "index": len(records), "of": len(records) + 1, "recheck": attempt,
                "of_rechecks": limit, "why": why}))
            if records[-1].status != "ok":
                return

    def compat(self) -> Measurement:
        """Can this cell run at all? Load + a few iterations: ok / unsupported / failed."""
        settings = self.session.runner.settings(warmup=1, iterations=3, min_time_s=0.0)
        record = self.session.runner.run(self.case, "compat", settings, self.test_id)
        self._on_record(record)
        return record

    @staticmethod
    def conclude(record: Measurement, unsupported_is_ok: bool = False) -> None:
        """Turn a record into the pytest outcome: failed fails, unsupported/infra skip."""
        if record.status == "failed":
            pytest.fail(record.reason or "failed", pytrace=False)
        if record.status == "infra_error":
            pytest.skip(f"infra_error: {record.reason}")
        if record.status == "unsupported" and not unsupported_is_ok:
            pytest.skip(f"unsupported: {record.reason}")
