"""Measure an inconclusive cell again before its verdict (``--baseline X --gate``, issue 18).

A comparison is inconclusive when the data cannot tell a real change from noise: the change's
interval reaches past the rule's threshold but the rank test is not significant. More samples
settle most of those, so right after a latency cell is measured, its records are judged against
the baseline's cell with the gate's own code (results/gate.py) and, while the verdict stays
inconclusive, the cell runs once more (another whole repeat: its own process or tool run), at
most ``rechecks`` times (``[tool.edgelab.gate] rechecks``, default 2). Every record is kept;
the report and ``harness compare`` judge the cell on all of them.

Looking again only when inconclusive is optional stopping: it can only turn an inconclusive
cell into regressed, improved or unchanged, so it raises the false-alarm rate by at most what
those extra looks find. ``benchmarks/gate_calibration.py`` measures that with the same policy
(A/A with rechecks), and the bound (0-10) keeps a noisy cell from running forever.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..results.schema import Measurement


class Recheck:
    """The baseline's cells (read once per process, when first needed) and the judgement of one
    just-measured cell."""

    def __init__(self, baseline: Path, rules):
        self.baseline = Path(baseline)
        self.rules = rules
        self._cells = None
        self.unusable = ""  # why the baseline cannot be judged against (then nothing is rechecked)

    def limit(self, model: str) -> int:
        return self.rules.for_model(model).rechecks

    def reason(self, records: list[Measurement]) -> str | None:
        """Why this cell (its latency records so far) should be measured again, or None."""
        from ..report.frame import build_table
        from ..report.gate_input import gate_cells
        from ..results.gate import compare_pair, recheck_reason

        baseline = self._baseline()
        if not baseline:
            return None
        lines = [json.dumps(r.to_dict(), separators=(",", ":"), default=str).encode()
                 for r in records]
        for cell in gate_cells(build_table(lines)):
            base = baseline.get(cell.key)
            if base is not None:
                return recheck_reason(compare_pair(base, cell, self.rules.for_model(cell.key.model)))
        return None  # new in this run: nothing to compare with

    def _baseline(self) -> dict:
        if self._cells is None:
            from ..report.gate_input import gate_cells
            from ..report.load import read_run

            try:
                _, table = read_run(self.baseline)
                self._cells = {cell.key: cell for cell in gate_cells(table)}
            except Exception as exc:  # noqa: BLE001 - checked at start; the report says more
                self.unusable = f"{type(exc).__name__}: {exc}"
                self._cells = {}
        return self._cells
