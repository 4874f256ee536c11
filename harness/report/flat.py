"""``results.csv``: every record flattened to one row, for spreadsheets and pandas users.

Nested keys become dotted columns (``latency.median_ms``, ``conditions.before.temp_c``); lists of
scalars are joined with ";". Per-iteration samples and traces are left out (``latency.n`` says how
many there were; results.jsonl has them). Text that a spreadsheet would run as a formula
(leading = + - @) is prefixed with a quote: device and model names are untrusted.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable

from ..results.store import RESULTS_FILE, atomic_write_text

LEADING = ["run_id", "test_id", "suite", "status", "reason", "device.id", "device.model",
           "model.name", "variant.id", "engine.name", "engine.version", "conditions.governor",
           "latency.n", "latency.median_ms", "latency.ci95_low_ms", "latency.ci95_high_ms",
           "latency.p90_ms", "memory.peak_rss_mb"]
SKIP = {"samples_ms", "extra.trace"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if name in SKIP:
            continue
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            out[name] = ";".join(json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in value)
        else:
            out[name] = value
    return out


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def to_csv(records: Iterable[dict[str, Any]]) -> str:
    rows = [flatten(r) for r in records]
    seen = {k for row in rows for k in row}
    header = [k for k in LEADING if k in seen] + sorted(seen - set(LEADING))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    # lists, not DictWriter's per-row dict checks: a farm run has 100,000 rows of ~80 columns
    writer.writerows([safe_cell(row.get(k)) for k in header] for row in rows)
    return buf.getvalue()


def read_dicts(path: Path) -> list[dict[str, Any]]:
    """Records as dicts, skipping lines that are not JSON objects (the report names those)."""
    out = []
    from ..results.store import json_decoder

    decode = json_decoder()  # msgspec where installed: ~2.5x json's speed on a farm run's lines
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                data = decode(line)
            except ValueError:  # json's and msgspec's decode errors both are
                continue
            if isinstance(data, dict):
                out.append(data)
    return out


def write_csv(run_dir: Path, out: Path | None = None) -> Path:
    out = Path(out) if out else Path(run_dir) / "results.csv"
    atomic_write_text(out, to_csv(read_dicts(Path(run_dir) / RESULTS_FILE)))
    return out
