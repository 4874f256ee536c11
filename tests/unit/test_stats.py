import numpy as np
import pytest

from harness.results.stats import LatencyStats, median_ci95, percentile


def test_percentiles_match_numpy_linear_method():
    values = sorted([3.1, 1.0, 2.2, 9.5, 4.4, 5.0, 7.7, 6.1, 8.0, 2.9, 1.5])
    for pct in (0, 10, 25, 50, 75, 90, 99, 100):
        assert percentile(values, pct) == pytest.approx(np.percentile(values, pct))


def test_summary_of_known_samples():
    stats = LatencyStats.from_samples([10, 12, 11, 13, 50, 11, 12, 10, 11, 12])
    assert stats.n == 10
    assert stats.min_ms == 10 and stats.max_ms == 50
    assert stats.median_ms == 11.5
    assert stats.mean_ms == pytest.approx(15.2)
    assert stats.std_ms == pytest.approx(np.std([10, 12, 11, 13, 50, 11, 12, 10, 11, 12], ddof=1))
    assert stats.p90_ms == pytest.approx(np.percentile([10, 12, 11, 13, 50, 11, 12, 10, 11, 12], 90))
    # the long tail moves the mean, not the median: that is why the median is the headline
    assert stats.tail_ratio > 1.1


def test_median_ci_brackets_the_median_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small = sorted(rng.lognormal(3, 0.1, 30))
    large = sorted(rng.lognormal(3, 0.1, 3000))
    lo_s, hi_s = median_ci95(small)
    lo_l, hi_l = median_ci95(large)
    assert lo_s <= percentile(small, 50) <= hi_s
    assert lo_l <= percentile(large, 50) <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s)


def test_median_ci_coverage_is_about_95_percent():
    rng = np.random.default_rng(1)
    true_median = np.exp(3.0)
    hits = 0
    for _ in range(400):
        lo, hi = median_ci95(sorted(rng.lognormal(3.0, 0.3, 50)))
        hits += lo <= true_median <= hi
    assert 0.90 <= hits / 400 <= 0.99


def test_tiny_samples_give_full_range_and_single_sample_works():
    assert median_ci95([1.0, 2.0, 3.0]) == (1.0, 3.0)
    one = LatencyStats.from_samples([4.2])
    assert one.median_ms == one.min_ms == one.max_ms == 4.2 and one.std_ms == 0.0


def test_no_samples_is_an_error():
    with pytest.raises(ValueError):
        LatencyStats.from_samples([])
