"""A run directory (and optionally a baseline run) -> the plain data the report renders.

No HTML here (SVG charts excepted, which are data-shaped markup built from escaped text). The
template and the Markdown summary only format what this returns.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..results.baselines import label as baseline_label
from ..results.schema import STATUSES, is_timeout
from .cells import build_cells, latency_records
from .charts import chart_section
from .compare import compare_runs
from .compat import compat_matrices
from .frame import RecordTable
from .governor import governor_section
from .load import no_cyclic_gc, read_run
from .tables import best_table, engine_table, latency_table, variant_table
from .traces import trace_section


def build_model(run_dir: Path, baseline: Path | None = None, rules=None,
                history: Path | None = None, root: Path | None = None) -> dict[str, Any]:
    """``rules``: the gate's ``GateRules`` for the regressions (default: median:5%, alpha 0.01).
    ``history``: a run-history database (results/history.py): the Trends section's sparklines,
    and ``model["history_cells"]`` for ingesting this run afterwards; ``root``: the lab repo
    (its git commit is the run's)."""
    with no_cyclic_gc():
        return _build(Path(run_dir), baseline, rules, history, root)


def _build(run_dir: Path, baseline: Path | None, rules=None, history: Path | None = None,
           root: Path | None = None) -> dict[str, Any]:
    info, table = read_run(run_dir)
    measured = latency_records(table.frame)  # once: the cells and the warnings both need it
    cells = build_cells(table, measured)
    run_id = str(info.get("run_id") or run_dir.resolve().name)
    tables = {"latency": latency_table(cells), "variants": variant_table(cells, table.frame),
              "engines": engine_table(cells, table.frame), "best": best_table(cells)}
    governor = governor_section(cells)
    if governor.get("table"):
        tables["governor"] = governor.pop("table")
    if governor.get("variants_table"):
        tables["governor_variants"] = governor.pop("variants_table")
    regressions = None
    if baseline is not None:
        base_info, base_table = read_run(Path(baseline))
        base_id = baseline_label(Path(baseline), str(base_info.get("run_id") or ""))
        regressions = compare_runs(table, base_table, base_id, rules)
        regressions["torn_lines"] = base_table.torn_lines
        tables["regressions"] = regressions.pop("table")
    trends = history_cells = None
    if history is not None:  # only then: the report of a run without history pays nothing
        from .trends import cell_rows, run_row, trend_section

        history_cells = (run_row(info, run_dir, root), cell_rows(table))
        trends = trend_section(Path(history), *history_cells)
    return {
        "run_id": run_id,
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "summary": _with_input_warnings(summary(info, table, cells, regressions, measured), table),
        "devices": devices(info, table),
        "tables": tables,
        "compat": compat_matrices(table.frame),
        "charts": chart_section(cells, table.frame),
        "governor": governor,
        "traces": trace_section(table),
        "regressions": regressions,
        "trends": trends,
        "history_cells": history_cells,
        "environment": environment(info, table),
    }


def _duration(info: dict[str, Any]) -> str:
    try:
        start = _dt.datetime.fromisoformat(str(info["started"]))
        end = _dt.datetime.fromisoformat(str(info["finished"]))
    except (KeyError, ValueError):
        return ""
    return f"{(end - start).total_seconds():.0f} s"


def summary(info: dict[str, Any], table: RecordTable, cells: pd.DataFrame,
            regressions: dict | None, measured: pd.DataFrame | None = None) -> dict[str, Any]:
    frame = table.frame
    counts = frame["status"].value_counts().to_dict()
    order = [s for s in STATUSES if s in counts] + sorted(set(counts) - set(STATUSES))
    done = completion(info, frame["test_id"])
    return {
        "started": info.get("started", ""), "finished": info.get("finished", ""),
        "duration": _duration(info), "exitstatus": info.get("pytest_exitstatus"),
        "records": len(frame), "counts": [(s, int(counts[s])) for s in order],
        "devices": int(frame["device"].nunique()), "models": sorted(frame["model"].unique()),
        "engines": sorted(frame["engine"].unique()), "variants": sorted(frame["variant"].unique()),
        "cells": len(cells), "regressions": None if regressions is None else regressions["regressions"],
        "baseline": None if regressions is None else regressions["baseline"],
        "warnings": _damage(done, table, regressions) + warnings(frame, cells, measured),
        "notes": [str(n) for n in info.get("notes") or []],
        "completion": done, "torn_lines": table.torn_lines,
    }


def completion(info: dict[str, Any], test_ids) -> dict[str, Any] | None:
    """How much of a run that did not finish is on disk: the cells planned at session start
    (run.json ``planned``) against the test ids recorded. None for a run that finished."""
    if info.get("finished") and not info.get("interrupted"):
        return None
    planned = info.get("planned") if isinstance(info.get("planned"), dict) else {}
    ids = planned.get("test_ids") if isinstance(planned.get("test_ids"), list) else None
    seen = {str(t) for t in test_ids if t}
    if ids is None:
        recorded, of = len(seen), f"{len(seen)} cells recorded, planned count unknown"
    else:
        recorded = len(seen & {str(t) for t in ids})
        of = f"{recorded} of {len(ids)} cells recorded"
    if info.get("interrupted"):
        state, text = "interrupted", f"interrupted by {info['interrupted']}: {of}"
    else:
        state, text = "incomplete", f"incomplete: {of} (run did not finish)"
    return {"state": state, "text": text, "recorded": recorded,
            "planned": None if ids is None else len(ids)}


def _damage(done: dict | None, table: RecordTable,
            regressions: dict | None) -> list[dict[str, str]]:
    """What is missing from the records: an unfinished run, lines skipped as torn."""
    out = [{"level": "bad", "text": done["text"]}] if done else []
    if table.torn_lines:
        out.append({"level": "bad", "text": f"results.jsonl: {_lines(table.torn_lines)} skipped: "
                    f"a record cut short (the run was killed while writing it)"})
    if regressions and regressions.get("torn_lines"):
        out.append({"level": "warn", "text": f"baseline {regressions['baseline']}: "
                    f"{_lines(regressions['torn_lines'])} skipped (a record cut short)"})
    return out


def _lines(n: int) -> str:
    return f"{n} damaged line" + ("s" if n != 1 else "")


def _some(values, limit: int = 4) -> str:
    items = sorted({str(v) for v in values if v})
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def warnings(frame: pd.DataFrame, cells: pd.DataFrame,
             measured: pd.DataFrame | None = None) -> list[dict[str, str]]:
    """Conditions that change how far the numbers can be trusted, most serious first.
    ``measured``: latency_records(frame) when the caller already has it."""
    out = []
    if measured is None:
        measured = latency_records(frame)
    # only the device column of the hits is read: selecting it alone skips copying 60 columns
    status = np.asarray(frame["status"], dtype=object)
    failed = frame["device"][status == "failed"]
    if len(failed):
        reasons = frame["reason"][status == "failed"]
        timed_out = sum(is_timeout("failed", r) for r in reasons if isinstance(r, str))
        how = (f" ({timed_out} of them timed out: the tool was killed at --edgelab-timeout)"
               if timed_out else "")
        out.append({"level": "bad", "text": f"{len(failed)} failed records{how} on "
                                            f"{_some(failed)}"})
    infra = frame["device"][status == "infra_error"]
    if len(infra):
        out.append({"level": "warn", "text": f"{len(infra)} infra errors (device or transport, not "
                                              f"regressions) on {_some(infra)}"})
    bad_fidelity = cells[cells["fid_ok"] == 0]
    if len(bad_fidelity):
        out.append({"level": "bad", "text": f"{len(bad_fidelity)} cells failed their fidelity check: "
                    f"{_some(bad_fidelity['model'] + ' ' + bad_fidelity['variant'])}"})
    for flag, text in (("throttled", "ran throttled"), ("noisy", "were noisy"),
                       ("charging", "ran while charging"),
                       ("hot_start", "started hot (the cooldown timed out; measured anyway)")):
        hits = measured[measured[flag]]
        if len(hits):
            why = f" ({_some(hits['noise_reason'], 3)})" if flag == "noisy" else ""
            named = f": {_throttled_runs(hits)}" if flag == "throttled" else ""
            out.append({"level": "warn", "text": f"{len(hits)} of {len(measured)} measurements {text}"
                        f"{why} on {_some(hits['device'])}{named}"})
    out += power_warnings(measured)
    virtual = frame[frame["virtual"]]["device"].unique()
    if len(virtual):
        out.append({"level": "info", "text": f"{len(virtual)} virtual device(s) ({_some(virtual)}): "
                    f"their numbers describe the stand-in, not a phone"})
    return out


def _throttled_runs(hits: pd.DataFrame, limit: int = 4) -> str:
    """The throttled runs by name, each with what changed first."""
    runs = [f"{r.device} {r.model} {r.variant} {r.engine} @ {r.governor}"
            + (f" ({r.throttle_changes.split('; ')[0]})" if r.throttle_changes else "")
            for r in hits.head(limit).itertuples()]
    more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
    return "; ".join(runs) + more


def power_warnings(measured: pd.DataFrame) -> list[dict[str, str]]:
    """Measurements without power, once per reason (figures in a reason, such as sample counts,
    do not make it another reason)."""
    missing = measured[measured["power_unavailable"] != ""]
    if missing.empty:
        return []
    keys = missing["power_unavailable"].str.replace(r"\d+(\.\d+)?", "N", regex=True)
    out = []
    for _, group in missing.groupby(keys, sort=False):
        out.append({"level": "warn", "text": f"power unavailable for {len(group)} of "
                    f"{len(measured)} measurements on {_some(group['device'])}: "
                    f"{group['power_unavailable'].iloc[0]}"})
    return out


def _with_input_warnings(summary_data: dict[str, Any], table: RecordTable) -> dict[str, Any]:
    summary_data["warnings"] = summary_data["warnings"] + input_shape_warnings(table)
    return summary_data


def input_shape_warnings(table: RecordTable) -> list[dict[str, str]]:
    """Models measured with guessed input dims (dynamic dims nobody fixed with --input-shape):
    their numbers time the guessed shape. Read from the model identity records carry
    (``model.input_shape_guessed``), decoded once per model."""
    guessed = {name: d["input_shape_guessed"] for name, d in table.identities.get("model", {}).items()
               if isinstance(d.get("input_shape_guessed"), dict) and d["input_shape_guessed"]}
    if not guessed:
        return []
    shapes = "; ".join(f"{model} " + ", ".join(f"{name}={'x'.join(map(str, dims))}"
                                               for name, dims in inputs.items())
                       for model, inputs in sorted(guessed.items()))
    return [{"level": "warn", "text": f"input shapes guessed for dynamic dims ({shapes}): the "
             f"numbers time these shapes; give the real ones with --input-shape NAME=DIMS"}]


def devices(info: dict[str, Any], table: RecordTable) -> list[dict[str, Any]]:
    frame = table.frame
    counts = frame.assign(ok=frame["status"] == "ok").groupby("device").agg(
        records=("status", "size"), ok=("ok", "sum"))
    known = dict(table.identities.get("device", {}))
    for dev in info.get("devices") or []:  # devices discovered but never measured still show
        if isinstance(dev, dict) and dev.get("id") and str(dev["id"]) not in known:
            known[str(dev["id"])] = {**(dev.get("details") or {}), **dev}
    rows = []
    for dev_id in sorted(known):
        d = known[dev_id]
        abis = d.get("abis")
        rows.append({
            "id": dev_id, "kind": d.get("kind") or "", "model": d.get("model") or "",
            "soc": d.get("soc") or "", "abis": ", ".join(map(str, abis)) if isinstance(abis, list)
            else str(abis or ""), "os": d.get("os") or "", "arch": d.get("arch") or "",
            "virtual": d.get("virtual") is True,
            "records": int(counts["records"].get(dev_id, 0)), "ok": int(counts["ok"].get(dev_id, 0)),
        })
    return rows


def environment(info: dict[str, Any], table: RecordTable) -> dict[str, Any]:
    env = info.get("environment") if isinstance(info.get("environment"), dict) else {}
    engines = info.get("engines") if isinstance(info.get("engines"), dict) else {}
    seen = table.frame[table.frame["engine_version"] != ""].groupby("engine")["engine_version"].unique()
    argv = info.get("argv")
    return {
        "items": [("run id", info.get("run_id", "")), ("started", info.get("started", "")),
                  ("finished", info.get("finished", "")),
                  ("pytest exit status", info.get("pytest_exitstatus", "")),
                  ("command", " ".join(map(str, argv)) if isinstance(argv, list) else argv or "")]
                 + [(str(k), v) for k, v in env.items()],
        "engines": [(str(k), str(v)) for k, v in engines.items()],
        "engines_seen": [(str(k), ", ".join(sorted(map(str, v)))) for k, v in seen.items()],
        "options": json.dumps(info.get("options", {}), indent=2, default=str, sort_keys=True),
    }
