"""The record table under the report: the fast (msgspec) and tolerant (json) routes, and the
forked parallel decode, must all give the same table."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.report import frame, load
from tests.unit.test_report_model import SEED, rec


def lines_of(records) -> list[bytes]:
    return [json.dumps(r).encode() for r in records]


def mixed_records():
    out = []
    for i in range(60):
        r = rec("int8" if i % 2 else "fp32", ["tflite", "ncnn", "mnn"][i % 3], 10 + i,
                samples=[10 + i, 11 + i, 12 + i][: i % 4], device={"id": f"d{i % 7}", "abis": ["arm64-v8a"]})
        if i % 11 == 0:
            r["extra"] = {"trace": [{"t_s": 0, "temp_c": 40}, {"t_s": 1, "temp_c": 41 + i}]}
        if i % 13 == 0:
            r["engine"]["version"] = 1.5          # odd type: takes the tolerant route
        out.append(r)
    return out + SEED


def assert_same(a: frame.RecordTable, b: frame.RecordTable) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, check_dtype=False)
    assert np.array_equal(a.sample_values, b.sample_values)
    assert np.array_equal(a.sample_offsets, b.sample_offsets)
    assert a.traces == b.traces and a.identities == b.identities


def test_fast_and_tolerant_routes_agree(monkeypatch):
    lines = lines_of(mixed_records())
    fast = frame.build_table(lines)
    monkeypatch.setattr(frame, "_fast", None)
    assert_same(fast, frame.build_table(lines))
    assert fast.frame.loc[0, "engine_version"] == "1.5"
    assert list(fast.samples(3)) == [13.0, 14.0, 15.0] and len(fast.samples(0)) == 0


def test_parallel_decode_matches_serial(monkeypatch):
    lines = lines_of(mixed_records())
    monkeypatch.setattr(load, "_workers", lambda count: 3)
    assert_same(frame.build_table(lines), load.decode(b"\n".join(lines) + b"\n\n", "x"))


def test_torn_last_line_is_skipped_in_parallel_too(monkeypatch):
    lines = lines_of(mixed_records()) + [b'{"run_id": "r", "sta']
    monkeypatch.setattr(load, "_workers", lambda count: 2)
    assert len(load.decode(b"\n".join(lines), "x").frame) == len(lines) - 1


def test_parallel_decode_reports_a_bad_line_with_its_number(monkeypatch):
    lines = lines_of(mixed_records())
    lines[40] = b"{not json"
    monkeypatch.setattr(load, "_workers", lambda count: 2)
    with pytest.raises(Exception, match="line 41 is not a JSON record"):
        load.decode(b"\n".join(lines), "results.jsonl")


def test_one_odd_line_sends_its_block_line_by_line_with_the_same_result(monkeypatch):
    # the typed route decodes a block in one call; one line it declines (a string temperature)
    # must not drop or reorder records, and blank lines are skipped by both routes
    records = mixed_records()
    records[5] = {**records[5], "conditions": {**records[5].get("conditions", {}), "temp_c": "hot"}}
    lines = lines_of(records)
    assert frame._fast.decode_all(b"\n".join(lines)) is None
    assert frame._fast.decode_all(b"\n".join(lines[6:]) + b"\n\n") is not None
    mixed = frame.build_table(lines[:10] + [b""] + lines[10:])
    monkeypatch.setattr(frame, "_fast", None)
    assert_same(mixed, frame.build_table(lines))
    assert len(mixed.frame) == len(records) and np.isnan(mixed.frame.loc[5, "temp_c"])


def test_parallel_decode_with_no_cut_still_skips_a_torn_last_line(monkeypatch):
    # one line, no newline to cut at: the parent decodes alone and must count the file's lines
    monkeypatch.setattr(load, "_workers", lambda count: 2)
    assert len(load.decode(b'{"run_id": "r", "sta', "x").frame) == 0


def test_line_estimate_is_exact_for_small_files_and_extrapolates_big_ones(monkeypatch):
    assert load._estimate_lines(b"a\nb\nc", 5) == 3 and load._estimate_lines(b"", 0) == 0
    monkeypatch.setattr(load, "_PROBE_BYTES", 4)
    assert load._estimate_lines(b"a\nb\nc\nd\n", 7) == 5  # 3 lines counted in 4 bytes -> 5 in 7
