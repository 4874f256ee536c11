"""Latency statistics: a pure value object built from per-iteration samples (milliseconds).

The 95% confidence interval is for the *median* and is distribution-free: it takes the order
statistics whose ranks bound the median with 95% probability under the binomial(n, 0.5) law.
Latency samples are skewed (long right tails from interrupts and frequency changes), so a
mean +- 1.96 sd interval would misstate what a reader cares about: the typical iteration.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_Z95 = NormalDist().inv_cdf(0.975)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of an already sorted list."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    pos = (len(sorted_values) - 1) * pct / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def median_ci95(sorted_values: list[float]) -> tuple[float, float]:
    """Order-statistic 95% CI of the median (normal approximation to binomial ranks)."""
    n = len(sorted_values)
    if n < 6:  # too few samples for any rank pair to reach 95% coverage: report the full range
        return sorted_values[0], sorted_values[-1]
    half_width = _Z95 * math.sqrt(n) / 2.0
    low_rank = max(0, int(math.floor(n / 2.0 - half_width)))
    high_rank = min(n - 1, int(math.ceil(n / 2.0 + half_width)) - 1)
    return sorted_values[low_rank], sorted_values[high_rank]


@dataclass(frozen=True)
class LatencyStats:
    n: int
    min_ms: float
    max_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    std_ms: float
    ci95_low_ms: float
    ci95_high_ms: float
    iqr_ms: float

    @classmethod
    def from_samples(cls, samples_ms: list[float] | tuple[float, ...]) -> "LatencyStats":
        values = sorted(float(v) for v in samples_ms)
        if not values:
            raise ValueError("no latency samples to summarise")
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        low, high = median_ci95(values)
        return cls(
            n=n, min_ms=values[0], max_ms=values[-1], median_ms=percentile(values, 50),
            mean_ms=mean, p90_ms=percentile(values, 90), p99_ms=percentile(values, 99),
            std_ms=std, ci95_low_ms=low, ci95_high_ms=high,
            iqr_ms=percentile(values, 75) - percentile(values, 25),
        )

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean): how noisy the run was."""
        return self.std_ms / self.mean_ms if self.mean_ms else 0.0

    @property
    def tail_ratio(self) -> float:
        """p90 / median: above ~1.1 on one thread, something else wanted the CPU."""
        return self.p90_ms / self.median_ms if self.median_ms else 0.0

    def as_dict(self) -> dict[str, float]:
        out = {k: round(v, 6) if isinstance(v, float) else v for k, v in self.__dict__.items()}
        out["cv"] = round(self.cv, 6)
        return out
