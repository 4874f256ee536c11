"""Device leases: one edgelab process uses a phone at a time on this lab host.

Two runs on one phone measure each other (and fight over its governors), whoever started them.
Each phone has a lock file in the lease directory (``$EDGELAB_LEASE_DIR``, default
``<tmp>/edgelab-leases``, shared by every user: sticky and world-writable like /tmp, lock files
0666). The lock is ``filelock``'s kernel ``flock``: the kernel drops it when its holder dies, even by
SIGKILL, so a crashed run never leaves a phone taken. The holder writes who it is into the lock
file itself (user, host, pid + process start time, run id, since); a holder file whose lock is
free is stale (its writer died) and is cleared by the next holder or by ``holders()``.

A busy phone is waited for up to ``--lease-wait`` seconds (default 0), then its cells are
``infra_error`` records (pytest shows them skipped) that name the holder. The host itself is not
leased: host runs are the harness's own tests and local work, not a shared farm's phones.
"""
from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InfraError

LEASED_KINDS = ("android", "virtual-android", "ios")  # one edgelab process per phone, iPhones too


def lease_dir() -> Path:
    folder = Path(os.environ.get("EDGELAB_LEASE_DIR") or Path(tempfile.gettempdir()) /
                  "edgelab-leases")
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            folder.chmod(0o1777)  # every user's runs share it, as they share the phones
        except OSError:
            pass  # someone else's directory: its owner set its mode
    return folder


def lock_path(device_id: str, directory: Path | None = None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", device_id)[:80]
    digest = hashlib.sha256(device_id.encode()).hexdigest()[:8]
    return (directory or lease_dir()) / f"{safe}-{digest}.lock"


class DeviceBusy(InfraError):
    pass


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (it has not said who it is yet)"
    return (f"{holder.get('user', '?')}@{holder.get('host', '?')} pid {holder.get('pid', '?')}"
            f" (run {holder.get('run_id') or '?'}, since {holder.get('since', '?')})")


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container's uid without a passwd entry)
        return f"uid {os.getuid()}"


def _process_started(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


class Lease:
    """The lease of one device for this process; ``acquire`` then ``release`` (idempotent)."""

    def __init__(self, device_id: str, directory: Path | None = None):
        import filelock

        self.device_id = device_id
        self.path = lock_path(device_id, directory)
        # thread_local=False: the worker's threads (sampler, watchdog) share the process's lease
        self._lock = filelock.FileLock(str(self.path), mode=0o666, thread_local=False,
                                       preserve_lock_file=True)
        self.held = False

    def acquire(self, wait_s: float, run_id: str = "") -> None:
        """Take the device, waiting up to ``wait_s``; DeviceBusy naming the holder if not."""
        import filelock

        if self.held:
            return
        try:
            self._lock.acquire(timeout=max(0.0, wait_s), poll_interval=0.1)
        except filelock.Timeout:
            holder = _read_holder(self.path)
            raise DeviceBusy(
                f"device {self.device_id} is in use by {describe(holder)}",
                fix=("wait for that run to end, or let this one wait: --lease-wait SECONDS "
                     "(`python -m harness devices` shows holders)")) from None
        self.held = True
        self._write_holder(run_id)

    def _write_holder(self, run_id: str) -> None:
        holder = {"device": self.device_id, "user": _user(),
                  "host": socket.gethostname(), "pid": os.getpid(),
                  "started": _process_started(os.getpid()), "run_id": run_id,
                  "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        # into the lock file itself (0666): another user's stale holder file cannot be replaced
        # in a sticky directory, but it can be overwritten in place
        with open(self.path, "r+") as fh:
            fh.truncate(0)
            fh.write(json.dumps(holder))
            fh.flush()

    def release(self) -> None:
        if not self.held:
            return
        try:
            with open(self.path, "r+") as fh:
                fh.truncate(0)  # no holder: a reader never sees a departed one
        except OSError:
            pass
        self._lock.release()
        self.held = False


def holders(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every held lease: its holder's record (with ``device`` and ``path``); stale holder files
    (lock free: the writer died) are cleared on the way."""
    import filelock

    found = []
    for path in sorted((directory or lease_dir()).glob("*.lock")):
        probe = filelock.FileLock(str(path), mode=0o666, thread_local=False,
                                  preserve_lock_file=True)
        try:
            probe.acquire(timeout=0)
        except filelock.Timeout:
            found.append({**_read_holder(path), "path": str(path)})
            continue
        except OSError:
            continue
        try:
            if path.stat().st_size:
                with open(path, "r+") as fh:
                    fh.truncate(0)  # a stale holder: its process is gone
        except OSError:
            pass
        finally:
            probe.release()
    return found
