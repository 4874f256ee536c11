"""A downsampled time series of a window for the record: frequency, temperature, power, CPU
load (pure).

At most ``max_points`` time buckets of equal length over the window; each bucket holds the mean of
its samples (the maximum for the thermal status, so a short excursion stays visible), and None
where no sample fell in it. Temperatures keep the ``max_zones`` zones that got hottest, since a
phone has dozens and a report draws a few. Times are seconds from the window's first sample.
"""
from __future__ import annotations

from statistics import mean

from .sample import Sample


def downsample(samples: list[Sample], power_mw: list[tuple[float, float]] | None = None,
               max_points: int = 200, max_zones: int = 6) -> dict:
    if not samples:
        return {"t_s": [], "freq_mhz": {}, "temp_c": {}, "power_mw": [], "thermal_status": [],
                "cpu_pct": []}
    start, end = samples[0].t_s, samples[-1].t_s
    count = max(1, min(max_points, len(samples)))
    width = (end - start) / count if end > start else 1.0

    def bucket(t: float) -> int:
        return min(count - 1, max(0, int((t - start) / width)))

    def series(points: list[tuple[float, float]], reduce=mean, digits: int = 2) -> list:
        groups: list[list[float]] = [[] for _ in range(count)]
        for t, value in points:
            groups[bucket(t)].append(value)
        return [round(reduce(g), digits) if g else None for g in groups]

    zones = sorted({z for s in samples for z in s.temp_c},
                   key=lambda z: -max(s.temp_c.get(z, float("-inf")) for s in samples))[:max_zones]
    return {
        "t_s": [round(width * (i + 0.5), 3) for i in range(count)],
        "freq_mhz": {name: series([(s.t_s, s.freq_khz[name] / 1000) for s in samples
                                   if name in s.freq_khz], digits=0)
                     for name in sorted({k for s in samples for k in s.freq_khz})},
        "temp_c": {zone: series([(s.t_s, s.temp_c[zone]) for s in samples if zone in s.temp_c])
                   for zone in zones},
        "power_mw": series(power_mw or [], digits=1),
        "thermal_status": series([(s.t_s, s.thermal_status) for s in samples
                                  if s.thermal_status is not None], reduce=max, digits=0),
        # the device's CPU busy, % of all cores (host psutil, iPhone sysmontap; phones: none)
        "cpu_pct": series([(s.t_s, s.cpu_pct) for s in samples if s.cpu_pct is not None],
                          digits=1),
    }
