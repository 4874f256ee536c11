"""The columnar copy (results/columnar.py) may make reading a run faster, never different: every
test compares what read_run gives with the parts against decoding results.jsonl alone."""
from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report.load import decode, read_run
from harness.results import columnar
from harness.results.store import RunStore

pytest.importorskip("pyarrow")
REPO = Path(__file__).resolve().parents[2]


def _synthetic(count: int) -> list[dict]:
    records = _benchmark_records()
    return records[:count // 2] + records[-(count - count // 2):]


@functools.lru_cache(maxsize=1)
def _benchmark_records() -> list[dict]:
    """Records of the report-scale benchmark's shape (traces, power, fidelity, unsupported)."""
    spec = importlib.util.spec_from_file_location("report_scale", REPO / "benchmarks" / "report_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # the benchmark yields every cell's compat record first (4,800), then the latency ones
    return list(module.synthetic_records(4800 + 600, seed=3))


class _Raw:
    """A record as RunStore.append takes it (``to_dict``), without building a Measurement."""

    def __init__(self, data: dict):
        self.data = data

    def to_dict(self) -> dict:
        return self.data


def _write(run_dir: Path, records: list[dict], store: RunStore | None = None) -> RunStore:
    store = store or RunStore(run_dir).create()
    for data in records:
        store.append(_Raw(data))
    return store


def _jsonl_only(run_dir: Path):
    data = (run_dir / "results.jsonl").read_bytes()
    return decode(data, "results.jsonl")  # no run_dir: the parts are not looked at


@pytest.fixture(autouse=True)
def _every_tail_written(monkeypatch):
    """These tests check the parts themselves, so even a small last part is written."""
    monkeypatch.setattr(columnar, "SMALL_TAIL", 0)


def _same(run_dir: Path, expect_parts: bool = True) -> None:
    assert expect_parts == any((run_dir / columnar.COLUMNAR_DIR).glob("part-*.parquet"))
    _, fast = read_run(run_dir)
    slow = _jsonl_only(run_dir)
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_dtype=False)
    np.testing.assert_array_equal(fast.sample_values, slow.sample_values)
    np.testing.assert_array_equal(fast.sample_offsets, slow.sample_offsets)
    assert fast.traces == slow.traces and fast.identities == slow.identities
    assert fast.torn_lines == slow.torn_lines


def test_parts_give_exactly_what_the_journal_gives(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "PART_RECORDS", 300)  # several parts, one still open
    records = _synthetic(1000)
    store = _write(tmp_path, records)
    store.close()
    assert len(list((tmp_path / "columnar").glob("part-*.parquet"))) == 4
    _same(tmp_path)
    frame = read_run(tmp_path)[1].frame
    assert set(frame["status"]) == {"ok", "unsupported"} and frame["has_trace"].any()
    # and it is a dataset anyone can read: one row per record, the samples as a list
    table = pd.read_parquet(tmp_path / "columnar")
    assert len(table) == 1000 and table["samples_ms"].map(len).max() == 50


def test_records_of_a_killed_process_are_read_from_the_journal(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "PART_RECORDS", 200)
    records = _synthetic(500)
    _write(tmp_path, records)  # never closed: the last 100 records are in no part
    with open(tmp_path / "results.jsonl", "ab") as fh:  # and a line torn by the kill
        fh.write(b'{"test_id": "cut sho')
    _same(tmp_path)
    _, table = read_run(tmp_path)
    assert len(table.frame) == 500 and table.torn_lines == 1


def test_two_writers_interleaved_keep_the_file_order(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "PART_RECORDS", 1000)
    records = _synthetic(400)
    a, b = RunStore(tmp_path).create(), RunStore(tmp_path)
    b.columnar = columnar.ColumnarJournal(tmp_path)
    for i, data in enumerate(records):  # as two xdist workers append to one journal
        (a if i % 3 else b).append(_Raw(data))
    a.columnar._parts, b.columnar._parts = 0, 1  # two processes: distinct part names
    a.close()
    b.close()
    assert len(list((tmp_path / "columnar").glob("part-*.parquet"))) == 2
    _same(tmp_path)
    tests = list(read_run(tmp_path)[1].frame["test_id"])
    assert tests == [r["test_id"] for r in records]


def test_an_edited_journal_is_believed_over_the_parts(tmp_path):
    records = _synthetic(300)
    _write(tmp_path, records).close()
    lines = (tmp_path / "results.jsonl").read_bytes().splitlines(keepends=True)
    del lines[100]  # someone removed a record; every later line moved
    lines[5] = lines[5].replace(b'"status":"ok"', b'"status":"failed"', 1)
    (tmp_path / "results.jsonl").write_bytes(b"".join(lines))
    _same(tmp_path)
    frame = read_run(tmp_path)[1].frame
    assert len(frame) == 299 and frame["status"].iloc[5] == "failed"


def test_damaged_or_foreign_parts_are_skipped(tmp_path):
    _write(tmp_path, _synthetic(120)).close()
    (part,) = (tmp_path / "columnar").glob("part-*.parquet")
    shutil.copy(part, tmp_path / "columnar" / "part-copy-1-00001.parquet")  # the same rows twice
    _same(tmp_path)  # overlapping rows: the journal alone is trusted
    os.unlink(tmp_path / "columnar" / "part-copy-1-00001.parquet")
    part.write_bytes(b"PAR1 not really")
    _same(tmp_path, expect_parts=True)


def test_without_pyarrow_the_writer_says_why_and_keeps_going(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    store = _write(tmp_path, _synthetic(20))
    store.close()
    assert "pyarrow" in store.columnar.disabled
    assert not (tmp_path / "columnar").exists()
    monkeypatch.undo()
    _same(tmp_path, expect_parts=False)


def test_a_small_last_part_is_not_written_and_reads_the_same(tmp_path, monkeypatch):
    """A farm worker with a few dozen records skips pyarrow at its end (columnar.SMALL_TAIL), and
    a long-running writer's small tail is read from the journal; both read as the journal reads."""
    monkeypatch.setattr(columnar, "SMALL_TAIL", 100)
    small = tmp_path / "small"
    _write(small, _synthetic(60)).close()
    _same(small, expect_parts=False)
    monkeypatch.setattr(columnar, "PART_RECORDS", 100)
    big = tmp_path / "big"
    _write(big, _synthetic(150)).close()  # one part of 100 at 100 records, the tail of 50 skipped
    assert len(list((big / columnar.COLUMNAR_DIR).glob("part-*.parquet"))) == 1
    _same(big)
