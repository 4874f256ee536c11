"""Installed package versions, read from distribution metadata (never by importing the package:
engines are heavy, and a version is needed for every record whether the engine runs or not)."""
from __future__ import annotations

import importlib.metadata


def dist_version(*names: str) -> str | None:
    """Installed version of the first distribution found, without importing it."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
