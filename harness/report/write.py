"""Render the report model into one self-contained HTML file (jinja2, autoescape on)."""
from __future__ import annotations

import json
from pathlib import Path

from ..results.store import atomic_write_text
from .model import build_model


def embed_json(data) -> str:
    """JSON safe inside <script>: no element can be closed or opened from the data."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(model: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True))
    env.filters["embed_json"] = embed_json
    return env.get_template("report.html.j2").render(**model)


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    out = Path(out) if out else Path(run_dir) / "report.html"
    atomic_write_text(out, render(build_model(Path(run_dir))))
    return out
