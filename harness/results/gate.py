"""Release gate verdicts: which cells of a run regressed against a baseline. Pure: cells in, rows
out; the plugin (exit status), ``python -m harness compare`` and the report all call
``compare`` on cells built from records by ``report/gate_input.py``.

A metric of a cell **regressed** only when all three hold (docs/gating.md):
  1. the one-sided Mann–Whitney U test says "slower" (worse) at ``alpha`` (ranks.py);
  2. the Hodges–Lehmann shift is at least the rule (``median:5%`` of the baseline's median);
  3. and at least the metric's absolute floor (``latency_floor_ms``).
**improved** mirrors it. **unchanged**: the interval of the shift (1 - 2 alpha, the one that
agrees with the one-sided test) excludes a change as large as the rule and the floor, so a
regression of that size is ruled out. **inconclusive**: neither; the data cannot tell (too few
samples, or a spread too wide for the rule).

Which values are the samples: per-record figures when both runs have two or more records of the
cell (repeats: independent processes); else per-iteration samples (host cells; serially
correlated, which ranks.py allows for). Phone cells timed by a tool hold one summary per record:
with one record per run there is nothing to rank, so they are inconclusive, never a guess.

Cells are matched on ``CellKey``: device model and matched profile (not the serial, so a phone
on another port or a virtual device on a new port still matches), virtual or not (never matched
across), ABI, model, variant, engine, requested governor and threads. A changed artifact sha256
or serial is a note on the row. Cells that ran throttled, failed, hit an infra error, or under
other conditions (charging, or the same cell with other threads/governor/virtuality) are listed
with the reason and never compared. Unmatched cells are new or missing, never failures.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from .gate_rules import METRICS, GateRules, Rule, Settings
from .ranks import min_p_value, rank_test

FAILING = ("regressed", "broke")  # the verdicts that fail a gate


@dataclass(frozen=True)
class Sample:
    """One side of one metric: ``runs`` holds per-iteration series (one per record, measured
    order) for ``kind`` "iterations", or one tuple of per-record figures for "repeats"."""
    runs: tuple[tuple[float, ...], ...]
    kind: str

    @property
    def values(self) -> list[float]:
        return [v for run in self.runs for v in run]

    @property
    def n(self) -> int:
        return sum(len(run) for run in self.runs)


@dataclass(frozen=True)
class Verdict:
    verdict: str                  # regressed | improved | unchanged | inconclusive
    metric: str
    stat: str
    reason: str
    base: float | None = None     # the rule's statistic of each side (median of samples, ...)
    current: float | None = None
    shift: float | None = None    # Hodges–Lehmann, in the metric's unit (current - baseline)
    ci_low: float | None = None   # interval of the shift at ``confidence``
    ci_high: float | None = None
    confidence: float | None = None
    p_value: float | None = None  # one-sided, in the direction of the shift seen
    n_base: int = 0
    n_current: int = 0
    samples: str = ""             # "iterations" or "repeats"
    threshold: float | None = None  # the change that counts, in the metric's unit

    def pct(self, value: float | None) -> float | None:
        """A shift or bound as a fraction of the baseline's figure."""
        if value is None or not self.base:
            return None
        return value / abs(self.base)


def figure(stat: str, values: list[float]) -> float:
    return statistics.fmean(values) if stat == "mean" else statistics.median(values)


def judge(metric: str, rule: Rule, floor: float, alpha: float, base: Sample,
          current: Sample, run_cv: float = 0.0) -> Verdict:
    """One metric of one cell: the verdict, its effect size and the reason in words.
    ``run_cv``: between-process CV of the figure, allowed for when the samples are iterations
    (processes are what they cannot show; repeats show it themselves)."""
    sign = 1.0 if METRICS[metric].better == "lower" else -1.0
    ref, now = figure(rule.stat, base.values), figure(rule.stat, current.values)
    limit = max(rule.threshold(ref), floor)
    common = dict(metric=metric, stat=rule.stat, base=ref, current=now, n_base=base.n,
                  n_current=current.n, samples=base.kind, threshold=limit)
    if min_p_value(base.n, current.n) >= alpha:
        return Verdict("inconclusive", reason=f"{base.n} vs {current.n} {base.kind} can never "
                       f"reach alpha {alpha:g}: measure more (at least 5 repeats each)", **common)
    iterations = base.kind == "iterations"
    # one process per run: its level moves by run_cv between processes, which no sample shows
    unseen = ((run_cv * ref) ** 2 * (1.0 / len(base.runs) + 1.0 / len(current.runs))
              if iterations else 0.0)
    test = rank_test(base.runs, current.runs, 1.0 - 2.0 * alpha, serial=iterations,
                     unseen_var=unseen)
    worse, better = (test.p_greater, test.p_less) if sign > 0 else (test.p_less, test.p_greater)
    shift = test.shift
    result = Verdict("", reason="", shift=shift, ci_low=test.ci_low, ci_high=test.ci_high,
                     confidence=test.confidence,
                     p_value=worse if sign * shift > 0 else better, **common)
    words = _Words(result, rule, floor, alpha, METRICS[metric].unit)
    big = abs(shift) >= limit and shift != 0
    worst_plausible = max(sign * test.ci_low, sign * test.ci_high)
    if sign * shift > 0 and worse < alpha and big:
        return _with(result, "regressed", words.past())
    if sign * shift < 0 and better < alpha and big:
        return _with(result, "improved", words.past())
    if worst_plausible < limit:
        return _with(result, "unchanged", words.ruled_out(min(worse, better) < alpha))
    return _with(result, "inconclusive", words.undecided(worst_plausible * sign))


def _with(verdict: Verdict, name: str, reason: str) -> Verdict:
    return replace(verdict, verdict=name, reason=reason)


class _Words:
    """The reason of a verdict: numbers a reader can check against the rule."""

    def __init__(self, v: Verdict, rule: Rule, floor: float, alpha: float, unit: str):
        self.v, self.rule, self.floor, self.alpha, self.unit = v, rule, floor, alpha, unit

    def _pct(self, value: float) -> str:
        pct = self.v.pct(value)
        return f"{value:+.4g} {self.unit}" if pct is None else f"{pct * 100:+.1f}%"

    def shift(self) -> str:
        v = self.v
        low = "-inf" if v.ci_low == float("-inf") else self._pct(v.ci_low)
        high = "+inf" if v.ci_high == float("inf") else self._pct(v.ci_high)
        return (f"shift {self._pct(v.shift)} ({v.shift:+.4g} {self.unit}, "
                f"{v.confidence * 100:g}% CI {low}..{high}), p={v.p_value:.2g}")

    def rule_text(self) -> str:
        return f"{self.v.metric} {self.rule.text}" + (
            f", floor {self.floor:g} {self.unit}" if self.floor else "")

    def past(self) -> str:
        return f"{self.shift()} < alpha {self.alpha:g}, past {self.rule_text()}"

    def ruled_out(self, significant: bool) -> str:
        what = "significant but smaller than" if significant else "the interval rules out"
        return f"{self.shift()}: {what} {self.rule_text()}"

    def undecided(self, reach: float) -> str:
        return (f"{self.shift()}: not significant at {self.alpha:g}, yet the interval reaches "
                f"{self._pct(reach)}, past {self.rule_text()}: re-run with more iterations or "
                f"repeats")


# -- cells and matching ----------------------------------------------------------------------
@dataclass(frozen=True)
class CellKey:
    device: str       # device model and matched profile, e.g. "Pixel 8 [pixel8]"; never the serial
    virtual: bool
    abi: str
    model: str
    variant: str
    engine: str
    governor: str     # requested ("default": left as found)
    threads: str

    @property
    def loose(self) -> tuple[str, ...]:
        """The key without the conditions: the same cell measured another way."""
        return (self.device, self.abi, self.model, self.variant, self.engine)


@dataclass(frozen=True)
class MetricData:
    """One metric of one cell in one run."""
    iterations: tuple[tuple[float, ...], ...] = ()     # per record, measured order (host latency)
    per_record: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # stat -> figures
    label: str = ""   # what a per-record figure is, e.g. "tool mean"


@dataclass(frozen=True)
class Cell:
    key: CellKey
    device_id: str = ""
    serial: str = ""
    sha256: str = ""
    status: str = "ok"            # worst status over the cell's records
    reason: str = ""
    measured: bool = True         # has latency records to compare
    throttled: bool = False
    charging: bool | None = None
    noisy: str = ""               # noise reasons, "" when clean
    rechecks: int = 0             # re-measurements while inconclusive (run/recheck.py)
    metrics: Mapping[str, MetricData] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    verdict: str
    key: CellKey
    base: Cell | None
    current: Cell | None
    metric: str = ""
    judged: Verdict | None = None
    note: str = ""


def choose_samples(stat: str, base: MetricData, current: MetricData) -> tuple[Sample, Sample] | str:
    """Repeats' figures when both runs have two or more records, else per-iteration samples;
    else why there is nothing to rank."""
    b, c = base.per_record.get(stat, ()), current.per_record.get(stat, ())
    if len(b) >= 2 and len(c) >= 2:
        return Sample((tuple(b),), "repeats"), Sample((tuple(c),), "repeats")
    if base.iterations and current.iterations:
        return Sample(base.iterations, "iterations"), Sample(current.iterations, "iterations")
    if not b or not c:
        return f"not measured {'in the baseline' if not b else 'now'}"
    what = base.label or current.label or "figure"
    return f"one {what} per run ({len(b)} vs {len(c)} records): nothing to rank; use --repeats"


def compare(base_cells: Iterable[Cell], current_cells: Iterable[Cell], rules: GateRules) -> list[Row]:
    base = {c.key: c for c in base_cells}
    current = {c.key: c for c in current_cells}
    rows: list[Row] = []
    for key, cur in current.items():
        if key in base:
            rows += compare_pair(base[key], cur, rules.for_model(key.model))
    rows += _unmatched([base[k] for k in base if k not in current],
                       [current[k] for k in current if k not in base])
    return rows


def compare_pair(base: Cell, cur: Cell, settings: Settings) -> list[Row]:
    note = _details(base, cur)
    refused = _not_compared(base, cur)
    if refused:
        verdict, why = refused
        return [Row(verdict, cur.key, base, cur, note=_join(why, note))]
    rows = []
    if cur.rechecks:
        note = _join(f"measured again {cur.rechecks}x while inconclusive (judged at alpha "
                     f"{look_alpha(settings.alpha, cur.rechecks):.3g})", note)
    for metric, rule in settings.rules.items():
        b, c = base.metrics.get(metric), cur.metrics.get(metric)
        if rule is None or (not _has(b) and not _has(c)):
            continue  # not gated, or measured in neither run (no power on this device)
        choice = choose_samples(rule.stat, b or MetricData(), c or MetricData())
        if isinstance(choice, str):  # the figures are shown, not judged
            judged = _figures_only(metric, rule.stat, choice, b or MetricData(), c or MetricData())
            rows.append(Row("inconclusive", cur.key, base, cur, metric, judged, _join(choice, note)))
            continue
        # a cell measured again while inconclusive is judged at the alpha of its last look
        judged = judge(metric, rule, settings.floors.get(metric, 0.0),
                       look_alpha(settings.alpha, cur.rechecks), *choice, run_cv=settings.run_cv)
        rows.append(Row(judged.verdict, cur.key, base, cur, metric, judged,
                        _join(judged.reason, note)))
    return rows


def _figures_only(metric: str, stat: str, why: str, base: MetricData,
                  current: MetricData) -> Verdict:
    b, c = base.per_record.get(stat, ()), current.per_record.get(stat, ())
    return Verdict("inconclusive", metric, stat, why, base=figure(stat, list(b)) if b else None,
                   current=figure(stat, list(c)) if c else None, n_base=len(b),
                   n_current=len(c), samples="records")


def _has(data: MetricData | None) -> bool:
    return data is not None and bool(data.iterations or any(data.per_record.values()))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _details(base: Cell, cur: Cell) -> str:
    notes = []
    if base.sha256 and cur.sha256 and base.sha256 != cur.sha256:
        notes.append(f"different artifact: sha256 {base.sha256[:12]}… -> {cur.sha256[:12]}…")
    if base.serial and cur.serial and base.serial != cur.serial:
        notes.append(f"serial {base.serial} -> {cur.serial}")
    noisy = [f"{side} ({cell.noisy})" for side, cell in (("baseline", base), ("now", cur))
             if cell.noisy]
    if noisy:
        notes.append(f"noisy {' and '.join(noisy)}: re-run before trusting a change")
    return "; ".join(notes)


def _not_compared(base: Cell, cur: Cell) -> tuple[str, str] | None:
    """(verdict, reason) for a matched pair that must not be judged on its numbers."""
    if cur.status == "failed":
        return ("broke" if base.status == "ok" else "failed"), cur.reason
    if cur.status == "infra_error":
        return "infra_error", f"infra error now (not a regression): {cur.reason}"
    if base.status == "failed" and cur.status == "ok":
        return "fixed", f"failed in the baseline: {base.reason}"
    if base.status != "ok" or cur.status != "ok":
        where, cell = ("in the baseline", base) if base.status != "ok" else ("now", cur)
        return "not compared", f"{cell.status} {where}: {cell.reason}"
    if base.throttled or cur.throttled:
        where = " and ".join(s for s, c in (("the baseline", base), ("now", cur)) if c.throttled)
        return "throttled", f"throttled in {where}: the numbers describe a hot device"
    if base.charging is not None and cur.charging is not None and base.charging != cur.charging:
        now = ("charging now, not in the baseline" if cur.charging
               else "charging in the baseline, not now")
        return "not compared", f"different conditions: {now}"
    if not base.measured or not cur.measured:
        side = "the baseline" if not base.measured else "now"
        return "not compared", f"no latency measurement in {side}"
    return None


def _unmatched(base: list[Cell], current: list[Cell]) -> list[Row]:
    """Cells measured in one run only. One measured with other conditions in the other run
    (threads, governor, a virtual device for a real one) is listed as such, not as new."""
    by_loose: dict[tuple[str, ...], list[Cell]] = {}
    for cell in base:
        by_loose.setdefault(cell.key.loose, []).append(cell)
    rows, explained = [], set()
    for cur in current:
        twins = by_loose.get(cur.key.loose, [])
        if not twins:
            rows.append(Row("new", cur.key, None, cur, note="not in the baseline"))
            continue
        twin = twins[0]
        explained.update(t.key for t in twins)
        rows.append(Row("not compared", cur.key, twin, cur, note=_conditions(twin.key, cur.key)))
    rows += [Row("missing", cell.key, cell, None, note="in the baseline, not measured now")
             for cell in base if cell.key not in explained]
    return rows


def _conditions(base: CellKey, cur: CellKey) -> str:
    if base.virtual != cur.virtual:
        now = "a virtual device now, a real one" if cur.virtual else "a real device now, a virtual one"
        return f"virtual vs real: {now} in the baseline (never compared)"
    changes = [f"{name} {getattr(base, name) or '?'} -> {getattr(cur, name) or '?'}"
               for name in ("governor", "threads") if getattr(base, name) != getattr(cur, name)]
    return "different conditions: " + ", ".join(changes)


def look_alpha(alpha: float, rechecks: int) -> float:
    """The significance level of a comparison after ``rechecks`` re-measurements. Looking again
    only while inconclusive is optional stopping: every look is another chance of a false alarm.
    Each later look is held to alpha / (1 + rechecks) (the first at alpha itself, so a cell
    measured once is judged as before); benchmarks/gate_calibration.py measures the result."""
    return alpha / (1 + max(0, rechecks))


def recheck_reason(rows: Iterable[Row]) -> str | None:
    """Why a cell is worth measuring again before its verdict (run/recheck.py), or None: a gated
    metric was ranked and came out inconclusive. Not when nothing could be ranked (one figure
    per run on one side: more runs on this side alone do not make the baseline rankable), nor
    when the pair is not compared at all (throttled, charging, failed): more samples change
    none of those."""
    for row in rows:
        if row.verdict == "inconclusive" and row.judged and row.judged.samples != "records":
            return f"{row.metric} inconclusive: {row.judged.reason}"
    return None


def failures(rows: Iterable[Row]) -> int:
    return sum(row.verdict in FAILING for row in rows)
