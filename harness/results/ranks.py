"""Rank statistics for comparing two runs of one cell: the one-sided Mann–Whitney U test and the
Hodges–Lehmann shift with its distribution-free confidence interval. Pure: numbers in, numbers out.

Why ranks: latency samples are skewed, with long right tails (interrupts, frequency changes) and
sometimes two modes; a t-test's mean and variance are dragged by a few outliers, ranks are not.

- U counts the pairs (a_i, b_j) with b_j > a_i (ties count a half). Its null distribution is exact
  (counted with the q-binomial recursion) for small untied samples of independent values, e.g.
  per-repeat figures; otherwise the normal approximation with the tie correction and a
  continuity correction.
- Per-iteration samples of one process are serially correlated (a frequency step or a cache
  state lasts several iterations): their ranks carry fewer independent observations than n.
  ``serial=True`` estimates the lag-1 autocorrelation of ranks within each run and inflates
  var(U) by the AR(1) factor (1 + rho) / (1 - rho): the Hájek projection of U is a difference
  of two means of placements, and the variance of a mean of an AR(1) series is that factor
  times the independent one. rho is pooled over both sides (under the null they are one
  process), bias-corrected, and clipped to [0, 0.9]: a negative estimate may not make the test
  bolder.
- ``unseen_var``: a between-process offset the values cannot show (one process per side) is
  added in shift space (``_allow_unseen``).
- The Hodges–Lehmann shift is the median of all pairwise differences b_j - a_i; its interval is
  [D_(C), D_(mn+1-C)] with C the rank critical value of the same U distribution (exact or
  normal, inflated alike), so test and interval agree. Big samples are not expanded into m*n
  differences: the order statistics are found by bisection with a counting function.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import NormalDist
from typing import Sequence

import numpy as np

EXACT_MAX_N = 50           # exact null distribution when both sides are this small (and untied)
DIRECT_MAX_PAIRS = 2_000_000  # above this many pairwise differences, select by bisection
MAX_RHO = 0.9
_NORMAL = NormalDist()


@dataclass(frozen=True)
class ShiftTest:
    """``b`` (current) against ``a`` (baseline)."""
    n_a: int
    n_b: int
    u: float            # pairs with b > a, ties counted half
    p_greater: float    # one-sided p-value for "b tends to be larger than a"
    p_less: float       # one-sided p-value for "b tends to be smaller than a"
    shift: float        # Hodges–Lehmann: median of b_j - a_i
    ci_low: float       # two-sided interval at ``confidence`` (-inf / inf when n is too small)
    ci_high: float
    confidence: float
    exact: bool
    inflation: float    # var(U) factor for serial correlation (1.0: none applied)
    min_p: float        # the smallest one-sided p-value samples of these sizes can give


def rank_test(a_runs: Sequence[Sequence[float]], b_runs: Sequence[Sequence[float]],
              confidence: float, serial: bool = False, unseen_var: float = 0.0) -> ShiftTest:
    """``a_runs``/``b_runs``: each side's values, as one sequence per run in measured order (the
    order matters only with ``serial``). ``confidence``: of the two-sided shift interval; use
    1 - 2 * alpha so that its bounds agree with the one-sided tests at alpha. ``unseen_var``:
    variance of a shift between the sides that their values cannot show (a between-process
    offset when each side is one process), in value units squared: see ``_allow_unseen``."""
    a = np.concatenate([np.asarray(r, dtype=float) for r in a_runs]) if a_runs else np.zeros(0)
    b = np.concatenate([np.asarray(r, dtype=float) for r in b_runs]) if b_runs else np.zeros(0)
    m, n = len(a), len(b)
    if not m or not n:
        raise ValueError("rank_test needs values on both sides")
    ranks, tie_sum = _average_ranks(np.concatenate([a, b]))
    u = float(ranks[m:].sum() - n * (n + 1) / 2.0)
    inflation = 1.0
    if serial:  # one factor from both sides: the null says they are one process
        inflation = _ar1_factor([ranks[:m], ranks[m:]], [[len(r) for r in a_runs],
                                                          [len(r) for r in b_runs]])
    exact = not serial and not unseen_var and tie_sum == 0 and max(m, n) <= EXACT_MAX_N
    alpha_side = (1.0 - confidence) / 2.0
    a_sorted, b_sorted = np.sort(a), np.sort(b)
    if exact:
        counts = _u_counts(m, n)
        total = sum(counts)
        k = int(round(u))
        p_greater, p_less = sum(counts[k:]) / total, sum(counts[:k + 1]) / total
        low, high = _interval(a_sorted, b_sorted, _exact_critical(counts, total, alpha_side))
    else:
        var = m * n / 12.0 * ((m + n + 1) - tie_sum / ((m + n) * (m + n - 1))) * inflation
        z = _NORMAL.inv_cdf(1.0 - alpha_side)
        low, high = _interval(a_sorted, b_sorted, _normal_critical(m, n, var, z))
        p_greater, p_less = _normal_p(u, m * n / 2.0, math.sqrt(max(var, 0.0)))
    test = ShiftTest(n_a=m, n_b=n, u=u, p_greater=min(1.0, p_greater), p_less=min(1.0, p_less),
                     shift=_median_difference(a_sorted, b_sorted), ci_low=low, ci_high=high,
                     confidence=confidence, exact=exact, inflation=inflation,
                     min_p=min_p_value(m, n))
    return _allow_unseen(test, unseen_var, alpha_side) if unseen_var > 0.0 else test


def _allow_unseen(test: ShiftTest, unseen_var: float, alpha_side: float) -> ShiftTest:
    """A shift the values cannot show, of variance ``unseen_var``, added in shift space: each
    half of the interval combines with z * sqrt(unseen_var) in quadrature (variances of
    independent errors add), and each one-sided p-value becomes the larger of the rank test's
    and a normal test of the shift against that combined spread, so "significant" needs both.
    (Not in U's null: U saturates at m*n once the samples separate, and a 10% slowdown of a
    quiet cell separates them completely.)"""
    z = _NORMAL.inv_cdf(1.0 - alpha_side)
    below, above = test.shift - test.ci_low, test.ci_high - test.shift
    spread = z * z * unseen_var
    low = test.shift - math.sqrt(below * below + spread)
    high = test.shift + math.sqrt(above * above + spread)
    se_low, se_high = (test.shift - low) / z, (high - test.shift) / z
    p_greater = max(test.p_greater, _NORMAL.cdf(-test.shift / se_low) if se_low > 0 else 1.0)
    p_less = max(test.p_less, _NORMAL.cdf(test.shift / se_high) if se_high > 0 else 1.0)
    return replace(test, ci_low=low, ci_high=high, p_greater=p_greater, p_less=p_less)


def _normal_p(u: float, mid: float, sd: float) -> tuple[float, float]:
    """One-sided p-values (greater, less) with a continuity correction."""
    if sd == 0.0:  # every value equal: no evidence either way
        return 1.0, 1.0
    # cdf of the negated statistic, not 1 - cdf: tiny p-values are kept
    return _NORMAL.cdf(-(u - mid - 0.5) / sd), _NORMAL.cdf((u - mid + 0.5) / sd)


def _normal_critical(m: int, n: int, var: float, z: float) -> int:
    # var 0: every value is equal, so is every difference: [D_(1), D_(mn)] = [0, 0] is exact
    return math.floor(m * n / 2.0 - z * math.sqrt(var)) if var > 0.0 else 1


def _interval(a_sorted: np.ndarray, b_sorted: np.ndarray, c: int) -> tuple[float, float]:
    """[D_(C), D_(mn+1-C)]; unbounded when C < 1 (too few values for the level)."""
    if c < 1:
        return -math.inf, math.inf
    return (_kth_difference(a_sorted, b_sorted, c),
            _kth_difference(a_sorted, b_sorted, len(a_sorted) * len(b_sorted) + 1 - c))


def min_p_value(m: int, n: int) -> float:
    """The smallest one-sided p-value of an exact rank test with m and n values: 1 / C(m+n, m)
    (every b above every a). With alpha 0.01 it takes 5 + 5 (or 4 + 5) values to get below."""
    log_combinations = math.lgamma(m + n + 1) - math.lgamma(m + 1) - math.lgamma(n + 1)
    return math.exp(-log_combinations)  # underflows to 0.0 for big samples, never overflows


def _average_ranks(values: np.ndarray) -> tuple[np.ndarray, float]:
    """1-based ranks, ties given their average; and sum(t^3 - t) over tie groups."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average = ends - (counts - 1) / 2.0
    t = counts.astype(float)
    return average[inverse], float((t ** 3 - t).sum())


def _ar1_factor(sides: list[np.ndarray], lengths: list[list[int]]) -> float:
    """(1 + rho) / (1 - rho) from the lag-1 autocorrelation of ranks within each run, each side
    centred on its own mean (a shift between the sides is no correlation), pooled over both
    sides and corrected for its small-sample bias (E rho_hat ~ rho - (1 + 4 rho) / L for runs of
    L values: an uncorrected estimate from 50 iterations understates the correlation)."""
    numerator = denominator = 0.0
    runs = 0
    for ranks, side_lengths in zip(sides, lengths):
        centred = ranks - ranks.mean()
        denominator += float((centred ** 2).sum())
        start = 0
        for length in side_lengths:
            run = centred[start:start + length]
            numerator += float((run[:-1] * run[1:]).sum())
            start += length
        runs += len(side_lengths)
    if denominator == 0.0:
        return 1.0
    rho = numerator / denominator
    rho += (1.0 + 4.0 * rho) / (sum(map(sum, lengths)) / runs)
    rho = min(max(rho, 0.0), MAX_RHO)
    return (1.0 + rho) / (1.0 - rho)


@lru_cache(maxsize=256)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings give U = 0, 1, ..., mn: the coefficients of the
    Gaussian binomial [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)."""
    size = m * n + 1
    poly = [1] + [0] * (size - 1)
    for i in range(1, m + 1):
        step = n + i
        for k in range(size - 1, step - 1, -1):  # times (1 - q^(n+i))
            poly[k] -= poly[k - step]
        for k in range(i, size):                 # divided by (1 - q^i)
            poly[k] += poly[k - i]
    return tuple(poly)


def _exact_critical(counts: tuple[int, ...], total: int, alpha_side: float) -> int:
    """The largest C with P(U <= C - 1) <= alpha_side (0: no interval at that level)."""
    cumulative, c = 0, 0
    for k, count in enumerate(counts):
        cumulative += count
        if cumulative / total > alpha_side:
            break
        c = k + 1
    return c


def _count_at_most(a_sorted: np.ndarray, b_sorted: np.ndarray, t: float) -> int:
    """#{(i, j): b_j - a_i <= t}."""
    return int(np.searchsorted(b_sorted, a_sorted + t, side="right").sum())


def _kth_difference(a_sorted: np.ndarray, b_sorted: np.ndarray, k: int) -> float:
    """The k-th smallest (1-based) of the m*n differences b_j - a_i."""
    m, n = len(a_sorted), len(b_sorted)
    k = min(max(k, 1), m * n)
    if m * n <= DIRECT_MAX_PAIRS:
        diffs = np.subtract.outer(b_sorted, a_sorted).ravel()
        return float(np.partition(diffs, k - 1)[k - 1])
    low, high = float(b_sorted[0] - a_sorted[-1]), float(b_sorted[-1] - a_sorted[0])
    tolerance = max(abs(low), abs(high), 1e-300) * 1e-12
    while high - low > tolerance:  # smallest t with count(t) >= k, to within the tolerance
        mid = (low + high) / 2.0
        if _count_at_most(a_sorted, b_sorted, mid) >= k:
            high = mid
        else:
            low = mid
    return high


def _median_difference(a_sorted: np.ndarray, b_sorted: np.ndarray) -> float:
    total = len(a_sorted) * len(b_sorted)
    middle = _kth_difference(a_sorted, b_sorted, (total + 1) // 2)
    if total % 2:
        return middle
    return (middle + _kth_difference(a_sorted, b_sorted, total // 2 + 1)) / 2.0
