"""The restore journal: what a run changed on a device, on disk before the change is made.

One JSON file per device in ``<cache>/journal/`` (``$EDGELAB_CACHE`` or ``~/.cache/edgelab``),
not in the run directory: a SIGKILLed run's device must be repairable without knowing where that
run wrote its report (``python -m harness devices --restore`` finds it), and the *next* run on
the device must find it before it takes its own snapshot, or it would snapshot the killed run's
``powersave`` as the phone's "original" state and restore to that forever.

Written atomically (temp file, fsync, rename, fsync of the directory), so a kill during the
write leaves the old journal or the new one, never half of one; removed after a clean restore.
A journal names the process that holds it (pid + its start time, so a reused pid is no holder):
a live holder's device is busy, a dead holder's journal is stale and gets restored.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

VERSION = 1


def journal_dir() -> Path:
    cache = os.environ.get("EDGELAB_CACHE")
    if cache:
        return Path(cache).expanduser() / "journal"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgelab" / "journal"


def journal_path(device_id: str, directory: Path | None = None) -> Path:
    # serials hold ':' and '.' (127.0.0.1:5555): keep them readable, and a hash so two serials
    # that differ only in replaced characters never share a file
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", device_id)[:80]
    digest = hashlib.sha256(device_id.encode()).hexdigest()[:8]
    return (directory or journal_dir()) / f"{safe}-{digest}.json"


def _process_started(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:  # gone, or no psutil: no start time to compare
        return None


class Journal:
    """The journal of one device: ``record`` before each change, ``clear`` after the restore."""

    def __init__(self, device: dict[str, Any], directory: Path | None = None):
        self.device = device  # DeviceInfo.as_dict(): enough to open the device again
        self.path = journal_path(device["id"], directory)
        self.entries: dict[str, Any] = {}

    def record(self, operation: str, before: Any) -> None:
        """Add what ``operation`` is about to change (its snapshot) and write the file."""
        self.entries[operation] = before
        write_atomic(self.path, {
            "version": VERSION, "device": self.device, "entries": self.entries,
            "holder": {"pid": os.getpid(), "started": _process_started(os.getpid()),
                       "host": socket.gethostname()},
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        })

    def clear(self) -> None:
        self.entries = {}
        self.path.unlink(missing_ok=True)


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def read(path: Path) -> dict[str, Any] | None:
    """A journal file's content, or None when it is missing or unreadable (reported by callers
    that list journals; a torn one cannot exist, see write_atomic)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("entries"), dict) else None


def holder_alive(data: dict[str, Any]) -> bool:
    """Whether the process that wrote the journal still runs (on this host, same start time)."""
    holder = data.get("holder") or {}
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False  # another machine's journal (shared home): treat as not ours to wait for
    if holder["pid"] == os.getpid():
        return False  # this process: its own earlier state, never "another run"
    started = _process_started(holder["pid"])
    return started is not None and (holder.get("started") is None
                                    or abs(started - float(holder["started"])) < 1.0)


def pending(directory: Path | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Every journal on disk (path, content), oldest first; unreadable ones with content {}."""
    folder = directory or journal_dir()
    found = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        found.append((path, read(path) or {}))
    return found


def describe(data: dict[str, Any]) -> str:
    """One line: what is journaled and who holds it."""
    holder = data.get("holder") or {}
    ops = ", ".join(sorted(data.get("entries") or {})) or "nothing"
    state = "held by running pid" if holder_alive(data) else "left by pid"
    return f"{ops} changed; {state} {holder.get('pid')} at {data.get('written', '?')}"
