"""The compatibility matrix: per model, rows device x ABI, columns engine x variant.

A cell shows the worst status over every record of that combination (compat and latency suites,
all governors and repeats): one failed run among ten ok ones is the thing to see. The template
renders each cell as a button whose title (hover) and click panel both give the reason, so it
works with a mouse, a keyboard and a screen reader, not only by colour (there is a symbol too).

"Ran" is not "outputs fine": an ok cell is ✓ only when its outputs passed a fidelity check, its
own (host runs) or the host's of the same file in this run (outputs.py), and the latter is
marked as such. Phone tools feed their own inputs, so a phone cell with no host run of its file
is "output not checked" (?), never ✓.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..results.schema import is_timeout
from .cells import status_cells

KEY = ["model", "device", "abi", "engine", "variant"]
SYMBOL = {"ok": "✓", "unsupported": "–", "failed": "✗", "infra_error": "!", "skipped": "○",
          "unchecked": "?"}
MAX_CELLS = 20000  # beyond this the matrix stops adding models (the note says how many it left)
SHA_SHOWN = 12  # hex digits of the file's sha256 in the text: enough to tell files apart


def _outputs(row: Any) -> tuple[str, str, str]:
    """(status, mark, words) of an ok cell from its outputs check: its own, the host's of the
    same file (mark "h"), or none."""
    same_file = f"same file sha256 {row.variant_sha256[:SHA_SHOWN]}…" if row.variant_sha256 else ""
    if row.fid_ok == 1:
        return "ok", "", "runs, outputs checked"
    if row.host_fid_ok == 1:
        return "ok", "h", f"runs, outputs checked on host ({same_file}): ok"
    if row.host_fid_ok == 0:
        why = f": {row.host_fid_reason}" if row.host_fid_reason else ""
        return "failed", "h", f"runs, but outputs checked on host ({same_file}) failed{why}"
    return "unchecked", "", ("runs, output not checked: nothing compared its outputs with fp32 "
                             "(phone benchmark tools feed their own inputs) and no host run of "
                             "the same file did in this run")


def _cell(row: Any) -> dict[str, Any]:
    status = row.status if row.status in SYMBOL else "failed"
    detail = f"{row.ok_records} of {row.records} records ok"
    reason, mark, label = row.reason or "no reason recorded", "", status
    if status == "ok":
        status, mark, reason = _outputs(row)
        label = {"ok": "ok", "failed": "outputs failed on host",
                 "unchecked": "output not checked"}[status]
        label += " (verdict of the host's check of the same file)" if mark else ""
    elif is_timeout(status, row.reason):  # killed at the timeout: not an outputs finding
        label = "timed out"
    return {"status": status, "symbol": SYMBOL[status], "mark": mark, "label": label,
            "text": f"{row.device} {row.abi} · {row.engine} {row.variant}: {label} — {reason} ({detail})"}


def _verdicts(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cell: its own worst fidelity verdict, the host's of the same file, and that file."""
    out = frame.groupby(KEY, sort=True).agg(
        fid_ok=("fid_ok", "min"), host_fid_ok=("host_fid_ok", "min"),
        variant_sha256=("variant_sha256", "first")).reset_index()
    failed = frame.loc[frame["host_fid_ok"] == 0, KEY + ["host_fid_reason"]]  # few records
    return out.merge(failed.drop_duplicates(KEY), on=KEY, how="left").fillna({"host_fid_reason": ""})


def compat_matrices(frame: pd.DataFrame) -> dict[str, Any]:
    if frame.empty:
        return {"models": [], "omitted": 0}
    cells = status_cells(frame, KEY).merge(_verdicts(frame), on=KEY, how="left")
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
