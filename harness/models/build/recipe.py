"""What one variant recipe is: output format + variant, the converter that makes it, and how.

Each converter family module (onnx_variants, tflite_variants, ncnn, mnn, coreml) exports
``RECIPES``, a list of ``Recipe``. A recipe that cannot exist (no tool for it) still appears, with
``unavailable`` set, so the index records *why* that cell has no artifact.

A recipe reads one model, its *input*: the source file when the source's format is one of the
recipe's ``sources``, else the FP32 model of such a format that this build converted from the
source (an ONNX made from a TFLite source, the ncnn FP32 model for ncnn INT8...). The recipe sees
its input as ``ctx.source`` / ``ctx.source_format``; ``ctx.origin`` is always the source file.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...versions import dist_version
from ..manifest import ModelSpec


class ConversionError(Exception):
    """A converter ran and failed; the message (trimmed) becomes the entry's reason."""


@dataclass
class BuildContext:
    spec: ModelSpec
    source: Path            # the model this recipe reads: the source file, or a converted FP32
    source_sha256: str
    log: Callable[[str], None] = print
    notes: dict[str, Any] = field(default_factory=dict)  # what a recipe found out; reset per recipe
    _cache: dict[str, Any] = field(default_factory=dict)
    input_format: str | None = None  # format of ``source`` when it is not the source file
    origin: Path | None = None       # the verified source model file (set in __post_init__)
    origin_sha256: str = ""

    def __post_init__(self):
        if self.origin is None:
            self.origin, self.origin_sha256 = self.source, self.source_sha256

    @property
    def source_format(self) -> str:
        """Format of the model this recipe reads (``source``)."""
        return self.input_format or self.spec.format

    @property
    def origin_format(self) -> str:
        return self.spec.format

    def reading(self, path: Path, fmt: str) -> "BuildContext":
        """The same build, with a recipe reading ``path`` (a converted FP32 model) as its input.
        Shares the memo: keys of per-format things (calibration feeds) name their format."""
        view = BuildContext(spec=self.spec, source=path, source_sha256="", log=self.log,
                            notes=self.notes, _cache=self._cache, origin=self.origin,
                            origin_sha256=self.origin_sha256,
                            input_format=None if path == self.origin else fmt)
        if path == self.origin:
            view.source_sha256 = self.origin_sha256
        return view

    def memo(self, key: str, make: Callable[[], Any]) -> Any:
        """Share expensive things (calibration feeds) between the recipes of one model."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


@dataclass(frozen=True)
class Recipe:
    format: str                      # engine format of the artifact (onnx, tflite, ncnn, mnn, coreml)
    variant: str                     # a key of harness.models.variants.VARIANTS
    precision: str                   # what is stored/computed in which precision, in words
    converter: str                   # distribution whose version is recorded (and keyed on)
    params: dict[str, Any]           # everything that changes the output, part of the build key
    convert: Callable[[BuildContext, Path], Path] | None = None  # (ctx, out_dir) -> artifact path
    sources: tuple[str, ...] = ("onnx",)
    source_reasons: dict[str, str] = field(default_factory=dict)  # source format -> why not
    unavailable: str | None = None   # no tool can make this variant: the reason
    install_hint: str = ""
    requires: tuple[str, ...] = ()   # more distributions the converter needs (keyed too)
    # a converter that is no PyPI distribution (edgelab's own writer, a lab's C++ tools) says
    # its version itself; also whether it is there at all (None: it is, else why not)
    version_of: Callable[[], str | None] | None = None
    missing: Callable[[], str | None] | None = None

    def version(self) -> str | None:
        if self.version_of is not None:
            return self.version_of()
        return dist_version(self.converter) if self.converter != "source" else None

    def tool_versions(self) -> dict[str, str | None]:
        return {name: dist_version(name) for name in self.requires}

    def blocked_reason(self, source_format: str) -> str | None:
        """Why this recipe cannot run for this source, or None when it can be tried."""
        if self.unavailable:
            return self.unavailable
        if source_format not in self.sources:
            return self.source_reasons.get(
                source_format, f"no {source_format} -> {self.format} converter for {self.variant}")
        if self.missing is not None:
            return self.missing()
        own = (self.converter,) if self.converter != "source" and self.version_of is None else ()
        for name in own + self.requires:
            if dist_version(name) is None:
                return f"{name} not installed ({self.install_hint or 'pip install ' + name})"
        return None


def run_tool(argv: list[str], what: str, timeout_s: float = 900.0, cwd: Path | None = None,
             ok_marker: str | None = None) -> str:
    """Run a converter in a child process: a crash (converters do segfault on odd graphs) or
    a hang then fails this variant only. Returns the combined output."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{what} did not finish within {timeout_s:.0f} s") from None
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0 or (ok_marker and ok_marker not in output):
        how = f"exit code {proc.returncode}" if proc.returncode >= 0 else f"signal {-proc.returncode}"
        raise ConversionError(f"{what} failed ({how}): {tail(output)}")
    return output


def python_tool(code: str, *args: str) -> list[str]:
    """argv that runs ``code`` in a fresh interpreter of this venv."""
    return [sys.executable, "-c", code, *args]


def tail(text: str, lines: int = 4, chars: int = 400) -> str:
    """The informative end of a converter's output, on one line."""
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined[-chars:] if len(joined) > chars else joined


def require_file(path: Path, what: str, output: str = "") -> Path:
    """Converters that report success without writing a file exist (MNN returns True on a
    missing input): the file, not the return value, is the proof."""
    if not path.is_file() or path.stat().st_size == 0:
        raise ConversionError(f"{what} wrote no {path.name}{': ' + tail(output) if output else ''}")
    return path
