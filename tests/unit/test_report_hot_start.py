"""Hot starts (the cooldown gate timed out, run/cooldown.py) in the report: a flag column that
both decode routes fill alike, a warning in the report model, and lines in the terminal summary."""
from __future__ import annotations

import json

from harness.report import frame
from harness.report.model import build_model
from harness.report.summary import summary_lines
from harness.results.schema import Measurement
from tests.unit.test_report_frame import assert_same
from tests.unit.test_report_model import SEED, rec, write_run

REASON = "still battery 37.1 degC > 34 degC; thermal status 2 > 0 after 120 s"


def _hot(variant="fp32", engine="ncnn", median=1150.0, hot=True, waited=120.0):
    return rec(variant, engine, median, hot_start=hot, hot_start_reason=REASON if hot else None,
               cooldown={"waited_s": waited, "start_c": 38.0, "end_c": 37.1 if hot else 33.9,
                         "target_c": 34.0, "status_start": 2, "status_end": 2 if hot else 0})


def test_hot_start_is_a_flag_column_on_both_routes(monkeypatch):
    records = SEED + [_hot(), _hot("int8", hot=False, waited=12.5)]
    records.append({**records[-1], "conditions": {**records[-1]["conditions"], "temp_c": "hot"}})
    lines = [json.dumps(r).encode() for r in records]
    fast = frame.build_table(lines)
    assert fast.frame["hot_start"].tolist() == [False] * len(SEED) + [True, False, False]
    monkeypatch.setattr(frame, "_fast", None)
    assert_same(fast, frame.build_table(lines))


def test_the_report_warns_about_hot_starts(tmp_path):
    model = build_model(write_run(tmp_path / "r", SEED + [_hot(), _hot("int8", hot=False)]))
    text = " | ".join(w["text"] for w in model["summary"]["warnings"])
    assert "1 of 7 measurements started hot (the cooldown timed out; measured anyway) on R5CT01" in text


def test_the_terminal_summary_says_which_cells_started_hot_and_how_long_cells_waited():
    records = [Measurement.from_dict(r) for r in (_hot(), _hot("int8", hot=False, waited=12.5))]
    lines = summary_lines(records)
    row = next(line for line in lines if line.startswith("R5CT01") and " fp32 " in line)
    assert "HOT START" in row
    assert "cooldown: 2 cells waited 132.5 s in all (longest 120.0 s on R5CT01)" in lines
    assert "HOT START: 1 cells did not cool in time and were measured hot:" in lines
    assert f"  R5CT01 det fp32 ncnn: {REASON}" in lines
