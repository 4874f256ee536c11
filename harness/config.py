"""One frozen ``RunConfig`` built from pytest options and ``[tool.edgelab]`` in pyproject.toml.

Option values are parsed as soon as argparse reads them (``type=parse_*``), so a bad value is a
usage error naming the option before anything runs.
"""
from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import UsageError

DEFAULTS: dict[str, Any] = {
    "models": ["ppocr_cls", "face_landmark"],
    "variants": ["fp32", "fp16", "int8", "int8-dynamic", "int8-weight"],
    "engines": [],  # empty: every registered engine
    "warmup": 10,
    "iterations": 50,
    "min_time_s": 0.0,
    "threads": 1,
    "timeout_s": 600.0,
    "report_dir": "reports",
    "manifest": "models/manifest.toml",
    # a run is flagged noisy (not silently trusted) past any of these
    "noise_other_cpu_pct": 25.0,
    "noise_tail_ratio": 1.15,
    "noise_cv": 0.15,
}


def parse_csv(text: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    return items


def _int_at_least(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} must be {what}")
    return value


def parse_positive_int(text: str) -> int:
    return _int_at_least(text, 1, "at least 1")


def parse_non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "0 or more")


def parse_seconds(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (e.g. 2 or 0.5s)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more seconds")
    return value


def parse_host_port(text: str) -> str:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:5037)")
    return f"{host or '127.0.0.1'}:{port}"


def read_pyproject_defaults(rootdir: Path) -> dict[str, Any]:
    path = Path(rootdir) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError:
        return {}
    return data.get("tool", {}).get("edgelab", {})


@dataclass(frozen=True)
class RunConfig:
    rootdir: Path
    devices: tuple[str, ...] = ("host",)
    engines: tuple[str, ...] = ()
    models: tuple[str, ...] = tuple(DEFAULTS["models"])
    variants: tuple[str, ...] = tuple(DEFAULTS["variants"])
    warmup: int = DEFAULTS["warmup"]
    iterations: int = DEFAULTS["iterations"]
    min_time_s: float = DEFAULTS["min_time_s"]
    threads: int = DEFAULTS["threads"]
    timeout_s: float = DEFAULTS["timeout_s"]
    report_dir: Path = Path("reports")
    manifest: Path = Path("models/manifest.toml")
    cache_dir: Path | None = None
    baseline: Path | None = None
    run_id: str = ""
    noise: dict[str, float] = field(default_factory=dict)
    fidelity: Any = None  # fidelity.Thresholds from [tool.edgelab.fidelity]

    def with_run_id(self, run_id: str) -> "RunConfig":
        return replace(self, run_id=run_id)

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items()}


def build_config(option, rootdir: Path) -> RunConfig:
    """``option`` is pytest's ``config.option`` (or an argparse namespace with the same names)."""
    lab = {**DEFAULTS, **read_pyproject_defaults(rootdir)}

    def pick(name: str, lab_key: str):
        value = getattr(option, name, None)
        return lab[lab_key] if value is None else value

    def under_root(path: Any) -> Path:
        path = Path(path)
        return path if path.is_absolute() else Path(rootdir) / path

    cache = getattr(option, "edgelab_cache", None)
    from .models.fidelity import Thresholds

    try:
        thresholds = Thresholds.from_table(lab.get("fidelity"))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"pyproject.toml {exc}") from None
    return RunConfig(
        rootdir=Path(rootdir),
        devices=tuple(getattr(option, "edgelab_device", None) or lab.get("devices") or ("host",)),
        engines=tuple(pick("edgelab_engine", "engines")),
        models=tuple(pick("edgelab_model", "models")),
        variants=tuple(pick("edgelab_variant", "variants")),
        warmup=pick("edgelab_warmup", "warmup"),
        iterations=pick("edgelab_iterations", "iterations"),
        min_time_s=pick("edgelab_min_time", "min_time_s"),
        threads=pick("edgelab_threads", "threads"),
        timeout_s=pick("edgelab_timeout", "timeout_s"),
        report_dir=under_root(pick("edgelab_report_dir", "report_dir")),
        manifest=under_root(pick("edgelab_manifest", "manifest")),
        cache_dir=Path(cache) if cache else None,
        baseline=Path(option.edgelab_baseline) if getattr(option, "edgelab_baseline", None) else None,
        noise={k: float(lab[k]) for k in ("noise_other_cpu_pct", "noise_tail_ratio", "noise_cv")},
        fidelity=thresholds,
    )
