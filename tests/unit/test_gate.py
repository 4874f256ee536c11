"""Gate verdicts on synthetic samples, the rank statistics behind them, and key matching on run
folders written through RunStore."""
from __future__ import annotations

import math

import numpy as np
import pytest
from gate_records import HOST, PIXEL, record, samples, write_run

from harness.report.frame import build_table
from harness.report.gate_input import gate_cells
from harness.report.load import read_run
from harness.results.gate import (Cell, CellKey, MetricData, Sample, compare, failures, judge)
from harness.results.gate_rules import GateRules, Rule, rules_from_table
from harness.results.ranks import min_p_value, rank_test

MEDIAN_5 = Rule("latency", "median", 5.0, True)


def lognormal(median, n, cv, seed):
    return tuple(median * np.random.default_rng(seed).lognormal(0.0, cv, n))


def verdict(base, current, rule=MEDIAN_5, floor=0.05, alpha=0.01, kind="iterations", run_cv=0.0):
    runs = (lambda v: (tuple(v),))
    return judge("latency", rule, floor, alpha, Sample(runs(base), kind), Sample(runs(current), kind),
                 run_cv=run_cv)


# -- rank statistics ---------------------------------------------------------------------------
def test_mann_whitney_and_hodges_lehmann_agree_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for m, n, ties in ((5, 6, False), (30, 40, False), (60, 80, False), (25, 25, True)):
        a, b = rng.lognormal(0, 0.1, m), rng.lognormal(0.04, 0.1, n)
        if ties:
            a, b = a.round(1), b.round(1)
        test = rank_test([a], [b], 0.98)
        method = "exact" if test.exact else "asymptotic"
        for alt, mine in (("greater", test.p_greater), ("less", test.p_less)):
            ref = stats.mannwhitneyu(b, a, alternative=alt, method=method).pvalue
            assert mine == pytest.approx(ref, rel=1e-9)
        assert test.shift == pytest.approx(np.median(np.subtract.outer(b, a)))
        assert test.exact == (not ties and max(m, n) <= 50)


def test_exact_shift_interval_is_the_order_statistics_of_pairwise_differences():
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [3.5, 4.5, 5.5, 6.5, 7.5]
    test = rank_test([a], [b], 0.90)   # P(U <= 4) = 12/252 <= 0.05 < P(U <= 5): C = 5
    diffs = sorted(y - x for x in a for y in b)
    assert (test.ci_low, test.ci_high) == (diffs[4], diffs[20]) and test.shift == 2.5
    assert test.u == 22 and test.p_greater == pytest.approx(7 / 252)  # P(U >= 22) = P(U <= 3)
    assert min_p_value(5, 5) == pytest.approx(1 / 252)


def test_big_samples_select_order_statistics_without_all_pairs(monkeypatch):
    import harness.results.ranks as ranks

    rng = np.random.default_rng(4)
    a, b = rng.lognormal(0, 0.1, 400), rng.lognormal(0.05, 0.1, 300)
    direct = rank_test([a], [b], 0.98)
    monkeypatch.setattr(ranks, "DIRECT_MAX_PAIRS", 10)  # force the bisection path
    bisected = rank_test([a], [b], 0.98)
    for name in ("shift", "ci_low", "ci_high"):
        assert getattr(bisected, name) == pytest.approx(getattr(direct, name), rel=1e-9)


def test_serial_correlation_widens_the_test_not_iid_samples():
    rng = np.random.default_rng(5)
    iid = rng.normal(0, 1, 200)
    walk = np.empty(200)   # AR(1), phi 0.8: a frequency state that lasts several iterations
    walk[0] = 0.0
    for i in range(1, 200):
        walk[i] = 0.8 * walk[i - 1] + rng.normal(0, 0.6)
    assert rank_test([iid[:100]], [iid[100:]], 0.98, serial=True).inflation < 1.6
    correlated = rank_test([walk[:100]], [walk[100:] + 0.3], 0.98, serial=True)
    plain = rank_test([walk[:100]], [walk[100:] + 0.3], 0.98, serial=False)
    assert correlated.inflation > 4 and correlated.p_greater > plain.p_greater
    assert correlated.ci_high - correlated.ci_low > plain.ci_high - plain.ci_low


def test_between_process_allowance_widens_one_process_comparisons():
    base, now = lognormal(10, 200, 0.01, 1), lognormal(10.7, 200, 0.01, 2)   # +7%, tight runs
    within = verdict(base, now)
    allowed = verdict(base, now, run_cv=0.03)   # processes differ by 3%: unseen in one run each
    assert within.verdict == "regressed" and allowed.verdict == "inconclusive"
    assert allowed.ci_low < within.ci_low and allowed.ci_high > within.ci_high
    assert allowed.p_value > within.p_value
    # separated samples stay significant: a 10% slowdown of a quiet cell is not lost in U's
    # ceiling (all 2500 pairs slower) however wide the allowance makes the interval
    clear = verdict(lognormal(10, 50, 0.005, 3), lognormal(11, 50, 0.005, 4), run_cv=0.01)
    assert clear.verdict == "regressed" and clear.p_value < 1e-6
    # repeats measure between-process noise themselves: no allowance is added to them
    reps = verdict((10.0, 10.1, 9.9, 10.05, 9.95), (12.0, 12.1, 12.2, 11.9, 12.05), kind="repeats",
                   run_cv=0.5)
    assert reps.verdict == "regressed"


# -- verdicts ----------------------------------------------------------------------------------
def test_clear_regression():
    v = verdict(lognormal(10, 50, 0.03, 1), lognormal(11.5, 50, 0.03, 2))
    assert v.verdict == "regressed" and v.samples == "iterations"
    assert v.pct(v.shift) == pytest.approx(0.15, abs=0.02)
    assert v.ci_low < v.shift < v.ci_high and v.confidence == 0.98 and v.p_value < 1e-6
    assert "past latency median:5%, floor 0.05 ms" in v.reason and "98% CI +" in v.reason


def test_clear_improvement():
    v = verdict(lognormal(10, 50, 0.03, 1), lognormal(8, 50, 0.03, 2))
    assert v.verdict == "improved" and v.pct(v.shift) == pytest.approx(-0.2, abs=0.02)


def test_a_a_is_unchanged():
    v = verdict(lognormal(10, 50, 0.03, 1), lognormal(10, 50, 0.03, 2))
    assert v.verdict == "unchanged" and abs(v.pct(v.shift)) < 0.02
    assert "the interval rules out latency median:5%" in v.reason


def test_significant_but_small_is_unchanged():
    v = verdict(lognormal(10, 400, 0.01, 1), lognormal(10.2, 400, 0.01, 2))
    assert v.p_value < 0.01 and v.verdict == "unchanged"
    assert "significant but smaller than latency median:5%" in v.reason


def test_tiny_change_below_the_floor_never_fails():
    # 0.2 ms model, +15%: significant and past 5%, but 0.03 ms is below the 0.05 ms floor
    v = verdict(lognormal(0.2, 200, 0.01, 1), lognormal(0.23, 200, 0.01, 2))
    assert v.p_value < 1e-9 and v.pct(v.shift) > 0.1
    assert v.verdict == "unchanged" and v.threshold == 0.05
    assert verdict(lognormal(0.2, 200, 0.01, 1), lognormal(0.23, 200, 0.01, 2),
                   floor=0.0).verdict == "regressed"


def test_too_noisy_to_tell_is_inconclusive():
    v = verdict(lognormal(10, 12, 0.25, 1), lognormal(10.3, 12, 0.25, 2))
    assert v.verdict == "inconclusive" and "re-run with more iterations or repeats" in v.reason


def test_too_few_repeats_can_never_reach_alpha():
    v = verdict((10.0, 10.1, 9.9), (12.0, 12.1, 12.2), kind="repeats")
    assert v.verdict == "inconclusive" and "3 vs 3 repeats can never reach alpha 0.01" in v.reason
    five = verdict((10.0, 10.1, 9.9, 10.05, 9.95), (12.0, 12.1, 12.2, 11.9, 12.05), kind="repeats")
    assert five.verdict == "regressed" and five.p_value == pytest.approx(1 / 252)


def test_higher_is_better_metrics_mirror_the_direction(monkeypatch):
    from harness.results import gate, gate_rules

    faster = gate_rules.Metric("throughput", "1/s", ("median",), "higher", "throughput_floor", 0.0)
    monkeypatch.setitem(gate.METRICS, "throughput", faster)
    rule = Rule("throughput", "median", 5.0, True)
    drop = judge("throughput", rule, 0.0, 0.01, Sample((lognormal(100, 50, 0.02, 1),), "iterations"),
                 Sample((lognormal(80, 50, 0.02, 2),), "iterations"))
    assert drop.verdict == "regressed"


# -- cells and key matching --------------------------------------------------------------------
def cells_of(tmp_path, name, records):
    return gate_cells(read_run(write_run(tmp_path / name, records))[1])


def test_serial_change_still_matches_and_is_a_note(tmp_path):
    base = cells_of(tmp_path, "base", [record("b", PIXEL, values=samples(10.0, seed=1))])
    moved = {**PIXEL, "id": "192.168.1.7:5555", "serial": "192.168.1.7:5555"}
    now = cells_of(tmp_path, "now", [record("n", moved, values=samples(10.0, seed=2))])
    (row,) = compare(base, now, GateRules())
    assert row.verdict == "unchanged" and row.key.device == "Pixel 8 [pixel8]"
    assert "serial R5CT01 -> 192.168.1.7:5555" in row.note


def test_virtual_never_matches_real(tmp_path):
    base = cells_of(tmp_path, "base", [record("b", PIXEL)])
    virtual = {**PIXEL, "id": "127.0.0.1:40411", "kind": "virtual-android", "virtual": True}
    now = cells_of(tmp_path, "now", [record("n", virtual, values=samples(30.0))])
    (row,) = compare(base, now, GateRules())
    assert row.verdict == "not compared" and row.judged is None
    assert row.note == "virtual vs real: a virtual device now, a real one in the baseline (never compared)"


def test_different_threads_or_governor_are_listed_not_compared(tmp_path):
    base = cells_of(tmp_path, "base", [record("b", threads=1), record("b", variant="int8")])
    now = cells_of(tmp_path, "now", [record("n", threads=2, values=samples(20.0)),
                                     record("n", variant="int8", governor="performance")])
    notes = sorted((r.key.variant, r.verdict, r.note) for r in compare(base, now, GateRules()))
    assert notes == [("fp32", "not compared", "different conditions: threads 1 -> 2"),
                     ("int8", "not compared", "different conditions: governor default -> performance")]


def test_a_changed_artifact_is_compared_with_a_note(tmp_path):
    base = cells_of(tmp_path, "base", [record("b", sha="a" * 64)])
    now = cells_of(tmp_path, "now", [record("n", sha="b" * 64, values=samples(10.0, seed=3))])
    (row,) = compare(base, now, GateRules())
    assert row.verdict == "unchanged"
    assert "different artifact: sha256 aaaaaaaaaaaa… -> bbbbbbbbbbbb…" in row.note


def test_new_and_missing_are_listed_never_failed(tmp_path):
    base = cells_of(tmp_path, "base", [record("b", model="old_model")])
    now = cells_of(tmp_path, "now", [record("n", model="new_model")])
    rows = compare(base, now, GateRules())
    assert sorted((r.key.model, r.verdict) for r in rows) == [("new_model", "new"),
                                                              ("old_model", "missing")]
    assert failures(rows) == 0


def test_throttled_failed_and_infra_cells_are_listed_not_compared(tmp_path):
    base = cells_of(tmp_path, "base", [record("b", variant=v) for v in ("fp32", "fp16", "int8", "int8-dynamic")]
                    + [record("b", variant="int8-weight", status="failed", reason="SIGSEGV")])
    slow = samples(30.0, seed=9)   # 3x slower: would be a clear regression if compared
    now = cells_of(tmp_path, "now", [
        record("n", variant="fp32", values=slow, throttled=True),
        record("n", variant="fp16", status="infra_error", reason="device offline"),
        record("n", variant="int8", status="failed", reason="output drift: cosine 0.9 < 0.99"),
        record("n", variant="int8-dynamic", values=slow, charging=True),
        record("n", variant="int8-weight", values=slow)])
    rows = {r.key.variant: r for r in compare(base, now, GateRules())}
    assert {v: r.verdict for v, r in rows.items()} == {
        "fp32": "throttled", "fp16": "infra_error", "int8": "broke",
        "int8-dynamic": "not compared", "int8-weight": "fixed"}
    assert rows["fp32"].note == "throttled in now: the numbers describe a hot device"
    assert rows["fp16"].note == "infra error now (not a regression): device offline"
    assert rows["int8"].note == "output drift: cosine 0.9 < 0.99"
    assert rows["int8-dynamic"].note == "different conditions: charging now, not in the baseline"
    assert rows["int8-weight"].note == "failed in the baseline: SIGSEGV"
    assert all(r.judged is None for r in rows.values())
    assert failures(rows.values()) == 1  # broke: ok in the baseline, failed now


def test_phone_tool_summaries_rank_only_repeats(tmp_path):
    one = compare(cells_of(tmp_path, "b1", [record("b", PIXEL, engine="ncnn", tool_mean=3.64)]),
                  cells_of(tmp_path, "n1", [record("n", PIXEL, engine="ncnn", tool_mean=4.5)]),
                  GateRules())
    assert [(r.verdict, r.note) for r in one] == [
        ("inconclusive", "one tool summary (mean) per run (1 vs 1 records): nothing to rank; "
                         "use --repeats")]
    base = [record("b", PIXEL, engine="ncnn", tool_mean=m) for m in (3.60, 3.64, 3.62, 3.66, 3.61)]
    now = [record("n", PIXEL, engine="ncnn", tool_mean=m) for m in (4.40, 4.45, 4.38, 4.50, 4.42)]
    (row,) = compare(cells_of(tmp_path, "b5", base), cells_of(tmp_path, "n5", now), GateRules())
    assert row.verdict == "regressed" and row.judged.samples == "repeats"
    assert row.judged.base == 3.62 and row.judged.current == 4.42


def test_host_repeats_rank_their_medians(tmp_path):
    base = [record("b", values=samples(10.0, seed=s)) for s in range(5)]
    now = [record("n", values=samples(11.0, seed=10 + s)) for s in range(5)]
    (row,) = compare(cells_of(tmp_path, "b", base), cells_of(tmp_path, "n", now), GateRules())
    assert row.verdict == "regressed" and row.judged.samples == "repeats"
    assert (row.judged.n_base, row.judged.n_current) == (5, 5)


def test_memory_rule_needs_repeats_and_model_overrides_apply(tmp_path):
    rules = rules_from_table({"memory": "peak:10%", "models": {"ppocr_cls": {"latency": "off"}}})
    base = cells_of(tmp_path, "b", [record("b", peak_mb=80.0)])
    now = cells_of(tmp_path, "n", [record("n", peak_mb=120.0, values=samples(30.0))])
    (row,) = compare(base, now, rules)   # latency off for this model: a 3x slowdown is not gated
    assert (row.metric, row.verdict) == ("memory", "inconclusive")
    assert row.note.startswith("one peak memory figure per run")
    base5 = cells_of(tmp_path, "b5", [record("b", peak_mb=80.0 + i / 10) for i in range(5)])
    now5 = cells_of(tmp_path, "n5", [record("n", peak_mb=120.0 + i / 10) for i in range(5)])
    (row,) = compare(base5, now5, rules)
    assert (row.metric, row.verdict) == ("memory", "regressed")


def test_cells_without_a_model_name_fall_back_to_their_id():
    key = CellKey("R5CT01", False, "arm64-v8a", "m", "fp32", "tflite", "default", "1")
    cell = Cell(key, metrics={"latency": MetricData(((10.0,) * 3,))})
    assert compare([cell], [cell], GateRules())[0].key.device == "R5CT01"
    from harness.report.gate_input import device_label

    assert device_label({}, "R5CT01") == "R5CT01"
    assert device_label({"model": "Pixel 8", "profile": "pixel8"}, "x") == "Pixel 8 [pixel8]"


def test_records_upgrade_through_the_tolerant_route_too():
    import json

    raw = json.dumps(record("r").to_dict()).encode()
    (cell,) = gate_cells(build_table([raw]))
    assert cell.key.device == "Intel(R) Xeon(R) CPU" and cell.serial == "box-1"
    assert len(cell.metrics["latency"].iterations[0]) == 50 and not math.isnan(
        cell.metrics["latency"].per_record["median"][0])


def test_recheck_asks_for_more_samples_only_when_ranking_was_inconclusive(tmp_path):
    """run/recheck.py on real records: a noisy 3% shift against a 5% rule is inconclusive and
    asked again; a clear 40% regression, an identical quiet run, a throttled pair and a phone
    pair with one tool mean per side (nothing to rank) are not."""
    from harness.run.recheck import Recheck

    base = write_run(tmp_path / "base", [record("b", values=samples(10.0, n=20, cv=0.08, seed=1))])
    recheck = Recheck(base, GateRules())

    def why(values=None, **kwargs):
        return recheck.reason([record("c", values=values, **kwargs)])

    assert why(samples(10.3, n=20, cv=0.08, seed=2)).startswith("latency inconclusive: ")
    assert why(samples(14.0, n=20, cv=0.02, seed=3)) is None  # regressed: settled
    assert why(samples(10.3, n=20, cv=0.08, seed=2), throttled=True) is None  # never compared
    assert why(samples(10.0, n=20, cv=0.08, seed=2), model="other") is None  # new: no baseline
    phone_base = write_run(tmp_path / "phone", [record("b", device=PIXEL, tool_mean=10.0)])
    phone = Recheck(phone_base, GateRules())
    assert phone.reason([record("c", device=PIXEL, tool_mean=10.4)]) is None
    assert Recheck(tmp_path / "nowhere", GateRules()).reason([record("c")]) is None


def test_a_rechecked_cell_is_judged_at_the_alpha_of_its_last_look(tmp_path):
    from harness.results.gate import look_alpha

    assert look_alpha(0.01, 0) == 0.01 and look_alpha(0.01, 2) == pytest.approx(0.01 / 3)
    base = write_run(tmp_path / "b", [record("b", values=samples(10.0, n=30, cv=0.03, seed=1))])
    current = [record("c", values=samples(10.8, n=30, cv=0.03, seed=s)) for s in (2, 3, 4)]
    for index, rec in enumerate(current[1:], start=1):
        rec.extra["repeat"] = {"index": index, "of": index + 1, "recheck": index}
    now = write_run(tmp_path / "c", current)
    (cell,) = gate_cells(read_run(now)[1])
    assert cell.rechecks == 2
    (row,) = compare(gate_cells(read_run(base)[1]), [cell], GateRules())
    assert "measured again 2x while inconclusive (judged at alpha 0.00333)" in row.note
    assert row.judged.samples == "iterations" and row.judged.n_current == 90
