"""Run history: every finished run's cells in one SQLite file, and step detection over it.

Pure storage and statistics: rows in, rows out. Which cells a run has, and their comparison key,
come from the release gate (``report/gate_input.gate_cells`` -> ``results/gate.CellKey``): the
history and the gate never disagree on what "the same cell" is (``report/trends.py`` builds the
rows, ``run/finish.py`` ingests them at session end, ``python -m harness history`` reads them).

Schema version: ``PRAGMA user_version`` holds how many entries of ``MIGRATIONS`` were applied;
opening a database applies the missing ones in order, in one transaction. A database written by a
newer edgelab (a version past ours) is refused, never downgraded. A file that is not an SQLite
database, or an SQLite database that is not an edgelab history, is refused and left untouched:
nothing here ever deletes, recreates or overwrites a history file.

Step detection (docs/gating.md "Nightly history"): a robust z-score, as Conbench does. For each
point, the window is the last ``WINDOW`` judged values of the same key and statistic since the
last detected step (at least ``MIN_WINDOW``); ``z = (x - median) / scale`` with ``scale =
max(1.4826 * MAD, NOISE_FLOOR * median)``. ``|z| >= Z_THRESHOLD`` is a step: up is worse (every
metric here is lower-is-better), down is better. After a step the window restarts at it, so one
change is flagged once, not on every run until the window forgets the old level. Throttled points
are shown but neither judged nor put in a window (a hot device is not a code change).
"""
from __future__ import annotations

import datetime as _dt
import os
import sqlite3
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

WINDOW = 10          # last N judged runs a new value is compared with
MIN_WINDOW = 5       # fewer earlier runs: not judged ("too few runs")
Z_THRESHOLD = 5.0    # Conbench's default
NOISE_FLOOR = 0.01   # scale >= 1% of the median: between-process noise of a quiet host (design.md)

METRICS = {"latency": ("latency_ms", "ms"), "memory": ("peak_mb", "MB"),
           "energy": ("energy_mj", "mJ")}

# Each entry: the statements that take the schema from version i to i + 1. Append, never edit.
MIGRATIONS: list[list[str]] = [
    [  # 1: runs and their cells
        """CREATE TABLE runs (run_id TEXT PRIMARY KEY, started TEXT, finished TEXT,
               commit_sha TEXT, run_dir TEXT, ingested TEXT NOT NULL)""",
        """CREATE TABLE cells (run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
               key TEXT NOT NULL, device TEXT, virtual INTEGER, abi TEXT, model TEXT,
               variant TEXT, engine TEXT, governor TEXT, threads TEXT, status TEXT,
               latency_ms REAL, latency_stat TEXT, peak_mb REAL, energy_mj REAL,
               throttled INTEGER, noisy INTEGER, PRIMARY KEY (run_id, key))""",
    ],
    [  # 2: records per cell (repeats), and a key index for trends
        "ALTER TABLE cells ADD COLUMN records INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX cells_key ON cells (key)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)
CELL_COLUMNS = ("key", "device", "virtual", "abi", "model", "variant", "engine", "governor",
                "threads", "status", "latency_ms", "latency_stat", "peak_mb", "energy_mj",
                "throttled", "noisy", "records")


class HistoryError(Exception):
    """The history database cannot be used (corrupt, not ours, newer): said once, file untouched."""


@dataclass(frozen=True)
class CellRow:
    key: str
    device: str
    virtual: bool
    abi: str
    model: str
    variant: str
    engine: str
    governor: str
    threads: str
    status: str
    latency_ms: float | None
    latency_stat: str          # "median" or "tool mean"
    peak_mb: float | None
    energy_mj: float | None
    throttled: bool
    noisy: bool
    records: int = 1


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started: str = ""
    finished: str = ""
    commit_sha: str = ""
    run_dir: str = ""


def key_text(key) -> str:
    """The gate's ``CellKey`` as one line: what ``--key SUBSTRING`` matches."""
    virtual = " (virtual)" if key.virtual else ""
    return (f"{key.device}{virtual} {key.abi} {key.model} {key.variant} {key.engine} "
            f"governor={key.governor} threads={key.threads}")


def commit_of(root: Path | None) -> str:
    """The lab repo's commit: ``git rev-parse HEAD`` there, else $GITHUB_SHA, else ""."""
    if root is not None:
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                 text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return os.environ.get("GITHUB_SHA", "")


# ---------------------------------------------------------------- the database

def _connect(path: Path, create: bool) -> sqlite3.Connection:
    path = Path(path)
    if not path.exists():
        if not create:
            raise HistoryError(f"no history database at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
    mode = "rwc" if create else "ro"
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode={mode}", uri=True,
                               isolation_level=None, timeout=30)
        # one read transaction: between two autocommit reads another process's first
        # migration could commit, and "version 0 with tables" would read as a foreign database
        conn.execute("BEGIN")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"history database {path} is unreadable ({exc}); it was left "
                           f"untouched: move it aside to start a new history, or pass another "
                           f"--edgelab-history") from exc
    if version > SCHEMA_VERSION:
        conn.close()
        raise HistoryError(f"history database {path} has schema version {version}, newer than "
                           f"this edgelab's {SCHEMA_VERSION}: upgrade edgelab to read it (it "
                           f"was left untouched)")
    if version == 0 and tables:
        conn.close()
        raise HistoryError(f"{path} is an SQLite database but not an edgelab history (tables: "
                           f"{', '.join(sorted(tables)[:5])}); it was left untouched")
    if version > 0 and not {"runs", "cells"} <= tables:
        conn.close()
        raise HistoryError(f"history database {path} says schema version {version} but lacks "
                           f"its tables; it was left untouched")
    return conn


def migrate(conn: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations in order, in one transaction; returns the new version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= upto:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        # again under the write lock: another process may have migrated meanwhile
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in MIGRATIONS[version:upto]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {int(upto)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return upto


def open_history(path: Path, create: bool = True) -> sqlite3.Connection:
    """A connection at ``SCHEMA_VERSION`` (read-only ones are not migrated: an old file is
    read through its own columns where it has them)."""
    conn = _connect(path, create)
    if create:
        try:
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise HistoryError(f"history database {path} could not be upgraded ({exc}); it "
                               f"was left as it was") from exc
    return conn


def ingest(path: Path, run: RunRow, cells: Iterable[CellRow]) -> int:
    """Store one run (replacing an earlier ingestion of the same run id); returns its cells."""
    cells = list(cells)
    conn = open_history(path, create=True)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM cells WHERE run_id = ?", (run.run_id,))
            conn.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                         (run.run_id, run.started, run.finished, run.commit_sha, run.run_dir,
                          _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")))
            marks = ", ".join("?" * (len(CELL_COLUMNS) + 1))
            conn.executemany(
                f"INSERT INTO cells (run_id, {', '.join(CELL_COLUMNS)}) VALUES ({marks})",
                [(run.run_id, *(getattr(c, name) for name in CELL_COLUMNS)) for c in cells])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"could not write to history database {path}: {exc}") from exc
    finally:
        conn.close()
    return len(cells)


# ---------------------------------------------------------------- reading and trends

@dataclass
class Point:
    run_id: str
    started: str
    commit_sha: str
    value: float | None
    stat: str
    throttled: bool = False
    noisy: bool = False
    z: float | None = None
    step: str = ""           # "" | "worse" | "better"
    note: str = ""           # why not judged, or the step in words


@dataclass
class Trend:
    key: str
    metric: str
    unit: str
    points: list[Point] = field(default_factory=list)

    @property
    def latest(self) -> Point | None:
        return self.points[-1] if self.points else None

    @property
    def steps(self) -> list[Point]:
        return [p for p in self.points if p.step]


def runs(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute(
        "SELECT r.run_id, r.started, r.finished, r.commit_sha, r.run_dir, COUNT(c.key) "
        "FROM runs r LEFT JOIN cells c ON c.run_id = r.run_id GROUP BY r.run_id "
        "ORDER BY r.started, r.run_id").fetchall()
    return [dict(zip(("run_id", "started", "finished", "commit", "run_dir", "cells"), r))
            for r in rows]


def trends(conn: sqlite3.Connection, metric: str = "latency", key: str = "",
           extra: tuple[RunRow, Iterable[CellRow]] | None = None) -> list[Trend]:
    """Per key, the metric's value in each run (oldest first) with steps marked. ``extra``: a
    run not (yet) in the database (the report of the run being finished), placed by its start
    time; the database's rows of the same run id are replaced by it."""
    column, unit = METRICS[metric]
    stat = "latency_stat" if metric == "latency" else "''"
    sql = (f"SELECT c.key, r.run_id, r.started, r.commit_sha, c.{column}, {stat}, c.throttled, "
           f"c.noisy FROM cells c JOIN runs r ON r.run_id = c.run_id "
           f"WHERE c.{column} IS NOT NULL AND instr(lower(c.key), lower(?)) > 0 "
           f"ORDER BY r.started, r.run_id")
    series: dict[str, Trend] = {}
    skip = extra[0].run_id if extra else None
    for k, run_id, started, sha, value, st, throttled, noisy in conn.execute(sql, (key,)):
        if run_id == skip:
            continue
        series.setdefault(k, Trend(k, metric, unit)).points.append(
            Point(run_id, started or "", sha or "", value, st or "", bool(throttled), bool(noisy)))
    if extra:
        run, cells = extra
        for c in cells:
            value = getattr(c, column)
            if value is None or key.lower() not in c.key.lower():
                continue
            st = c.latency_stat if metric == "latency" else ""
            series.setdefault(c.key, Trend(c.key, metric, unit)).points.append(
                Point(run.run_id, run.started, run.commit_sha, value, st, c.throttled, c.noisy))
    out = [series[k] for k in sorted(series)]
    for trend in out:
        if extra:  # a rebuilt report of an older run: its point goes where its time is
            trend.points.sort(key=lambda p: (p.started, p.run_id))
        detect_steps(trend.points)
    return out


def robust_z(value: float, window: list[float]) -> float:
    centre = statistics.median(window)
    mad = statistics.median([abs(v - centre) for v in window])
    scale = max(1.4826 * mad, NOISE_FLOOR * abs(centre))
    if scale == 0:
        return 0.0
    return (value - centre) / scale


def detect_steps(points: list[Point], window: int = WINDOW, min_window: int = MIN_WINDOW,
                 threshold: float = Z_THRESHOLD) -> list[Point]:
    """Mark each point (in place) against the judged points before it since the last step."""
    judged: list[Point] = []
    for point in points:
        if point.value is None:
            continue
        if point.throttled:
            point.note = "throttled: not judged"
            continue
        same = [p.value for p in judged if p.stat == point.stat][-window:]
        if len(same) < min_window:
            point.note = f"{len(same)} earlier runs: not judged (needs {min_window})"
            judged.append(point)
            continue
        point.z = robust_z(point.value, same)
        centre = statistics.median(same)
        if abs(point.z) >= threshold:
            point.step = "worse" if point.z > 0 else "better"
            change = (point.value - centre) / centre if centre else float("nan")
            point.note = (f"step {point.step}: {change:+.1%} vs the median of the last "
                          f"{len(same)} runs (robust z {point.z:+.1f})")
            judged = [point]  # the new level starts here
            continue
        judged.append(point)
    return points
