"""An xdist worker that crashed mid-cell: the cell and its device's remaining cells get records.

A worker dies (a segfaulting engine binding, the OOM killer, an ``os._exit`` in a plugin) while it
measures a cell. xdist reports the cell as crashed, starts a replacement worker and hands it the
rest of that device's cells. What edgelab adds, on the controller (``pytest_handlecrashitem``):

- the crashed cell gets an ``infra_error`` record naming the worker and the cell, so the report
  shows it instead of a silent gap;
- a marker in the run directory (``crashed-devices/<device>.json``) tells the replacement worker
  not to touch that device again: its remaining cells become ``infra_error`` records at once,
  while the other devices finish. A device that took a worker down may take the next one too,
  and the run must still end with its report.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

MARKERS = "crashed-devices"
CRASH_FIX = ("look at the crashed cell's output in the terminal (a segfault, the OOM killer); "
             "rerun that device alone with --device ID")


def _marker(run_dir: Path, device_id: str) -> Path:
    return Path(run_dir) / MARKERS / (re.sub(r"[^A-Za-z0-9._-]", "_", device_id)[:120] + ".json")


def suite_of(nodeid: str) -> str:
    """``suites/test_latency.py::test_latency[...]`` -> ``latency``."""
    name = nodeid.split("::")[-1].split("[")[0]
    return name[5:] if name.startswith("test_") else name


def record_crash(session, nodeid: str, case, worker: str) -> None:
    """The crashed cell's record and its device's marker (controller side)."""
    marker = _marker(session.store.run_dir, case.device.id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"cell": nodeid, "worker": worker}))
    session.runner.record_infra(
        case, suite_of(nodeid), nodeid,
        f"the pytest-xdist worker {worker} measuring this cell crashed; the device's remaining "
        f"cells are not attempted (fix: {CRASH_FIX})")


def crashed(run_dir: Path, device_id: str) -> dict | None:
    """What a crash marker says about this device (worker side), or None."""
    try:
        return json.loads(_marker(run_dir, device_id).read_text())
    except (OSError, ValueError):
        return None
