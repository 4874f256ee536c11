"""Push files to a device only when their content is not there yet.

Tools are tens of MB and a farm run deploys each to every phone for every cell: the content
hash decides, not the name or the mtime (a re-fetched model with a new mtime is not re-sent,
a changed file with the same name is). The device is asked with ``sha256sum``; Android <= 5
has none, so a ``<file>.sha256`` sidecar written after each push (plus the size) stands in.
What is known to be on the device is cached for the session, so a cell that reuses a file
costs no round trip at all.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import InfraError
from ..models.manifest import sha256_file
from .adb_transport import Raw, compose

_local_hashes: dict[tuple[str, int, int], str] = {}


def local_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _local_hashes:
        _local_hashes[key] = sha256_file(path)
    return _local_hashes[key]


def remote_path(local: Path, remote_dir: str) -> str:
    return f"{remote_dir.rstrip('/')}/{local.name}"


class PushCache:
    def __init__(self, transport, has_sha256sum: Callable[[], bool]):
        self.transport = transport
        self._has_sha256sum = has_sha256sum
        self._known: dict[str, str] = {}  # device path -> sha256 of what is there
        self.pushed_bytes = self.skipped_bytes = 0
        self.pushed_files = self.skipped_files = 0

    def push(self, local: Path, remote_dir: str) -> str:
        """A file into ``remote_dir``; a directory (Core ML's ``.mlpackage``/``.mlmodelc``)
        becomes ``remote_dir/<its name>/`` with every file in it, each deduplicated by its own
        content, so a package whose weights did not change sends only its manifest."""
        local = Path(local)
        if local.is_dir():
            return self._push_dir(local, remote_dir)
        return self._push_file(local, remote_dir)

    def _push_dir(self, local: Path, remote_dir: str) -> str:
        root = remote_path(local, remote_dir)
        files = sorted(p for p in local.rglob("*") if p.is_file())
        if not files:  # an empty package is a broken build, not something to copy
            raise InfraError(f"cannot push {local}: the directory holds no files",
                             fix="rebuild the artifact (python -m harness models build)")
        for path in files:
            parent = path.parent.relative_to(local).as_posix()
            self._push_file(path, root if parent == "." else f"{root}/{parent}")
        return root

    def _push_file(self, local: Path, remote_dir: str) -> str:
        digest = local_sha256(local)
        remote = remote_path(local, remote_dir)
        size = local.stat().st_size
        if self._known.get(remote) == digest or self._remote_digest(remote, size) == digest:
            self._known[remote] = digest
            self.skipped_bytes += size
            self.skipped_files += 1
            return remote
        try:
            sent = self.transport.push_file(local, remote)
        except InfraError as exc:
            raise self._explain_failed_push(exc, local, remote_dir) from exc
        if not self._has_sha256sum():
            self.transport.command(compose(["echo", digest], Raw(">"), [remote + ".sha256"]))
        self._known[remote] = digest
        self.pushed_bytes += sent
        self.pushed_files += 1
        return remote

    def _remote_digest(self, remote: str, size: int) -> str | None:
        if self._has_sha256sum():
            # hashing tens of MB takes seconds on an old phone: the configured timeout, not
            # the housekeeping bound
            result = self.transport.shell(["sha256sum", remote], timeout=self.transport.timeout_s)
            words = result.stdout.split()
            return words[0].lower() if result.rc == 0 and words else None
        if self.transport.size_of(remote) != size:
            return None
        result = self.transport.shell(["cat", remote + ".sha256"])
        return result.stdout.strip().lower() or None if result.rc == 0 else None

    def _explain_failed_push(self, exc: InfraError, local: Path, remote_dir: str) -> InfraError:
        # adb's sync protocol answers a failed write with a bare FAIL (adbutils drops the
        # text after it): ask the device whether it is full before calling the device gone
        from ..parsers import exec_failure
        from .probe import free_storage_mb

        try:
            result = self.transport.shell(["df", remote_dir.split("/edgelab")[0] or "/"])
        except InfraError:
            return exc  # the device is gone: the original error says so
        free_mb = free_storage_mb(result.stdout)
        if free_mb is None or free_mb * 2 ** 20 >= local.stat().st_size:
            return exc
        found = exec_failure.classify("No space left on device")
        return InfraError(f"storage full: {local.name} ({local.stat().st_size:,} bytes) does not "
                          f"fit in {remote_dir} ({free_mb:g} MB free)", serial=exc.serial,
                          command=exc.command, stderr_tail=exc.stderr_tail, fix=found["fix"])

    def stats(self) -> dict[str, int]:
        return {"pushed_bytes": self.pushed_bytes, "skipped_bytes": self.skipped_bytes,
                "pushed_files": self.pushed_files, "skipped_files": self.skipped_files}
