"""The conversion matrix ``models build`` prints last: model x engine x variant, each cell ``ok``
(with its fidelity figure against the source), ``drift`` (the figure that failed), ``built``
(an artifact this host cannot run, e.g. Core ML on Linux) or a footnote with the reason it
could not be made; and per model the chain every converted format came through. Pure: it reads
index entries (variants.json) only.
"""
from __future__ import annotations

from typing import Any, Iterable

from .verify import summary

ENGINE_OF_FORMAT = {"onnx": "onnxruntime", "tflite": "tflite", "ncnn": "ncnn", "mnn": "mnn",
                    "coreml": "coreml"}


def cell_text(entry: dict[str, Any] | None) -> tuple[str, str | None]:
    """(what the cell shows, the reason to footnote or None)."""
    if entry is None:
        return "not built", None
    if entry["status"] != "ok":
        return "no", entry.get("reason") or "unknown"
    fidelity = entry.get("fidelity") or {}
    if fidelity.get("reference"):
        return "ok (source)", None
    if fidelity.get("ok") is True:
        return f"ok {summary(fidelity)}", None
    if fidelity.get("ok") is False:
        figure = summary(fidelity)
        return (f"drift {figure}" if figure != "unchecked" else "fails"), fidelity.get("reason")
    return "built", None  # cannot run here (Core ML on Linux): nothing to compare


def chain_text(entry: dict[str, Any]) -> str:
    """``tflite (source) -> onnx (tflite2onnx 0.4.1) -> ncnn (pnnx 20261020)``."""
    parts = []
    for step in entry.get("chain") or ():
        if step.get("converter") == "source":
            parts.append(f"{step['format']} (source)")
        else:
            version = f" {step['version']}" if step.get("version") else ""
            parts.append(f"{step['format']} ({step['converter']}{version})")
    return " -> ".join(parts)


def render(entries: Iterable[dict[str, Any]], variants: Iterable[str]) -> str:
    entries = list(entries)
    variants = list(variants)
    models = list(dict.fromkeys(e["model"] for e in entries))
    formats = [f for f in ENGINE_OF_FORMAT if any(e["format"] == f for e in entries)]
    by_cell = {(e["model"], e["format"], e["variant"]): e for e in entries}
    notes: dict[str, int] = {}
    rows = []
    for model in models:
        for fmt in formats:
            cells = []
            for variant in variants:
                text, reason = cell_text(by_cell.get((model, fmt, variant)))
                if reason:
                    number = notes.setdefault(reason, len(notes) + 1)
                    text = f"{text} [{number}]"
                cells.append(text)
            if any(c != "not built" for c in cells):
                rows.append([model, ENGINE_OF_FORMAT[fmt], *cells])
    header = ["model", "engine", *variants]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    out = ["conversion matrix (fidelity: outputs vs the source's on its benchmark picture)",
           line(header), *(line(r) for r in rows)]
    chains = [(e["model"], e["format"], chain_text(e)) for e in entries
              if e["status"] == "ok" and e["variant"] == "fp32" and len(e.get("chain") or ()) > 1]
    if chains:
        out.append("chains (fp32; every variant of a format is built from its fp32 model):")
        out += [f"  {model} {ENGINE_OF_FORMAT[fmt]}: {text}" for model, fmt, text in chains]
    if notes:
        out.append("reasons:")
        out += [f"  [{n}] {reason}" for reason, n in notes.items()]
    return "\n".join(out)
