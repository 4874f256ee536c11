"""How a run ends, seen from its files and its exit status: a run killed or interrupted before it
finished, a results file with a torn last line, a damaged baseline, a run that measured nothing.
The subprocess runs a user would see are in tests/integration/test_run_endings.py."""
from __future__ import annotations

import json
import os
import signal

import pytest

from harness.errors import UsageError
from harness.report import load
from harness.report.model import build_model
from harness.results.schema import Measurement
from harness.results.store import DamagedResults, RunStore, read_records
from harness.run import finish
from harness.run.session import check_baseline
from harness.run.signals import TermAsInterrupt, interrupted_by
from tests.unit.test_report_model import rec, write_run
from tests.unit.test_report_frame import lines_of, mixed_records

TORN = '{"run_id": "r1", "test_id": "t-det-int8'
PLANNED = ["t-det-fp32-tflite", "t-det-int8-tflite", "t-det-fp32-ncnn", "t-det-int8-ncnn"]


def two_of_four(tmp_path, **info):
    return write_run(tmp_path / "r", [rec(median=10), rec("int8", median=5)],
                     info={"run_id": "r", "started": "2026-01-01T00:00:00+00:00",
                           "planned": {"cells": 4, "test_ids": PLANNED}, **info})


def test_a_killed_run_says_how_many_planned_cells_were_recorded(tmp_path):
    summary = build_model(two_of_four(tmp_path))["summary"]  # no "finished": SIGKILLed
    assert summary["completion"]["text"] == "incomplete: 2 of 4 cells recorded (run did not finish)"
    assert summary["warnings"][0] == {"level": "bad", "text": summary["completion"]["text"]}


def test_an_interrupted_run_names_the_signal(tmp_path):
    summary = build_model(two_of_four(tmp_path, finished="2026-01-01T00:01:00+00:00",
                                      interrupted="SIGTERM"))["summary"]
    assert summary["completion"]["text"] == "interrupted by SIGTERM: 2 of 4 cells recorded"
    assert summary["completion"]["state"] == "interrupted"


def test_a_finished_run_has_no_completion_warning(tmp_path):
    summary = build_model(two_of_four(tmp_path, finished="2026-01-01T00:01:00+00:00"))["summary"]
    assert summary["completion"] is None
    assert not any("recorded" in w["text"] for w in summary["warnings"])


def test_a_run_killed_before_planning_says_the_count_is_unknown(tmp_path):
    summary = build_model(write_run(tmp_path / "r", [rec(median=10)], info={"run_id": "r"}))["summary"]
    assert summary["completion"]["text"] == ("incomplete: 1 cells recorded, planned count unknown "
                                             "(run did not finish)")


def test_a_torn_last_line_is_counted_and_warned_about(tmp_path):
    model = build_model(write_run(tmp_path / "r", [rec(median=10)], raw_lines=[TORN],
                                  info={"run_id": "r", "finished": "x"}))
    assert model["summary"]["records"] == 1 and model["summary"]["torn_lines"] == 1
    assert any(w["text"].startswith("results.jsonl: 1 damaged line skipped")
               for w in model["summary"]["warnings"])


def test_torn_lines_are_counted_by_the_parallel_decode_too(monkeypatch):
    lines = lines_of(mixed_records())
    monkeypatch.setattr(load, "_workers", lambda count: 2)
    assert load.decode(b"\n".join(lines + [TORN.encode()]), "x").torn_lines == 1
    assert load.decode(b"\n".join(lines) + b"\n", "x").torn_lines == 0


def test_store_reader_counts_a_torn_line_and_names_a_damaged_one(tmp_path):
    path = write_run(tmp_path / "r", [rec(median=1), rec(median=2)], raw_lines=[TORN]) / "results.jsonl"
    records, torn = read_records(path)
    assert len(records) == 2 and torn == 1
    path.write_text("\n".join([json.dumps(rec(median=1)), TORN, json.dumps(rec(median=3))]))
    with pytest.raises(DamagedResults, match="line 2 is not a JSON record"):
        read_records(path)


@pytest.mark.parametrize("raw_lines, records, message", [
    (["not json", json.dumps(rec(median=2))], [rec(median=1)], "line 2 is not a JSON record"),
    ([TORN], [rec(median=1)], "the last line of results.jsonl is cut short"),
    ([], [], "results.jsonl holds no records"),
])
def test_a_damaged_or_empty_baseline_is_refused(tmp_path, raw_lines, records, message):
    run_dir = write_run(tmp_path / "base", records, raw_lines=raw_lines)
    with pytest.raises(UsageError, match=message) as caught:
        check_baseline(run_dir)
    assert str(caught.value).startswith(f"--baseline {run_dir}: ")


def test_an_intact_baseline_is_accepted(tmp_path):
    check_baseline(write_run(tmp_path / "base", [rec(median=1)]))


# -- measured or not, and the exit status -------------------------------------------------
HOST = {"id": "host", "kind": "host"}


def record(status, reason=None, median=None):
    return Measurement(run_id="r", test_id="t", suite="latency", status=status, reason=reason,
                       device=HOST, model={"name": "m"}, variant={"id": "fp32"},
                       engine={"name": "e"}, latency={"median_ms": median} if median else None)


def test_all_infra_errors_measured_nothing_and_say_why():
    why = finish.nothing_measured([record("infra_error", "device R5 is offline")] * 3)
    assert why == "nothing was measured: every cell was infra_error (3 x device R5 is offline)"


def test_unsupported_everywhere_measured_nothing():
    why = finish.nothing_measured([record("unsupported", "Core ML runs only on macOS/iOS"),
                                   record("infra_error", "offline")])
    assert why.startswith("nothing was measured: every cell was unsupported (1), infra_error (1)")
    assert "Core ML runs only on macOS/iOS" in why


def test_a_drifted_variant_was_measured_but_a_crash_was_not():
    crash = record("failed", "engine process was killed by SIGSEGV")
    assert finish.nothing_measured([crash]).startswith("nothing was measured: every cell was failed")
    assert finish.nothing_measured([crash, record("failed", "output drift", median=3.0)]) is None
    assert finish.nothing_measured([record("ok", median=3.0)]) is None
    assert "no cell recorded anything" in finish.nothing_measured([])


@pytest.mark.parametrize("pytest_status, ending, expected", [
    (0, finish.Ending(), 0),
    (1, finish.Ending(), 1),
    (0, finish.Ending(nothing_measured="why"), finish.EXIT_NOTHING_MEASURED),
    (1, finish.Ending(nothing_measured="why"), finish.EXIT_NOTHING_MEASURED),
    (0, finish.Ending(report_error="bug", nothing_measured="why"), finish.EXIT_REPORT_NOT_WRITTEN),
    (1, finish.Ending(report_error="line 3 is not a JSON record"), finish.EXIT_REPORT_NOT_WRITTEN),
    (2, finish.Ending(nothing_measured="why", report_error="bug"), 2),  # interrupted says more
    (5, finish.Ending(nothing_measured="why"), 5),
])
def test_exit_status(pytest_status, ending, expected):
    assert finish.settle_exitstatus(pytest_status, ending) == expected


def test_both_new_exit_statuses_fail_make_bench():
    # the Makefile's bench target accepts `rc -le 1` (failed cells are findings)
    assert min(finish.EXIT_NOTHING_MEASURED, finish.EXIT_REPORT_NOT_WRITTEN) > 1
    assert finish.EXIT_NOTHING_MEASURED != finish.EXIT_REPORT_NOT_WRITTEN
    assert {finish.EXIT_NOTHING_MEASURED, finish.EXIT_REPORT_NOT_WRITTEN}.isdisjoint(range(6))


# -- SIGTERM ------------------------------------------------------------------------------
def test_sigterm_between_open_and_write_waits_for_the_line(tmp_path, monkeypatch):
    term = TermAsInterrupt()
    store = RunStore(tmp_path / "run").create()
    real_write = os.write

    def signalled_write(fd, data):  # SIGTERM arrives after open, before the bytes are written
        term._handle(signal.SIGTERM, None)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", signalled_write)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM received"):
        store.append(record("ok", median=2.0))
    monkeypatch.undo()
    assert [r.status for r in read_records(store.results_path)[0]] == ["ok"]
    assert term.received == "SIGTERM" and interrupted_by(term, 2) == "SIGTERM"
    store.append(record("ok", median=3.0))  # nothing left deferred to fire later
    assert len(read_records(store.results_path)[0]) == 2


def test_sigterm_while_the_report_is_written_is_ignored():
    term = TermAsInterrupt()
    term.finishing = True
    term._handle(signal.SIGTERM, None)  # no KeyboardInterrupt: the report must be finished
    assert term.received is None and interrupted_by(term, 0) is None
    assert interrupted_by(term, 2) == "SIGINT"  # pytest's INTERRUPTED without our SIGTERM


def test_handler_is_installed_and_the_previous_one_restored():
    before = signal.getsignal(signal.SIGTERM)
    term = TermAsInterrupt()
    term.install()
    try:
        assert signal.getsignal(signal.SIGTERM) == term._handle
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    finally:
        term.restore()
    assert signal.getsignal(signal.SIGTERM) == before
