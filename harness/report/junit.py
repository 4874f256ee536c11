"""Measurement properties for pytest's ``--junitxml``: CI dashboards that read JUnit XML show
the numbers next to each test without parsing results.jsonl.

The fixture that produces a record calls, for each pair, ``record_property(name, value)``
(or appends to ``request.node.user_properties``). Names are ``edgelab.<field>``; values are
strings; missing fields are left out rather than written as "None". pytest escapes the XML.
"""
from __future__ import annotations

import math
from typing import Any

FIELDS = (
    ("status", ("status",)), ("reason", ("reason",)), ("suite", ("suite",)),
    ("device", ("device", "id")), ("device_model", ("device", "model")),
    ("device_kind", ("device", "kind")), ("virtual", ("device", "virtual")),
    ("model", ("model", "name")), ("variant", ("variant", "id")),
    ("variant_bytes", ("variant", "bytes")), ("variant_sha256", ("variant", "sha256")),
    ("engine", ("engine", "name")), ("engine_version", ("engine", "version")),
    ("backend", ("engine", "backend")), ("threads", ("engine", "threads")),
    ("governor", ("conditions", "governor")), ("temp_c", ("conditions", "temp_c")),
    ("charging", ("conditions", "charging")), ("throttled", ("conditions", "throttled")),
    ("noisy", ("conditions", "noisy")), ("noise_reason", ("conditions", "noise_reason")),
)
SUMMARIES = {
    "latency": ("n", "median_ms", "mean_ms", "min_ms", "max_ms", "p90_ms", "p99_ms", "std_ms",
                "ci95_low_ms", "ci95_high_ms", "cv", "load_ms", "first_ms"),
    "memory": ("peak_rss_mb", "model_rss_mb"),
    "power": None,      # every scalar key of telemetry/summary.py's power (run/sampling.py)
    "fidelity": None,
}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else None
    return str(value)


def _get(data: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def junit_properties(record: Any) -> list[tuple[str, str]]:
    """``[("edgelab.median_ms", "12.3"), ...]`` for a ``Measurement`` or its dict."""
    data = record.to_dict() if hasattr(record, "to_dict") else dict(record)
    props = []
    for name, path in FIELDS:
        text = _text(_get(data, path))
        if text is not None:
            props.append((f"edgelab.{name}", text))
    for part, keys in SUMMARIES.items():
        summary = data.get(part)
        if not isinstance(summary, dict):
            continue
        for key in keys if keys is not None else sorted(summary):
            text = _text(summary.get(key))
            if text is not None:
                props.append((f"edgelab.{part}.{key}", text))
    return props
