"""Read a run directory for reporting: ``run.json`` plus ``results.jsonl`` as a ``RecordTable``.

The report does not build ``Measurement`` objects: 100,000 frozen dataclasses cost more than the
rest of the report, and it must cope with records whose sub-objects lack keys anyway (other
device kinds add or omit them). Records still pass ``schema.upgrade`` (frame.py) so an old file is
upgraded and a newer one refused with the same message as everywhere else.

Big files are decoded by forked worker processes, one byte range each: decoding is most of the
time of a 100,000-record report and is CPU-bound Python. Only when forking is safe: a process
with other threads (an xdist controller at session end) would fork with their locks held, so it
decodes serially instead.
"""
from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..results.store import RESULTS_FILE, RUN_FILE
from . import frame as _frame
from .frame import RecordTable

PARALLEL_MIN_LINES = 20_000  # below this, starting workers costs more than it saves
_DATA = b""                  # what forked workers read (inherited, never pickled)


def read_run(run_dir: Path) -> tuple[dict[str, Any], RecordTable]:
    """``(run_info, records)`` of a run directory; a clear UsageError when it is not one."""
    results = Path(run_dir) / RESULTS_FILE
    if not results.is_file():
        raise UsageError(f"{run_dir} has no {RESULTS_FILE}: pass a run directory such as "
                         f"reports/latest")
    with open(results, "rb") as fh:
        data = fh.read()
    return read_info(run_dir), decode(data, str(results))


@contextlib.contextmanager
def no_cyclic_gc():
    """Bulk decoding and aggregation allocate millions of objects and no reference cycles: the
    cyclic collector would only rescan them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _workers(lines: int) -> int:
    if lines < PARALLEL_MIN_LINES or threading.active_count() > 1:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, 4))


def _chunk_of_shared(start: int, end: int, first: int, total: int, source: str) -> dict[str, Any]:
    # slice the one inherited buffer here rather than hand over per-line objects: touching
    # 100,000 objects' refcounts would copy every page they sit on
    return _frame.chunk(_DATA[start:end].split(b"\n"), first, total, source)


def decode(data: bytes, source: str) -> RecordTable:
    """All records of a results.jsonl file's bytes (trailing blank lines ignored)."""
    data = data.rstrip()
    total = data.count(b"\n") + 1 if data else 0
    with no_cyclic_gc():
        workers = _workers(total)
        if workers == 1:
            return _frame.merge([_frame.chunk(data.split(b"\n") if data else [], 1, total, source)])
        return _frame.merge(_parallel(data, total, workers, source))


def _parallel(data: bytes, total: int, workers: int, source: str) -> list[dict[str, Any]]:
    # cut just after a newline near equal byte shares; count lines before each cut for messages
    inner = {data.find(b"\n", len(data) * i // workers) + 1 for i in range(1, workers)} - {0}
    cuts = [0, *sorted(inner), len(data) + 1]
    firsts = [data.count(b"\n", 0, cut) + 1 for cut in cuts[:-1]]
    global _DATA
    _DATA = data
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max(1, len(cuts) - 2), mp_context=context) as pool:
            futures = [pool.submit(_chunk_of_shared, cuts[i], cuts[i + 1] - 1, firsts[i], total, source)
                       for i in range(1, len(cuts) - 1)]
            head = _frame.chunk(data[:cuts[1] - 1].split(b"\n"), 1, total, source)  # work here too
            return [head] + [f.result() for f in futures]
    finally:
        _DATA = b""


def read_info(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return {}  # a run killed before its first write still has records worth reporting
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}); delete it to report the records "
                         f"without run metadata") from None
    return info if isinstance(info, dict) else {}
