"""Did the device throttle inside a window? What changed, and when (pure).

A cluster throttled when its frequency fell below its reference for at least ``min_samples``
samples in a row (one low reading is a governor's momentary dip, not a limit). The reference is
the level the caller set (a governor sweep knows the frequency ``performance`` pins) or else the
level the cluster held at the window's start. The thermal status (dumpsys thermalservice) counts
when it rose above the first status read in the window. Each change is said in words, e.g.
``policy4 fell from 2367 to 1826 MHz at +12.4 s (set level)``.
"""
from __future__ import annotations

from .sample import Sample

TOLERANCE = 0.02  # frequencies within 2% of the reference are the same level


def detect_throttle(samples: list[Sample], set_levels_khz: dict[str, int] | None = None,
                    min_samples: int = 2) -> dict:
    """{throttled, changes: [text], clusters: {name: {...}}, thermal_status: {...} | None}."""
    if not samples:
        return {"throttled": None, "changes": [], "clusters": {}, "thermal_status": None,
                "reason": "no samples in the window"}
    start = samples[0].t_s
    clusters, changes = {}, []
    for name in sorted({k for s in samples for k in s.freq_khz}):
        found = _cluster_drop(samples, name, (set_levels_khz or {}).get(name), min_samples)
        if found is None:
            continue
        clusters[name] = found
        if found["throttled"]:
            changes.append(f"{name} fell from {found['reference_khz'] // 1000} to "
                           f"{found['lowest_khz'] // 1000} MHz at +{found['at_s'] - start:.1f} s "
                           f"({found['reference']})")
    status = _status_rise(samples)
    if not clusters and status is None:  # nothing here could have shown a throttle
        return {"throttled": None, "changes": [], "clusters": {}, "thermal_status": None,
                "reason": "no CPU frequency or thermal status in the samples"}
    if status and status["rose"]:
        changes.append(f"thermal status rose from {status['first']} to {status['max']} at "
                       f"+{status['at_s'] - start:.1f} s")
    return {"throttled": bool(changes), "changes": changes, "clusters": clusters,
            "thermal_status": status}


def _cluster_drop(samples: list[Sample], name: str, set_level: int | None,
                  min_samples: int) -> dict | None:
    points = [(s.t_s, s.freq_khz[name]) for s in samples if name in s.freq_khz]
    if not points:
        return None
    reference = set_level if set_level else points[0][1]
    floor = reference * (1 - TOLERANCE)
    run, first_low, drop_at = 0, None, None
    for t, khz in points:
        if khz < floor:
            run += 1
            first_low = t if run == 1 else first_low
            if run >= min_samples and drop_at is None:
                drop_at = first_low
        else:
            run = 0
    return {"throttled": drop_at is not None, "reference_khz": reference,
            "reference": "set level" if set_level else "level at the window start",
            "lowest_khz": min(k for _, k in points), "at_s": drop_at}


def _status_rise(samples: list[Sample]) -> dict | None:
    readings = [(s.t_s, s.thermal_status) for s in samples if s.thermal_status is not None]
    if not readings:
        return None
    first = readings[0][1]
    highest = max(status for _, status in readings)
    at = next((t for t, status in readings if status > first), None)
    return {"first": first, "max": highest, "rose": highest > first, "at_s": at}
