"""A short Markdown summary of a run for ``$GITHUB_STEP_SUMMARY`` (the job's summary page).

It answers the report's first questions only (counts, conditions, what to ship, regressions) and
points at report.html for the rest. Device and model names are untrusted and GitHub renders HTML
in Markdown, so every value is escaped: no tag, link, emphasis or table cell can come from data.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MAX_ROWS = 20
_ESCAPES = {"\\": "\\\\", "|": "\\|", "*": "\\*", "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]",
            "#": "\\#", "!": "\\!", "~": "\\~", "<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md(value: Any) -> str:
    text = "–" if value is None else str(value)
    text = "".join(_ESCAPES.get(ch, ch) for ch in text)
    return " ".join(text.split())  # newlines would end a table row


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "ratio":
        return f"{value:.2f}×"
    if kind == "pct":
        return f"{value * 100:+.1f}%"
    if kind == "num":
        return f"{value:.3f}"
    if kind == "flags":
        return md(", ".join(value)) if value else ""
    return md(value)


def _table(spec: dict[str, Any], keys: list[str], where=None) -> list[str]:
    cols = [c for c in spec["columns"] if c["key"] in keys]
    index = [spec["columns"].index(c) for c in cols]
    rows = [r for r in spec["rows"] if where is None or where(dict(zip((c["key"] for c in spec["columns"]), r)))]
    if not rows:
        return []
    lines = ["| " + " | ".join(md(c["label"]) for c in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows[:MAX_ROWS]:
        lines.append("| " + " | ".join(_fmt(row[i], c["type"]) for i, c in zip(index, cols)) + " |")
    if len(rows) > MAX_ROWS:
        lines.append(f"\n… and {len(rows) - MAX_ROWS} more rows in report.html")
    return lines


def markdown_summary(model: dict[str, Any], report_path: str = "report.html") -> str:
    s = model["summary"]
    counts = " · ".join(f"{n} {md(status)}" for status, n in s["counts"]) or "no records"
    out = [f"## edgelab run {md(model['run_id'])}", "",
           f"**{s['records']} records**: {counts} · {s['devices']} device(s) · {s['cells']} latency cells"]
    if s.get("regressions") is not None:
        out[-1] += f" · **{s['regressions']} regressions** vs {md(s['baseline'])}"
    if s["warnings"]:
        out += ["", "Conditions:"] + [f"- {md(w['text'])}" for w in s["warnings"]]
    best = model["tables"].get("best")
    if best and best["rows"]:
        out += ["", "### What to ship", ""]
        out += _table(best, ["model", "device", "abi", "variant", "engine", "central_ms",
                             "central_kind", "speedup", "clear", "fidelity", "flags"])
    regressions = model["tables"].get("regressions")
    if regressions:
        lines = _table(regressions, ["verdict", "device", "model", "variant", "engine",
                                     "central_ms_base", "central_ms", "central_kind", "change",
                                     "note"],
                       where=lambda r: r["verdict"] in ("regressed", "broke"))
        if lines:
            out += ["", "### Regressions", ""] + lines
    out += ["", f"Full report: `{md(report_path)}`", ""]
    return "\n".join(out)


def append_step_summary(model: dict[str, Any], report_path: Path | str) -> Path | None:
    """Append to the file named by ``$GITHUB_STEP_SUMMARY``; do nothing outside GitHub Actions."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(markdown_summary(model, str(report_path)) + "\n")
    return Path(target)
