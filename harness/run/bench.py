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

    def measure(self, **settings: Any) -> Measurement:
        """Timed run with the session's warm-up/iterations (overridable per call)."""
        record = self.session.runner.run(self.case, "latency",
                                         self.session.runner.settings(**settings), self.test_id)
        self._on_record(record)
        return record

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
