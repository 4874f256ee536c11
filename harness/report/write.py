"""Render the report model into one self-contained HTML file (jinja2, autoescape on).

CSS and JS are our own files under templates/, inlined verbatim (they hold no untrusted data);
all run data reaches the page either autoescaped by jinja2 or inside the one JSON block that
``embed_json`` makes safe to sit in a <script> element. The page script only ever sets
``textContent``, so data is never parsed as HTML on the client either.
"""
from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from pathlib import Path

from markupsafe import Markup

from ..results.store import atomic_write_text
from .model import build_model


def embed_json(data) -> str:
    """JSON safe inside <script>: no element can be closed or opened from the data."""
    text = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> Markup:
    return Markup(resources.files("harness.report").joinpath("templates", name).read_text("utf-8"))


def render(model: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["embed_json"] = embed_json
    js = _asset("report.js")
    # the page's Content-Security-Policy allows exactly this script: should escaping ever miss,
    # an injected <script> or onerror= attribute still would not run
    digest = base64.b64encode(hashlib.sha256(str(js).encode("utf-8")).digest()).decode()
    return env.get_template("report.html.j2").render(
        **model, css=_asset("report.css"), js=js, script_hash=f"sha256-{digest}")


def write_report(run_dir: Path, out: Path | None = None, baseline: Path | None = None,
                 model: dict | None = None) -> Path:
    """Build (unless ``model`` is given) and write the report; returns its path."""
    from .load import no_cyclic_gc

    out = Path(out) if out else Path(run_dir) / "report.html"
    # a farm run's report allocates millions of short-lived objects and makes no cycles worth
    # chasing while it is built: the cyclic collector would rescan them over and over
    with no_cyclic_gc():
        if model is None:
            model = build_model(Path(run_dir), baseline)
        page = render(model)
    atomic_write_text(out, page)
    return out
