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
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..results.store import RESULTS_FILE, RUN_FILE
from . import frame as _frame
from .frame import RecordTable

PARALLEL_MIN_LINES = 20_000  # below this, starting workers costs more than it saves
_PROBE_BYTES = 4 << 20       # lines are counted here and extrapolated: a full count is 0.1 s/150 MB
_DATA = b""                  # what forked workers read (inherited, never pickled)


def read_run(run_dir: Path) -> tuple[dict[str, Any], RecordTable]:
    """``(run_info, records)`` of a run directory; a clear UsageError when it is not one."""
    results = Path(run_dir) / RESULTS_FILE
    if not results.is_file():
        raise UsageError(f"{run_dir} has no {RESULTS_FILE}: pass a run directory such as "
                         f"reports/latest")
    with open(results, "rb") as fh:
        data = fh.read()
    return read_info(run_dir), decode(data, str(results), run_dir)


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


def _chunk_of_shared(start: int, end: int, last: bool, source: str) -> dict[str, Any]:
    # a view of the one inherited buffer, not per-line objects handed over: touching 100,000
    # objects' refcounts would copy every page they sit on. Line numbers (only for messages and
    # the torn-last-line rule) are counted here, in the worker, not before forking it.
    first = _DATA.count(b"\n", 0, start) + 1
    total = first + _DATA.count(b"\n", start, end) if last else 0  # 0: the file's end is not here
    return _frame.chunk(memoryview(_DATA)[start:end], first, total, source)


def _estimate_lines(data: bytes, end: int) -> int:
    """Lines of ``data[:end]``, exact up to _PROBE_BYTES, extrapolated beyond: only to choose
    serial or parallel decoding, which needs no exact count."""
    probe = min(end, _PROBE_BYTES)
    lines = data.count(b"\n", 0, probe) + 1 if end else 0
    return lines if probe == end else lines * end // probe


def decode(data: bytes, source: str, run_dir: Path | None = None) -> RecordTable:
    """All records of a results.jsonl file's bytes (trailing blank lines ignored). With the run's
    folder, the ranges its columnar parts hold verbatim are taken from them (results/columnar.py)."""
    end = len(data)
    while end and data[end - 1] in b" \t\r\n":  # not rstrip(): that copies the whole file
        end -= 1
    with no_cyclic_gc():
        if run_dir is not None:
            from ..results.columnar import covered_chunks

            def decode_range(start: int, stop: int, first: int, total: int) -> dict[str, Any]:
                return _frame.chunk(memoryview(data)[start:stop], first, total, source)

            chunks = covered_chunks(run_dir, data, end, decode_range)
            if chunks is not None:
                return _frame.merge(chunks)
        workers = _workers(_estimate_lines(data, end))
        if workers == 1:
            total = data.count(b"\n", 0, end) + 1 if end else 0
            return _frame.merge([_frame.chunk(memoryview(data)[:end], 1, total, source)])
        return _frame.merge(_parallel(data, end, workers, source))


def _parallel(data: bytes, end: int, workers: int, source: str) -> list[dict[str, Any]]:
    # cut just after a newline near equal byte shares
    inner = {data.find(b"\n", end * i // workers, end) + 1 for i in range(1, workers)} - {0}
    cuts = [0, *sorted(inner), end + 1]
    global _DATA
    _DATA = data
    context = multiprocessing.get_context("fork")
    children, chunks = [], []
    try:
        # plain forked Processes, each returning its chunk through a pipe: no executor, whose
        # feeder and manager threads need this process's GIL, which a long msgspec call holds
        for i in range(1, len(cuts) - 1):
            receive, send = context.Pipe(duplex=False)
            proc = context.Process(target=_child, args=(send, cuts[i], cuts[i + 1] - 1,
                                                        i == len(cuts) - 2, source), daemon=True)
            proc.start()
            send.close()  # ours; the child's copy is the only writer, so its death reads as EOF
            children.append((proc, receive))
        # work here too; the file's last line (the torn-line rule) is a child's unless none started
        total = 0 if children else data.count(b"\n", 0, end) + 1
        chunks.append(_frame.chunk(memoryview(data)[:cuts[1] - 1], 1, total, source))
        for proc, receive in children:
            chunks.append(_result(receive))
        return chunks
    finally:
        _DATA = b""
        for proc, receive in children:
            receive.close()
            if len(chunks) < len(cuts) - 1:
                proc.terminate()  # we failed before reading every result: it would only block
            proc.join()


def _child(send, start: int, end: int, last: bool, source: str) -> None:
    try:
        result = (True, _chunk_of_shared(start, end, last, source))
    except BaseException as exc:  # noqa: BLE001 - re-raised in the parent (a bad line's UsageError)
        result = (False, exc)
    send.send(result)


def _result(receive) -> dict[str, Any]:
    try:
        ok, value = receive.recv()
    except EOFError:
        raise RuntimeError("a report decoding worker died before it returned its records") from None
    if not ok:
        raise value
    return value


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
