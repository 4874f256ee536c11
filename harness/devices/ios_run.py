"""One Core ML cell on an iPhone: deploy the model and the job, run the EdgelabRunner app, read
its results into the RawRun every device kind returns (``Device.run_engine``).

Layout in the runner's Documents (``Runner.documentsFolder()`` = Documents/edgelab):
``models/<sha256[:16]>/<model>`` (one folder per content, so same-named variants never clobber
each other; a package already there is not sent again, ios_files.py), ``job.json`` (the app reads
that fixed path) and ``results.json``. The per-iteration latencies are the runner's own (one
sample each, like a host run, not a tool's summary).
"""
from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ..config import DEFAULT_COMPUTE_UNITS
from ..engines import coreml_ios
from . import ios_states
from .ios_files import RUNNER_BUNDLE_ID

DOCUMENTS_FOLDER = "/edgelab"          # Documents/edgelab, where Runner.swift reads and writes
KILL_SLACK_S = 30.0                    # over the run's timeout: the kill and the last AFC look


def run_coreml(device, artifact, settings):
    from .ios import RESULTS
    from .ios_process import run_job

    version = device.info.details.get("product_version")
    units = getattr(settings, "compute_units", None) or DEFAULT_COMPUTE_UNITS
    folder = f"{DOCUMENTS_FOLDER}/models/{artifact.sha256[:16]}"
    model_remote = device.push(Path(artifact.path), folder)
    model_in_job = model_remote[len(DOCUMENTS_FOLDER) + 1:]  # relative to Documents/edgelab
    job = coreml_ios.build_job(model_in_job, settings, units,
                               f"{Path(artifact.path).name}-{units}-{uuid.uuid4().hex[:12]}",
                               version)
    with tempfile.TemporaryDirectory(prefix="edgelab-ios-job-") as scratch:
        job_file = Path(scratch) / "job.json"
        job_file.write_text(json.dumps(job, indent=2))
        device.push(job_file, DOCUMENTS_FOLDER)
    timeout_s = float(settings.timeout_s or device.timeout_s or 600)
    # the app reads the fixed Documents/edgelab/job.json; the variable names it for a person
    # reading the launch in the phone's log, and for a runner that may read it later
    environment = {"EDGELAB_JOB": "Documents/edgelab/job.json"}
    text, facts = device._files(
        run_job(device.info.serial, device._address, ios_states.major_version(version), RESULTS,
                timeout_s, environment), limit=timeout_s + KILL_SLACK_S)
    runs = coreml_ios.parse_results(text, job)
    raw = runs[0]  # build_job asks one repeat: edgelab's own repeats are separate runs
    raw.extra.update({
        "job": {k: job[k] for k in ("job_id", "model", "compute_units", "warmup", "iterations",
                                    "min_time_s", "timeout_s")},
        "launch": {**facts.as_dict(), "bundle": RUNNER_BUNDLE_ID,
                   "how": "developer services process control (DVT), results over AFC"},
        "command": f"launch {RUNNER_BUNDLE_ID} (process control), job {job['job_id']}",
    })
    raw.extra.setdefault("tool", _tool(device))
    raw.extra.update(timed_marks(raw.extra.get("timed_unix_s"), facts.clock,
                                 facts.results_seen_monotonic_s))
    return raw


def timed_marks(timed_unix_s, clock: dict[str, float] | None,
                seen: list[float] | None) -> dict[str, Any]:
    """Where the runner's timed loop was on the host's monotonic clock (the samplers' clock),
    for the record's telemetry (run/sampling.py): ``timed_monotonic_s`` from the loop's marks on
    the phone's wall clock and the phone-to-host offset read at launch (``phone_clock``: how,
    and how uncertain); without them, only when the results were seen (``results_seen_
    monotonic_s``: the loop ended before the second, and after the first look when the runner
    writes its results right after the loop)."""
    out: dict[str, Any] = {}
    if seen:
        out["results_seen_monotonic_s"] = [round(v, 6) for v in seen]
    if not (timed_unix_s and clock):
        return out
    start, end = (v - clock["offset_s"] + clock["monotonic_minus_unix_s"] for v in timed_unix_s)
    out["timed_monotonic_s"] = [round(start, 6), round(end, 6)]
    out["phone_clock"] = {
        "offset_s": clock["offset_s"], "uncertainty_s": round(clock["rtt_s"] / 2, 6),
        "how": "lockdown TimeIntervalSince1970 read at launch between two host clock readings; "
               "the runner's timed_unix_s mapped onto the host's monotonic clock"}
    return out


def _tool(device) -> dict[str, Any]:
    """The record's ``extra.tool`` for a results file from the real app (the virtual runner's
    results carry their own, see coreml_ios.parse_results)."""
    return {"name": "EdgelabRunner", "bundle": RUNNER_BUNDLE_ID, "virtual": False,
            "origin": "EdgelabRunner app on the iPhone"}
