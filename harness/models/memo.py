"""On-disk JSON memos of facts derived from model files (declared inputs, ONNX free dims).

Computing such a fact imports the onnx package or the LiteRT interpreter (~1 s of CPU), which
every xdist worker, one per phone, would otherwise pay again for the same file. A memo is a
cache, never a result: one that cannot be read is recomputed, one that cannot be written (a
read-only cache folder) costs time, not results.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..results.store import atomic_write_text


def read_memo(path: Path) -> Any | None:
    """The memo's value; None when it is missing or damaged."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_memo(path: Path, value: Any) -> None:
    """Keep ``value`` at ``path`` whole (readers never see half a file), or quietly not at all."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(path), json.dumps(value))
    except OSError:
        pass
