"""The terminal summary printed at the end of a pytest session.

It has to stay readable when a run has hundreds of cells: measured cells (and failures) get a
row each, unsupported cells are counted by reason (the report's compat matrix has every one),
and the two seed-style tables come from the same report model the HTML page renders.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..config import DEFAULT_COMPUTE_UNITS
from ..results.schema import Measurement

HEADER = ["device", "model", "variant", "engine", "status", "median ms", "p90 ms",
          "95% CI median", "peak MB", "note"]


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _latency_text(lat: dict[str, Any]) -> str:
    """The median, or for a phone tool's summary its own mean, marked as such: never a median.
    Even when the tool printed a p50 (onnxruntime_perf_test): phone cells compare mean to mean,
    as the report's tables do."""
    if lat.get("summary_only") and lat.get("mean_ms") is not None:
        return f"{_fmt(lat['mean_ms'])} (mean)"
    return _fmt(lat.get("median_ms"))


def _row(r: Measurement) -> list[str]:
    lat = r.latency or {}
    mem = r.memory or {}
    note = r.reason or ""
    if r.status == "ok" and r.conditions.get("noisy"):
        note = f"NOISY: {r.conditions.get('noise_reason')}"
    if r.status == "ok" and r.conditions.get("throttled"):
        changes = (r.conditions.get("throttle") or {}).get("changes") or []
        note = "; ".join(filter(None, ["THROTTLED" + (f": {changes[0]}" if changes else ""), note]))
    if r.status == "ok" and r.conditions.get("hot_start"):
        note = "; ".join(filter(None, ["HOT START", note]))
    if r.status == "ok" and r.device.get("virtual"):
        note = ("virtual; " + note).rstrip("; ")
    ci = (f"{_fmt(lat.get('ci95_low_ms'))}..{_fmt(lat.get('ci95_high_ms'))}"
          if lat.get("ci95_low_ms") is not None else "-")
    return [r.device.get("id", ""), r.model.get("name", ""), r.variant.get("id", ""),
            engine_label(r), r.status, _latency_text(lat), _fmt(lat.get("p90_ms")),
            ci, _fmt(mem.get("peak_rss_mb"), 1), note[:70]]


def _shown(records: list[Measurement]) -> list[Measurement]:
    """Latency records when the run has them (compat repeats the same cells), minus unsupported."""
    suite = "latency" if any(r.suite == "latency" for r in records) else None
    chosen = [r for r in records if (suite is None or r.suite == suite) and r.status != "unsupported"]
    return sorted(chosen, key=lambda r: (r.device.get("id", ""), r.model.get("name", ""),
                                         r.variant.get("id", ""), engine_label(r)))


def engine_label(r: Measurement) -> str:
    """The engine as the report names the cell: ``coreml/cpuOnly`` for an iPhone Core ML cell
    measured with other compute units than the default (report/frame.py does the same)."""
    units = (r.conditions or {}).get("ios_compute_units")
    name = r.engine.get("name", "")
    return f"{name}/{units}" if units and units != DEFAULT_COMPUTE_UNITS else name


COLLAPSE_INFRA_AT = 3  # a hung or unplugged phone fails every cell alike: one line says it all


def _collapse_infra(records: list[Measurement]) -> tuple[list[Measurement], list[str]]:
    """A device whose cells are mostly infra errors gets one line per reason instead of a row
    per cell (a hung phone among three otherwise buries the measured rows under 40 copies)."""
    by_device: dict[tuple[str, str], list[Measurement]] = {}
    for r in records:
        if r.status == "infra_error":
            by_device.setdefault((r.device.get("id", ""), r.reason or ""), []).append(r)
    groups = {key: group for key, group in by_device.items() if len(group) >= COLLAPSE_INFRA_AT}
    if not groups:
        return records, []
    hidden = {id(r) for group in groups.values() for r in group}
    lines = [f"infra_error: {len(group)} cells on {device}: {reason}"
             for (device, reason), group in sorted(groups.items())]
    return [r for r in records if id(r) not in hidden], lines


def format_table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header) - 1)]
    lines = ["  ".join([str(c).ljust(w) for c, w in zip(row, widths)] + [str(row[-1])]).rstrip()
             for row in [header] + rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return lines


def _tool_summary_note(records: list[Measurement]) -> list[str]:
    tools = sorted({str((r.extra.get("tool") or {}).get("file") or r.engine.get("name", ""))
                    for r in records if r.status == "ok" and _latency_text(r.latency or {}).endswith("(mean)")})
    if not tools:
        return []
    return [f"(mean): the phone tool's own mean ({', '.join(tools)} print a summary, not samples): "
            f"no median, no CI"]


def _unsupported_lines(records: list[Measurement]) -> list[str]:
    cells = {(r.device.get("id"), r.model.get("name"), r.variant.get("id"), r.engine.get("name")): r
             for r in records if r.status == "unsupported"}
    if not cells:
        return []
    reasons = Counter(_reason_kind(r.reason or "") for r in cells.values())
    lines = [f"{len(cells)} cells unsupported (each with its reason in the report's compat matrix):"]
    lines += [f"  {n:>4} x {reason}" for reason, n in reasons.most_common(6)]
    if len(reasons) > 6:
        lines.append(f"  {sum(n for _, n in reasons.most_common()[6:]):>4} x other reasons")
    return lines


def _reason_kind(reason: str) -> str:
    """Group reasons that differ only by model name: keep the part after the first colon."""
    head, sep, tail = reason.partition(": ")
    text = tail if sep and head.startswith("no ") else reason
    # a reason that names the command fixing it (a missing phone tool) keeps that command whole
    return text[:140] if "`python -m harness " in text else text[:90]


def _guessed_input_lines(records: list[Measurement]) -> list[str]:
    """Dynamic input dims nobody gave: said at the end too, where people read the numbers."""
    guessed = {r.model.get("name", ""): r.extra["input_shape_guessed"] for r in records
               if isinstance(r.extra.get("input_shape_guessed"), dict)}
    if not guessed:
        return []
    return ["input shapes guessed for dynamic dims (the numbers time these; give the real ones "
            "with --input-shape NAME=DIMS):"] + [
        f"  {model}: " + ", ".join(f"{name}={'x'.join(map(str, dims))}" for name, dims in inputs.items())
        for model, inputs in sorted(guessed.items())]


def _energy(r: Measurement) -> str:
    """Energy per inference (mJ, net of idle) with its 95% CI half-width where there is one."""
    power = r.power or {}
    value, ci = power.get("energy_per_inference_mj"), power.get("ci95_mj")
    if value is None:
        return "-"
    if isinstance(ci, list) and len(ci) == 2 and None not in ci:
        return f"{value:.3g} ±{(ci[1] - ci[0]) / 2:.2g}"
    return f"{value:.3g}"


def _table(shown: list[Measurement]) -> list[str]:
    """The per-cell table; a governor column when the run swept governors, an energy column
    when some cell has energy per inference."""
    header, rows = list(HEADER), [_row(r) for r in shown]
    governors = [str(r.conditions.get("governor_requested") or "default") for r in shown]
    if len(set(governors)) > 1:
        header.insert(4, "governor")
        rows = [row[:4] + [g] + row[4:] for row, g in zip(rows, governors)]
    if any((r.power or {}).get("energy_per_inference_mj") is not None for r in shown):
        header.insert(-1, "mJ/inf")
        rows = [row[:-1] + [_energy(r), row[-1]] for row, r in zip(rows, shown)]
    return format_table(header, rows)


def _power_lines(records: list[Measurement]) -> list[str]:
    """Why measurements have no power: once per reason, with how many."""
    reasons = Counter((r.power or {}).get("unavailable") for r in records
                      if r.status == "ok" and r.suite == "latency" and r.power)
    reasons.pop(None, None)
    return [f"power unavailable ({n} cells): {reason}" for reason, n in reasons.most_common(4)]


def _cooldown_lines(records: list[Measurement], limit: int = 4) -> list[str]:
    """How long cells waited to cool (run/cooldown.py), and the cells that started hot anyway."""
    waits = [(r, r.conditions["cooldown"]["waited_s"]) for r in records
             if (r.conditions.get("cooldown") or {}).get("waited_s")]
    lines = []
    if waits:
        longest, seconds = max(waits, key=lambda pair: pair[1])
        lines.append(f"cooldown: {len(waits)} cells waited {sum(s for _, s in waits):.1f} s in all "
                     f"(longest {seconds:.1f} s on {longest.device.get('id', '')})")
    hot = [r for r in records if r.conditions.get("hot_start")]
    if hot:
        lines.append(f"HOT START: {len(hot)} cells did not cool in time and were measured hot:")
        lines += [f"  {r.device.get('id', '')} {r.model.get('name', '')} {r.variant.get('id', '')} "
                  f"{r.engine.get('name', '')}: {r.conditions.get('hot_start_reason')}"
                  for r in hot[:limit]]
        if len(hot) > limit:
            lines.append(f"  ... {len(hot) - limit} more in the report")
    return lines


def summary_lines(records: list[Measurement], report_model: dict[str, Any] | None = None) -> list[str]:
    if not records:
        return ["no measurements recorded"]
    counts = Counter(r.status for r in records)
    lines = ["records: " + ", ".join(f"{n} {s}" for s, n in counts.most_common())]
    shown, collapsed = _collapse_infra(_shown(records))
    lines += _table(shown)
    lines += _tool_summary_note(shown)
    lines += _cooldown_lines(shown)
    lines += _power_lines(shown)
    lines += collapsed
    lines += _unsupported_lines(records)
    lines += _guessed_input_lines(records)
    for key, title in (("variants", "Variants vs fp32"), ("engines", "Engines side by side")):
        table = (report_model or {}).get("tables", {}).get(key)
        if table and table.get("rows"):
            lines += ["", title] + text_table(table)
    return lines + claim_lines((report_model or {}).get("tables", {}).get("governor_variants"))


def claim_lines(table: dict[str, Any] | None, limit: int = 40) -> list[str]:
    """The governor x variant table as the seed words it, one line per cell."""
    if not table or not table.get("rows"):
        return []
    keys = [c["key"] for c in table["columns"]]
    rows = [dict(zip(keys, row)) for row in table["rows"]]
    references = {r["reference"] for r in rows}
    one = len(references) == 1
    lines = ["", "Governor x variant, vs " + (next(iter(references)) if one else "fp32 at the "
                                              "reference governor") + " per device, model, engine"]
    lines += [f"  {r['device']} {r['model']} {r['engine']}"
              + ("" if one else f" (vs {r['reference']})") + f": {r['claim']}"
              + (" [throttled]" if r.get("throttled_flag") else "") for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"  ... {len(rows) - limit} more in the report")
    return lines


_SKIP_COLUMNS = {"peak_rss_mb", "mem_change", "ref_central_ms"}
_SKIP_WHEN_ALIKE = {"governor", "abi"}  # shown only when they tell rows apart (a governor sweep)


def text_table(table: dict[str, Any], limit: int = 60) -> list[str]:
    """A report table (column specs + rows) as fixed-width text, the key columns only."""
    def alike(i: int) -> bool:
        return len({row[i] for row in table["rows"]}) <= 1

    keep = [i for i, c in enumerate(table["columns"])
            if c["key"] not in _SKIP_COLUMNS and c["type"] not in ("box", "flags")
            and not c["detail"] and not (c["key"] in _SKIP_WHEN_ALIKE and alike(i))]
    header = [table["columns"][i]["label"] for i in keep]
    rows = [[_cell(table["columns"][i], row[i]) for i in keep] for row in table["rows"][:limit]]
    best = table.get("best")
    if best:  # the winner's cell gets a *, as the page marks it
        at = next(i for i, c in enumerate(table["columns"]) if c["key"] == best["key"])
        for out, row in zip(rows, table["rows"][:limit]):
            for j, i in enumerate(keep):
                if table["columns"][i]["key"] == best["prefix"] + str(row[at]):
                    out[j] += " *"
    lines = format_table(header + [""], [r + [""] for r in rows])
    if len(table["rows"]) > limit:
        lines.append(f"... {len(table['rows']) - limit} more rows in the report")
    return lines


def _cell(column: dict[str, Any], value: Any) -> str:
    if value is None:
        return "-"
    if column["key"] == "missing":  # engine: status only; the reasons are counted above
        return re.sub(r"([\w.-]+): (\w+): [^;]*", r"\1 \2", str(value)) or "-"
    kind, digits = column["type"], column.get("digits", 2)
    if kind == "ratio":
        return f"{value:.{digits}f}x"
    if kind == "pct":  # a fraction, as the HTML page shows it (report.js: value * 100)
        return f"{value * 100:+.{digits}f}%"
    if kind in ("num", "mb"):
        return f"{value:.{digits}f}"
    return str(value)
