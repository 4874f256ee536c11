"""A columnar copy of ``results.jsonl``: Parquet parts in ``<run_dir>/columnar/``.

Why: at farm scale (100,000 records with their samples) decoding the JSON lines is most of the
time a report, a gate or a history import takes. Each process that appends records also keeps
them, decoded once while the run goes on, and writes them as a Parquet part every
``PART_RECORDS`` records and when its session ends. Readers (report/load.py) take the parts
instead of decoding those lines again.

``results.jsonl`` stays the journal and the truth. Every row of a part names the byte range of
its line in the journal (``offset``, ``length``) and that line's ``crc32``; a reader uses a row
only when the journal still holds exactly those bytes there, and decodes every other range (a
process killed before it wrote its part, an edited file) from the journal itself. So a part can
make a report faster, never different. Parts are written whole (temp file, fsync, rename).

The parts are also a dataset users can read: ``pandas.read_parquet("reports/latest/columnar")``
(one row per record; identity objects and traces as JSON text, samples as a list column).
"""
from __future__ import annotations

import os
import socket
import zlib
from pathlib import Path
from typing import Any

COLUMNAR_DIR = "columnar"
PART_RECORDS = 2000    # a part per this many records: a killed process loses at most these
# A process that ends with fewer records than this writes no last part: readers decode that few
# lines from the journal in milliseconds, while writing them would cost the writer importing
# pyarrow and pandas (~0.8 s CPU), which at farm scale (one xdist worker per phone, a few dozen
# cells each) was a quarter of each worker's CPU (benchmarks/farm_scale.py).
SMALL_TAIL = 500
FORMAT = "1"           # the parts' layout; a reader skips parts of another layout
IDENTITY = ("device", "model", "variant", "engine")


class ColumnarJournal:
    """One process's records since its last part (line bytes + where they sit in the journal)."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / COLUMNAR_DIR
        self._lines: list[bytes] = []
        self._offsets: list[int] = []
        self._parts = 0
        self.disabled = ""  # why no parts are written (pyarrow missing, a failed write)

    def add(self, line: bytes, offset: int) -> None:
        if self.disabled:
            return
        self._lines.append(line)
        self._offsets.append(offset)
        if len(self._lines) >= PART_RECORDS:
            self.flush()

    def flush(self, final: bool = False) -> None:
        """Write the kept records as one part (``final``: the process's last one, skipped when
        fewer than SMALL_TAIL). Never raises: the journal already holds them, and a missing part
        only means those lines are decoded from it again."""
        lines, offsets = self._lines, self._offsets
        self._lines, self._offsets = [], []
        if not lines or self.disabled or (final and len(lines) < SMALL_TAIL):
            return
        try:
            table = to_arrow(lines, offsets)
        except ImportError:
            self.disabled = "pyarrow is not installed (pip install pyarrow)"
            return
        except Exception as exc:  # noqa: BLE001 - an odd record must not lose the run
            self.disabled = f"{type(exc).__name__}: {exc}"
            return
        if table is None:
            return
        self._parts += 1
        name = f"part-{socket.gethostname()}-{os.getpid()}-{self._parts:05d}.parquet"
        try:
            _write(table, self.dir / name)
        except OSError as exc:
            self.disabled = f"cannot write {self.dir / name}: {exc}"


def to_arrow(lines: list[bytes], offsets: list[int]):
    """Lines (each ending in a newline) -> a pyarrow Table, decoded by the report's own code
    (report/frame.py), so a part holds exactly what decoding the journal would give; None when
    some line does not decode to one record (that range is then read from the journal)."""
    import numpy as np
    import pyarrow as pa

    from ..report import frame

    block = b"".join(lines)
    chunk = frame.chunk(block[:-1], 1, len(lines), "results.jsonl")
    if chunk["count"] != len(lines) or chunk["torn"]:
        return None
    cols: dict[str, Any] = {
        "offset": pa.array(offsets, pa.int64()),
        "length": pa.array([len(line) for line in lines], pa.int64()),
        "crc32": pa.array([zlib.crc32(line) for line in lines], pa.uint32()),
    }
    cols.update({k: pa.array(v, pa.string()) for k, v in chunk["text"].items()})
    cols.update({k: pa.array(v, pa.bool_()) for k, v in chunk["flags"].items()})
    cols.update({k: pa.array(v, pa.float64()) for k, v in chunk["numbers"].items()})
    for part, (codes, uniques) in chunk["identity"].items():
        cols[part] = pa.DictionaryArray.from_arrays(
            pa.array(codes, pa.int32()), pa.array([u.decode() for u in uniques], pa.string()))
    ends = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum(chunk["sample_lengths"], out=ends[1:])
    cols["samples_ms"] = pa.LargeListArray.from_arrays(pa.array(ends, pa.int64()),
                                                       pa.array(chunk["sample_values"], pa.float64()))
    traces = chunk["traces"]
    cols["trace"] = pa.array([_json(traces[i]) if i in traces else None for i in range(len(lines))],
                             pa.string())
    return pa.table(cols).replace_schema_metadata({"edgelab_columnar": FORMAT})


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), default=str)


def _write(table, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="lz4")  # read back several times faster than zstd
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# -- reading ---------------------------------------------------------------------------------
def covered_chunks(run_dir: Path, data: bytes, end: int, decode_range) -> list[dict] | None:
    """The journal ``data[:end]`` as report chunks (frame.chunk's shape), in file order: ranges
    the parts hold verbatim come from them, every other range from ``decode_range(start, stop,
    first_line, last_line_number_or_0)``. None when there are no usable parts."""
    folder = Path(run_dir) / COLUMNAR_DIR
    paths = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not paths:
        return None
    try:
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    tables = []
    for path in paths:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException):
            continue  # damaged: those lines come from the journal
        if (table.schema.metadata or {}).get(b"edgelab_columnar") == FORMAT.encode():
            tables.append(table)
    if not tables:
        return None
    try:
        table = pa.concat_tables(tables)
    except pa.ArrowException:
        return None
    starts = table["offset"].to_numpy()
    if (starts[1:] < starts[:-1]).any():  # parts of several processes interleave in the journal
        order = np.argsort(starts, kind="stable")
        table, starts = table.take(order), starts[order]
    stops = starts + table["length"].to_numpy()
    keep = _verified(data, end, starts, stops, table["crc32"].to_numpy())
    if not keep.any():
        return None
    if not keep.all():
        table = table.filter(pa.array(keep))
        starts, stops = starts[keep], stops[keep]
    if (starts[1:] < stops[:-1]).any():
        return None  # overlapping rows: parts of different runs mixed up; trust the journal only
    return _in_file_order(table, starts, stops, data, end, decode_range)


def _verified(data: bytes, end: int, starts, stops, crcs):
    """Rows whose line is still in the journal, byte for byte, at a line start."""
    import numpy as np

    view = memoryview(data)
    keep = np.zeros(len(starts), dtype=bool)
    size = len(data)
    for i, (start, stop, crc) in enumerate(zip(starts.tolist(), stops.tolist(), crcs.tolist())):
        if stop > size or start > end or (start and data[start - 1] != 0x0A):
            continue
        keep[i] = zlib.crc32(view[start:stop]) == crc
    return keep


def _in_file_order(table, starts, stops, data: bytes, end: int, decode_range) -> list[dict]:
    chunks: list[dict] = []
    position, row = 0, 0
    breaks = [i for i in range(1, len(starts)) if starts[i] != stops[i - 1]] + [len(starts)]
    for stop_row in breaks:
        if starts[row] > position:  # a range no part holds: decode it from the journal
            chunks.append(_gap(data, position, int(starts[row]) - 1, decode_range, last=False))
        chunks.append(from_arrow(table.slice(row, stop_row - row)))
        position, row = int(stops[stop_row - 1]), stop_row
    if position < end:
        chunks.append(_gap(data, position, end, decode_range, last=True))
    return chunks


def _gap(data: bytes, start: int, stop: int, decode_range, last: bool) -> dict:
    first = data.count(b"\n", 0, start) + 1
    total = first + data.count(b"\n", start, stop) if last else 0
    return decode_range(start, stop, first, total)


def from_arrow(table) -> dict[str, Any]:
    """Rows of a part -> one chunk in the shape ``report.frame.chunk`` returns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..report import frame

    count = table.num_rows
    names = set(table.column_names)

    def numbers(name: str):
        if name not in names:
            return np.full(count, np.nan)
        return table[name].to_numpy()

    identity = {}
    for part in IDENTITY:
        encoded = pc.dictionary_encode(table[part].cast(pa.string())).combine_chunks()
        identity[part] = (encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                          [s.encode() for s in encoded.dictionary.to_pylist()])
    samples = table["samples_ms"].combine_chunks()
    traces = {}
    present = np.flatnonzero(pc.is_valid(table["trace"]).to_numpy(zero_copy_only=False))
    if present.size:  # a few records carry a trace: decode only those
        import json

        texts = table["trace"].take(pa.array(present)).to_pylist()
        traces = {int(i): json.loads(t) for i, t in zip(present, texts)}
    return {
        "count": count, "torn": 0,
        "text": {k: table[k].fill_null("").to_numpy(zero_copy_only=False) if k in names
                 else np.full(count, "", dtype=object) for k in frame.RECORD_TEXT},
        "flags": {k: table[k].to_numpy(zero_copy_only=False).astype(bool) if k in names
                  else np.zeros(count, dtype=bool) for k in frame.RECORD_FLAGS},
        "numbers": {k: numbers(k).astype(float) for k in frame.RECORD_NUMBERS},
        "identity": identity,
        "traces": traces,
        "sample_values": samples.flatten().to_numpy(zero_copy_only=False).astype(float),
        "sample_lengths": pc.list_value_length(samples).to_numpy(zero_copy_only=False)
        .astype(np.int64),
    }
