"""``variants.json``: what the variant build produced, and the atomic file moves behind it.

The index is the only proof that an artifact is valid: a conversion writes into a temporary
directory, the finished directory is renamed into place, and only then does the index (itself
written to a temp file, fsynced and renamed) name it with its sha256. A build killed half-way
leaves a ``.tmp-*`` directory that no entry names and the next build removes.

Index format (``schema_version`` 1)::

    {"schema_version": 1, "entries": {"<model>/<variant>/<format>": {
        "id", "model", "variant", "format", "precision", "status": "ok"|"unconvertible",
        "reason", "source": {"path", "sha256", "format", "bytes"},
        "converter": {"name", "version"}, "recipe", "key", "path" (relative to the build dir),
        "sha256", "bytes", "compression_ratio", "build_s", "built_at", "notes",
        "input_shapes" (only when --input-shape gave some: they are part of the key)}}}
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ...errors import UsageError

INDEX_FILE = "variants.json"
SCHEMA_VERSION = 1
# bump when a recipe's code changes in a way that changes its output: forces a rebuild
BUILDER_VERSION = 3  # 3: entries carry chain, input and fidelity


def entry_id(model: str, variant: str, fmt: str) -> str:
    return f"{model}/{variant}/{fmt}"


def build_key(source_sha256: str, converter: str, converter_version: str | None,
              recipe: dict[str, Any]) -> str:
    """Same key = same output: an entry with this key is not converted again."""
    payload = json.dumps({"source": source_sha256, "converter": converter,
                          "version": converter_version, "recipe": recipe,
                          "builder": BUILDER_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def artifact_files(path: Path) -> list[Path]:
    """Every file that makes up an artifact: an ncnn .param has its .bin beside it, a
    Core ML .mlpackage is a directory tree."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.suffix == ".param":
        return [path, path.with_suffix(".bin")]
    return [path]


def tree_sha256(path: Path) -> tuple[str, int]:
    """sha256 and byte count of an artifact; several files hash as (relative name, content)."""
    files = artifact_files(path)
    if len(files) == 1 and files[0] == Path(path):
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size
    digest, size = hashlib.sha256(), 0
    base = Path(path) if Path(path).is_dir() else Path(path).parent
    for file in files:
        digest.update(str(file.relative_to(base)).encode() + b"\0")
        data = file.read_bytes()
        digest.update(hashlib.sha256(data).digest())
        size += len(data)
    return digest.hexdigest(), size


def _fsync_tree(root: Path) -> None:
    for file in (p for p in root.rglob("*") if p.is_file()):
        with open(file, "rb") as fh:
            os.fsync(fh.fileno())
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class VariantIndex:
    """Load, update and save ``<build_dir>/variants.json``; hands out temp dirs for converters."""

    def __init__(self, build_dir: Path):
        self.build_dir = Path(build_dir)
        self.path = self.build_dir / INDEX_FILE
        self.entries: dict[str, dict[str, Any]] = {}

    @classmethod
    def load(cls, build_dir: Path) -> "VariantIndex":
        index = cls(build_dir)
        if index.path.is_file():
            try:
                data = json.loads(index.path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise UsageError(f"{index.path} is unreadable ({exc}); delete it and run "
                                 f"`python -m harness models build` again") from None
            if data.get("schema_version", 0) > SCHEMA_VERSION:
                raise UsageError(f"{index.path} was written by a newer edgelab "
                                 f"(schema {data['schema_version']}); upgrade edgelab")
            index.entries = dict(data.get("entries", {}))
        return index

    def get(self, model: str, variant: str, fmt: str) -> dict[str, Any] | None:
        return self.entries.get(entry_id(model, variant, fmt))

    def put(self, entry: dict[str, Any]) -> None:
        self.entries[entry["id"]] = entry

    def save(self) -> None:
        self.build_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"schema_version": SCHEMA_VERSION, "entries": self.entries},
                          indent=1, sort_keys=True) + "\n"
        tmp = self.path.with_name(f".{INDEX_FILE}.tmp{os.getpid()}")
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def absolute(self, entry: dict[str, Any]) -> Path:
        path = Path(entry["path"])
        return path if path.is_absolute() else self.build_dir / path

    def is_current(self, entry: dict[str, Any] | None, key: str) -> bool:
        """The entry was built with this key and (if ok) its files are still there intact."""
        if not entry or entry.get("key") != key:
            return False
        if entry["status"] != "ok":
            return True
        path = self.absolute(entry)
        files = artifact_files(path) if path.exists() else []
        return bool(files) and all(f.is_file() for f in files) and \
            sum(f.stat().st_size for f in files) == entry["bytes"]

    # -- atomic artifact directories ------------------------------------------------------
    @contextmanager
    def staging(self, model: str) -> Iterator[Path]:
        """A temp dir on the same filesystem as the final place (so rename is atomic)."""
        parent = self.build_dir / model
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def publish(self, staged: Path, model: str, fmt: str, variant: str) -> Path:
        """Move a finished staging dir to ``<model>/<format>/<variant>`` atomically."""
        _fsync_tree(staged)
        final = self.build_dir / model / fmt / variant
        final.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if final.exists():  # a directory cannot be renamed over a non-empty one: swap it out
            old = final.with_name(f".old-{variant}-{os.getpid()}")
            os.replace(final, old)
        os.replace(staged, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def clean_leftovers(self, model: str) -> None:
        """Remove temp/old dirs an interrupted build left behind (no entry names them)."""
        root = self.build_dir / model
        for pattern in (".tmp-*", "*/.old-*"):
            for leftover in root.glob(pattern):
                shutil.rmtree(leftover, ignore_errors=True)

    @contextmanager
    def locked(self) -> Iterator["VariantIndex"]:
        """Serialise concurrent builds into one build dir; re-read the index under the lock."""
        self.build_dir.mkdir(parents=True, exist_ok=True)
        with open(self.build_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fresh = VariantIndex.load(self.build_dir)
            self.entries = fresh.entries
            yield self


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
