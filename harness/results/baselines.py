"""Named baselines: ``<report_dir>/baselines/<NAME>/``, a copy of a run directory's files.

A copy, not a symlink to ``reports/<run-id>``: a baseline must outlive the run it came from
(CI workspaces and old runs get cleaned, ``reports/latest`` moves on), must not change when that
run directory is rebuilt or pruned, and must travel as one folder (a CI cache or artifact, another
machine). The files are small: results.jsonl, run.json, and the rendered reports. Saving replaces
a baseline of the same name whole: written beside it, then renamed into place.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..errors import UsageError
from .columnar import COLUMNAR_DIR
from .store import RESULTS_FILE

BASELINES = "baselines"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit"


def baselines_dir(report_dir: Path) -> Path:
    return Path(report_dir) / BASELINES


def names(report_dir: Path) -> list[str]:
    """Saved baselines (folders holding a results file), sorted."""
    folder = baselines_dir(report_dir)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if NAME.fullmatch(p.name) and (p / RESULTS_FILE).is_file())


def resolve(value: str | Path, report_dir: Path, what: str = "--baseline") -> Path:
    """A run directory given as a path, or a baseline's name; else a UsageError listing the
    names that exist."""
    path = Path(value)
    if (path / RESULTS_FILE).is_file():
        return path
    text = str(value)
    if NAME.fullmatch(text) and (baselines_dir(report_dir) / text / RESULTS_FILE).is_file():
        return baselines_dir(report_dir) / text
    if path.is_dir():
        return path  # a directory without results: the caller's check names what is missing
    known = names(report_dir)
    listed = (f"baselines saved there: {', '.join(known)}" if known else
              "none is saved there yet: save one with --save-baseline NAME")
    raise UsageError(f"{what} {text}: no such run directory, and no baseline named {text!r} in "
                     f"{baselines_dir(report_dir)}; {listed}")


def label(run_dir: Path, run_id: str) -> str:
    """How a baseline is named in verdicts: ``main (run 20250101-...)`` for a saved one."""
    path = Path(run_dir)
    if path.parent.name == BASELINES and NAME.fullmatch(path.name):
        return f"{path.name} (run {run_id})" if run_id and run_id != path.name else path.name
    return run_id or path.resolve().name


def save(run_dir: Path, report_dir: Path, name: str) -> Path:
    """Copy the run's files to ``baselines/NAME`` (replacing an older one); returns the folder."""
    if not NAME.fullmatch(name):
        raise UsageError(f"--save-baseline {name!r}: a name is {NAME_RULE}")
    folder = baselines_dir(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    staging = folder / f".{name}.saving-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for item in sorted(Path(run_dir).iterdir()):
        if item.is_file() and not item.is_symlink() and not item.name.startswith("."):
            shutil.copy2(item, staging / item.name)
        elif item.name == COLUMNAR_DIR and item.is_dir():  # gating a farm-sized baseline reads it
            shutil.copytree(item, staging / item.name,
                            ignore=shutil.ignore_patterns(".*"))
    old = folder / f".{name}.replaced-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target
