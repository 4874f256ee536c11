"""Parse TFLite / LiteRT ``benchmark_model`` output (shell or benchmark-APK logcat).

Returned keys (times in microseconds, memory in MB; None when not printed):

- ``ok``: bool -- True when an "Inference timings in us" line was printed.
- ``init_us``, ``first_us``, ``warmup_us``, ``avg_us``: Init, First inference,
  Warmup (avg) and Inference (avg) of the "Inference timings in us" line.
- ``count``, ``min_us``, ``max_us``, ``std_us`` (+ ``p5_us``, ``median_us``,
  ``p95_us`` when the tool prints percentiles): from the last ``count=`` line
  before the timings line, i.e. the main run; the warm-up run's line comes
  first and only gives ``warmup_count``.
- ``peak_memory_mb``: "Overall peak memory footprint (MB) via periodic
  monitoring" when printed, else ``overall=`` of the footprint line
  ("Peak memory footprint (MB): init= overall=" in older tools, "Memory
  footprint delta from the start of the tool (MB): init= overall=" in newer
  ones); ``footprint_init_mb`` / ``footprint_overall_mb`` keep both values.
- ``init_session_ms``, ``model_size_mb``, ``model`` (graph path),
  ``num_threads``, ``delegate`` ("nnapi", "gpu", "xnnpack", ... joined with
  "+" when several), ``delegated_kernels``, ``fully_delegated``.
- ``benchmark_failed``: the tool printed "Benchmarking failed.".
- ``errors``: list of ERROR / "Failed to ..." lines of the chosen run.
- ``runs``: how many runs the text holds; the last complete one is reported.
- ``error``: why ``ok`` is False; ``error_kind`` says which case it is:
  ``not_tool_output`` (none of benchmark_model's own lines is in the text),
  ``run_failed`` (the tool printed an error or "Benchmarking failed.") or
  ``cut_short`` (its lines are there but the output ends before the timings).

Quirks: logcat prefixes ("I tflite  :", "I/tflite  ( 1234):") and the tool's
own "INFO: " level prefix are stripped; all-same runs print only
``count=N curr=X``; big averages come as ``3.02496e+07``; the oldest tools
print "Average inference timings in us: Warmup: .., Init: .., no stats: ..".
"""

from __future__ import annotations

import re

from ._text import CUT_SHORT, NOT_TOOL_OUTPUT, NUM, RUN_FAILED, log_lines, no_result, to_float, to_int

_LEVEL = re.compile(r"^(INFO|WARN|WARNING|ERROR|VERBOSE|DEBUG)\s*:\s*")
_STAT_PAIR = re.compile(rf"(\w+)=({NUM})")
_TIMINGS = re.compile(r"Inference timings in us:", re.I)
_TIMING_FIELDS = {
    "init_us": rf"Init:\s*({NUM})",
    "first_us": rf"First inference:\s*({NUM})",
    "warmup_us": rf"Warmup(?: \(avg\))?:\s*({NUM})",
    "avg_us": rf"(?:Inference \(avg\)|no stats):\s*({NUM})",
}
_FOOTPRINT = re.compile(rf"footprint.*\(MB\):\s*init=({NUM})\s+overall=({NUM})", re.I)
_PEAK = re.compile(rf"peak memory footprint \(MB\) via periodic monitoring:\s*({NUM})", re.I)
_APPLIED = re.compile(r"(?:Explicitly applied|Though) (\S+) delegate", re.I)
_PARTIAL = re.compile(r"partially executed by the delegate w/ (\d+) delegate kernels", re.I)
# Params echo ("Use NNAPI: [1]"); only delegate switches, not "Use caching".
_USE_PARAM = re.compile(r"^Use (NNAPI|gpu|xnnpack|Hexagon|CoreML)(?: delegate)?:\s*\[(?:1|true)\]", re.I)
_THREADS = re.compile(r"^(?:Num threads|#threads used for CPU inference):\s*\[(-?\d+)\]")
_ERROR_LINE = re.compile(r"^(?:Failed to |Could not |Benchmarking failed)|\bfailed\b", re.I)
# Lines only benchmark_model (and the TFLite runtime it loads) prints, level prefix stripped:
# its start, the parameter echo ("Num runs: [50]"), load/run progress and the summary.
_TOOL_LINE = re.compile(
    r"^(?:STARTING!|Log parameter values verbosely|Loaded model |The input model file size|"
    r"Initialized (?:session in|TensorFlow Lite runtime)|Created TensorFlow Lite|"
    r"Running benchmark for at least|count=\d|(?:Average )?[Ii]nference timings in us|"
    r"Benchmarking failed|(?:Overall )?[Pp]eak memory footprint|Memory footprint delta|"
    r"Explicitly applied|[A-Z#][\w #()/.,-]*: \[[^\]]*\]$)")
# Printed at WARN level on every APK run: the model came from a file descriptor.
_BENIGN = ("Failed to get the input model file size",)


def _new_run() -> dict:
    return {"counts": [], "timings": None, "errors": [], "delegates": [],
            "param_delegates": [], "lines": 0, "tool_lines": 0}


def _stat(line: str) -> dict:
    pairs = {key: to_float(value) for key, value in _STAT_PAIR.findall(line)}
    if "min" not in pairs and "curr" in pairs:
        # "count=5 curr=1234(all same)": every run took the same time.
        for key in ("first", "min", "max", "avg"):
            pairs[key] = pairs["curr"]
        pairs["std"] = 0.0
    return pairs


def _timings(line: str) -> dict:
    return {key: to_float(m.group(1)) for key, pat in _TIMING_FIELDS.items()
            if (m := re.search(pat, line))}


def _feed(run: dict, line: str, level: str) -> None:
    run["lines"] += 1
    run["tool_lines"] += bool(_TOOL_LINE.match(line))
    if line.startswith("count="):
        run["counts"].append(_stat(line))
    elif _TIMINGS.search(line):
        run["timings"] = _timings(line)
    elif (m := _PEAK.search(line)):
        run["peak"] = to_float(m.group(1))
    elif (m := _FOOTPRINT.search(line)):
        run["footprint"] = (to_float(m.group(1)), to_float(m.group(2)))
    elif (m := _THREADS.match(line)):
        run.setdefault("num_threads", int(m.group(1)))
    elif (m := re.match(r"^(?:Graph: \[(.*)\]|Loaded model (\S+))", line)):
        run.setdefault("model", m.group(1) or m.group(2))
    elif (m := re.match(rf"^Initialized session in ({NUM})\s*ms", line)):
        run["init_session_ms"] = to_float(m.group(1))
    elif (m := re.match(rf"^The input model file size \(MB\):\s*({NUM})", line)):
        run["model_size_mb"] = to_float(m.group(1))
    _feed_delegate_and_errors(run, line, level)


def _feed_delegate_and_errors(run: dict, line: str, level: str) -> None:
    if (m := _APPLIED.search(line)):
        run["delegates"].append(m.group(1).lower())
        run["fully"] = "completely executed" in line
        partial = _PARTIAL.search(line)
        run["kernels"] = int(partial.group(1)) if partial else (1 if run["fully"] else 0)
    elif (m := _USE_PARAM.match(line)):
        run["param_delegates"].append(m.group(1).lower())
    if line == "Benchmarking failed.":
        run["benchmark_failed"] = True
    # The tool's own level prefix decides when present; bare lines (old tools,
    # logcat) are judged by their wording.
    is_error = level == "ERROR" or (not level and bool(_ERROR_LINE.search(line)))
    if is_error and not line.startswith(_BENIGN):
        run["errors"].append(line)


def _split_runs(lines: list[str]) -> list[dict]:
    runs, run = [], _new_run()
    for raw in lines:
        line = raw.strip()
        level_match = _LEVEL.match(line)
        level = level_match.group(1) if level_match else ""
        line = line[level_match.end():] if level_match else line
        if not line:
            continue
        starts = line.startswith("STARTING!") or (
            run["timings"] is not None and
            (line.startswith("count=") or line.startswith("Running benchmark")))
        if starts and run["lines"]:
            runs.append(run)
            run = _new_run()
        _feed(run, line, level)
    if run["lines"]:
        runs.append(run)
    return runs


def _main_stat(run: dict) -> dict:
    return run["counts"][-1] if run["counts"] else {}


def _no_timings(run: dict | None, tool_lines: int) -> dict:
    """Why there are no timings: not this tool's text, a failed run, or a cut-off one."""
    if run is None or not tool_lines:
        return no_result(NOT_TOOL_OUTPUT, "not benchmark_model output: none of its lines "
                         "(STARTING!, 'Num threads: [4]', count=..., 'Inference timings in us') "
                         "is in the text")
    errors = run["errors"]
    if errors or run.get("benchmark_failed"):
        cause = next((e for e in errors if e.startswith("Failed to ")),
                     errors[0] if errors else "Benchmarking failed.")
        return no_result(RUN_FAILED, f"benchmark_model failed before reporting timings ({cause})")
    return no_result(CUT_SHORT, "benchmark_model output cut short: it ends before the 'Inference "
                     "timings in us' line (truncated capture, or the run was still going)")


def _report(run: dict | None, n_runs: int) -> dict:
    run = run or _new_run()
    timings, stat = run["timings"] or {}, _main_stat(run)
    footprint = run.get("footprint") or (None, None)
    delegates = run["delegates"] or run["param_delegates"]
    count = to_int(stat.get("count"))
    return {
        "ok": run["timings"] is not None,
        "avg_us": timings.get("avg_us"), "init_us": timings.get("init_us"),
        "first_us": timings.get("first_us"), "warmup_us": timings.get("warmup_us"),
        "count": count, "min_us": stat.get("min"), "max_us": stat.get("max"),
        "std_us": stat.get("std"), "p5_us": stat.get("p5"),
        "median_us": stat.get("median"), "p95_us": stat.get("p95"),
        "warmup_count": to_int(run["counts"][0].get("count")) if len(run["counts"]) > 1 else None,
        "peak_memory_mb": run.get("peak") if run.get("peak") is not None else footprint[1],
        "footprint_init_mb": footprint[0], "footprint_overall_mb": footprint[1],
        "init_session_ms": run.get("init_session_ms"),
        "model_size_mb": run.get("model_size_mb"), "model": run.get("model"),
        "num_threads": run.get("num_threads"),
        "delegate": "+".join(dict.fromkeys(delegates)) or None,
        "delegated_kernels": run.get("kernels"), "fully_delegated": run.get("fully"),
        "benchmark_failed": bool(run.get("benchmark_failed")),
        "errors": run["errors"], "runs": n_runs,
    }


def parse(text: str) -> dict:
    runs = _split_runs(log_lines(text))
    complete = [run for run in runs if run["timings"] is not None]
    chosen = complete[-1] if complete else (runs[-1] if runs else None)
    result = _report(chosen, len(runs))
    if not result["ok"]:
        result.update(_no_timings(chosen, sum(run["tool_lines"] for run in runs)))
    return result
