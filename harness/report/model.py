"""Turn a run directory into the plain data the report templates render (no HTML here)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..results.store import RunStore
from .summary import summary_rows


def build_model(run_dir: Path) -> dict[str, Any]:
    store = RunStore(run_dir)
    records = store.records()
    info = store.read_run_info()
    return {
        "run_id": info.get("run_id", Path(run_dir).name),
        "info": info,
        "counts": dict(Counter(r.status for r in records)),
        "header": ["device", "model", "variant", "engine", "suite", "status", "median ms",
                   "p90 ms", "95% CI median", "peak MB", "note"],
        "rows": summary_rows(records),
        "records": [r.to_dict() for r in records],
    }
