"""The compatibility matrix: per model, rows device x ABI, columns engine x variant.

A cell shows the worst status over every record of that combination (compat and latency suites,
all governors and repeats): one failed run among ten ok ones is the thing to see. The template
renders each cell as a button whose title (hover) and click panel both give the reason, so it
works with a mouse, a keyboard and a screen reader, not only by colour (there is a symbol too).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .cells import status_cells

KEY = ["model", "device", "abi", "engine", "variant"]
SYMBOL = {"ok": "✓", "unsupported": "–", "failed": "✗", "infra_error": "!", "skipped": "○"}
MAX_CELLS = 20000  # beyond this the matrix stops adding models (the note says how many it left)


def _cell(row: Any) -> dict[str, Any]:
    status = row.status if row.status in SYMBOL else "failed"
    detail = f"{row.ok_records} of {row.records} records ok"
    reason = row.reason or ("runs" if status == "ok" else "no reason recorded")
    return {"status": status, "symbol": SYMBOL[status],
            "text": f"{row.device} {row.abi} · {row.engine} {row.variant}: {status} — {reason} ({detail})"}


def compat_matrices(frame: pd.DataFrame) -> dict[str, Any]:
    if frame.empty:
        return {"models": [], "omitted": 0}
    cells = status_cells(frame, KEY)
    out, used, omitted = [], 0, 0
    for model, part in cells.groupby("model", sort=True):
        columns = sorted(set(zip(part["engine"], part["variant"])))
        rows = sorted(set(zip(part["device"], part["abi"])))
        if used + len(columns) * len(rows) > MAX_CELLS and out:
            omitted += 1
            continue
        used += len(columns) * len(rows)
        lookup = {(r.device, r.abi, r.engine, r.variant): _cell(r) for r in part.itertuples()}
        engines = []  # header row 1: each engine spans its variants
        for engine, variant in columns:
            if engines and engines[-1]["name"] == engine:
                engines[-1]["span"] += 1
            else:
                engines.append({"name": engine, "span": 1})
        out.append({
            "model": model, "engines": engines, "variants": [v for _, v in columns],
            "rows": [{"device": d, "abi": a,
                      "cells": [lookup.get((d, a, e, v)) for e, v in columns]} for d, a in rows],
            "counts": part["status"].value_counts().to_dict(),
        })
    return {"models": out, "omitted": omitted}
