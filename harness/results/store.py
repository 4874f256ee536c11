"""Where a run's results live on disk: ``<report_dir>/<run_id>/``.

``results.jsonl`` gets one line per record, written with a single ``os.write`` on an ``O_APPEND``
descriptor and fsynced at once: a crash loses at most the test that was running, and xdist
workers appending to the same file cannot interleave inside a line (the kernel serialises
appends to a regular file per write call).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable

from .columnar import ColumnarJournal
from .schema import Measurement

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"


def new_run_id() -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temp file beside ``path``, fsync, rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunStore:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.results_path = self.run_dir / RESULTS_FILE
        self.columnar = ColumnarJournal(self.run_dir)  # the report's fast copy (columnar.py)

    def create(self) -> "RunStore":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.results_path.touch(exist_ok=True)
        return self

    def append(self, record: Measurement) -> None:
        line = (json.dumps(record.to_dict(), separators=(",", ":"), default=str) + "\n").encode()
        global _appending
        _appending = True
        try:
            fd = os.open(self.results_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
                # O_APPEND put the line at the end: the descriptor now points just past it
                offset = os.lseek(fd, 0, os.SEEK_CUR) - len(line)
            finally:
                os.close(fd)
            self.columnar.add(line, offset)
        finally:
            _appending = False
            while _after_append:
                _after_append.pop(0)()

    def close(self) -> None:
        """This process writes no more records: its last columnar part goes to disk (unless it
        is small enough to decode from the journal, columnar.SMALL_TAIL)."""
        self.columnar.flush(final=True)

    def write_run_info(self, info: dict[str, Any]) -> None:
        atomic_write_text(self.run_dir / RUN_FILE, json.dumps(info, indent=2, default=str) + "\n")

    def read_run_info(self) -> dict[str, Any]:
        path = self.run_dir / RUN_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def records(self) -> list[Measurement]:
        return read_records(self.results_path)[0]

    def point_latest(self) -> None:
        """Make ``<report_dir>/latest`` a symlink to this run (atomically replaced)."""
        latest = self.run_dir.parent / "latest"
        tmp = self.run_dir.parent / f".latest.tmp{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(self.run_dir.name, tmp)
        os.replace(tmp, latest)


# A signal handler that raises (SIGTERM -> KeyboardInterrupt, run/signals.py) would, between
# open and write, lose a cell that was measured to the end: it waits for the line instead.
_appending = False
_after_append: list[Callable[[], None]] = []


def defer_until_appended(action: Callable[[], None]) -> bool:
    """Run ``action`` right after the record being appended is on disk; False when no append
    is in progress (the caller then acts at once)."""
    if not _appending:
        return False
    _after_append.append(action)
    return True


def json_decoder():
    """msgspec's decoder where installed (a farm run's 100,000 lines decode ~2.5x faster, and
    session end reads them all), else json's; both raise a ValueError on a bad line."""
    try:
        import msgspec
    except ImportError:
        return json.loads
    fast = msgspec.json.Decoder().decode

    def decode(line: str) -> Any:
        try:
            return fast(line)
        except msgspec.DecodeError:  # json also takes NaN/Infinity, which json.dumps may write
            return json.loads(line)
    return decode


class DamagedResults(ValueError):
    """A line other than the last is not a record: the file was edited or damaged."""


def read_records(path: Path) -> tuple[list[Measurement], int]:
    """``(records, torn)``: a crash mid-append can tear only the last line, which is skipped and
    counted (callers say so); a damaged line anywhere else is an error naming it."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    while lines and not lines[-1].strip():
        lines.pop()
    records, torn = [], 0
    decode = json_decoder()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = decode(line)
        except ValueError:  # json's JSONDecodeError and msgspec's DecodeError both are
            if number == len(lines):
                torn += 1
                continue
            raise DamagedResults(f"{path} line {number} is not a JSON record: the file was "
                                 f"edited or damaged; remove that line to read the rest") from None
        records.append(Measurement.from_dict(data))
    return records, torn
