"""Bench.measure with repeats (issue 18 item 1): K runs of the cell, one record each with
extra.repeat, the test's outcome the first failed repeat, an unsupported / infra one ends it."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from harness.config import RunConfig
from harness.run.bench import Bench


@dataclasses.dataclass
class Rec:
    status: str
    extra: dict = dataclasses.field(default_factory=dict)
    reason: str | None = None


class Runner:
    def __init__(self, config, statuses):
        self.config, self.statuses, self.calls = config, list(statuses), []

    def settings(self, **overrides):
        return overrides

    def run(self, case, suite, settings, test_id, repeat=None):
        self.calls.append(repeat)
        record = Rec(self.statuses.pop(0))
        if repeat:
            record.extra["repeat"] = repeat
        return record


def _bench(statuses, kind="host", **config):
    runner = Runner(RunConfig(rootdir=".", **config), statuses)
    case = SimpleNamespace(device=SimpleNamespace(kind=kind))
    seen = []
    return Bench(SimpleNamespace(runner=runner), case, "t", on_record=seen.append), runner, seen


def test_each_repeat_is_one_run_and_one_record():
    bench, runner, seen = _bench(["ok"] * 3, repeats=3)
    record = bench.measure()
    assert runner.calls == [{"index": i, "of": 3} for i in range(3)] and len(seen) == 3
    assert record is seen[-1] and record.status == "ok"


def test_one_repeat_is_todays_single_record():
    bench, runner, seen = _bench(["ok"])
    bench.measure()
    assert runner.calls == [None] and "repeat" not in seen[0].extra


def test_phones_take_repeats_phone():
    bench, runner, _ = _bench(["ok"] * 4, kind="android", repeats=1, repeats_phone=4)
    bench.measure()
    assert len(runner.calls) == 4


def test_a_failed_repeat_fails_the_cell_and_infra_ends_it():
    bench, runner, seen = _bench(["ok", "failed", "ok"], repeats=3)
    assert bench.measure().status == "failed" and len(seen) == 3  # every repeat still measured
    bench, runner, seen = _bench(["ok", "infra_error", "ok"], repeats=3)
    assert bench.measure().status == "infra_error" and len(seen) == 2
    bench, runner, seen = _bench(["unsupported"] * 3, repeats=3)
    record = bench.measure()
    assert record.status == "unsupported" and len(seen) == 1
    with pytest.raises(pytest.skip.Exception):
        Bench.conclude(record)
