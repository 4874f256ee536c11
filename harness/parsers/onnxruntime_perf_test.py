"""Parse ``onnxruntime_perf_test`` output (all summary generations).

Returned keys (None when not printed):

- ``avg_ms``: "Average inference time cost: X ms" (recent builds add "total":
  "Average inference time cost total: X ms"; older ones: "Average time cost: X ms").
- ``p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms``, ``p999_ms``, ``min_ms``,
  ``max_ms``: latencies, printed in seconds ("P50 Latency: 0.0826 s", older
  "P50 Latency is 0.0587 sec") and converted to ms.
- ``requests``: int, "Total inference requests" (older "Total iterations", or
  the "Runs:" line).
- ``total_time_s``: "Total inference time cost: X s" (older "Total time cost: X").
- ``run_time_s``: "Total inference run time" / "Total run time" (wall clock).
- ``session_creation_s``, ``first_inference_ms``, ``inferences_per_s``,
  ``cpu_usage_pct`` ("Avg CPU usage"), ``total_cpu_usage_pct`` ("Total CPU
  usage", printed by some vendor builds instead).
- ``peak_working_set_bytes``: int, "Peak working set size: N bytes".
- ``runs``: how many summaries the text holds (the last one is reported).
- ``error``: why ``avg_ms`` is missing; ``error_kind`` says which case:
  ``not_tool_output`` (none of perf_test's own lines), ``run_failed`` ("Run
  failed:", an exception or an ``[E:onnxruntime:`` log line) or ``cut_short``
  (it started, the output ends before "Average inference time cost").

Quirks: the tool prints some lines twice, with and without spaces/units
("Peak working set size:78946304"); labels are matched case-insensitively
with optional spaces around ":" and an optional "is".
"""

from __future__ import annotations

import re

from ._text import (CUT_SHORT, NOT_TOOL_OUTPUT, NUM, RUN_FAILED, log_lines, no_result, to_float,
                    to_int)

_FIELDS: tuple[tuple[str, str], ...] = (
    ("session_creation_s", r"Session creation time cost"),
    ("first_inference_ms", r"First inference time cost"),
    ("total_time_s", r"Total (?:inference )?time cost"),
    ("requests", r"Total inference requests|Total iterations|Runs"),
    # Recent builds say "Average inference time cost total: X ms" (same figure).
    ("avg_ms", r"Average (?:inference )?time cost(?: total)?"),
    ("run_time_s", r"Total (?:inference )?run time"),
    ("inferences_per_s", r"Number of inferences per second"),
    ("cpu_usage_pct", r"Avg CPU usage"),
    ("total_cpu_usage_pct", r"Total CPU usage"),  # some vendor builds: sum over cores
    ("peak_working_set_bytes", r"Peak working set size"),
)
_FIELD_RES = [(key, re.compile(rf"^\s*(?:{label})\s*(?:is\s+|:\s*)({NUM})\s*(\w+)?", re.I))
              for key, label in _FIELDS]
_LATENCY = re.compile(rf"^\s*(Min|Max|P\d+)\s+Latency\s*(?:is\s+|:\s*)({NUM})\s*(\w+)?", re.I)
_TO_MS = {"s": 1000.0, "sec": 1000.0, "secs": 1000.0, "seconds": 1000.0,
          "ms": 1.0, "us": 0.001}
_INT_KEYS = ("requests", "peak_working_set_bytes")
_FAILURE = re.compile(r"\bfailed\b|exception|\[E:onnxruntime|error", re.I)
# perf_test's own lines besides the summary fields: its thread/EP setup, free-dim overrides,
# the --help hint after bad arguments, and ORT's log prefix
_TOOL_LINE = re.compile(r"Setting intra_op_num_threads|Disabling intra-op thread spinning|"
                        r"Overriding dimension with|See 'onnxruntime_perf_test --help'|"
                        r"^\s*perf_test \[options|\[[EWI]:onnxruntime:|"
                        r"^Run failed:|^Exception during initialization", re.I)


def _latency_ms(value: str, unit: str | None) -> float | None:
    number = to_float(value)
    if number is None:
        return None
    # Latencies are printed in seconds unless a smaller unit is spelled out.
    # Round away binary noise of the unit change (0.0838817 s -> 83.8817 ms).
    return round(number * _TO_MS.get((unit or "s").lower(), 1000.0), 9)


def _split_runs(lines: list[str]) -> list[dict]:
    runs: list[dict] = [{}]
    for line in lines:
        if re.match(r"^\s*Session creation time cost", line, re.I) and "avg_ms" in runs[-1]:
            runs.append({})  # a second session starts a new summary
        run = runs[-1]
        if _TOOL_LINE.search(line):
            run["_tool_lines"] = run.get("_tool_lines", 0) + 1
        if (m := _LATENCY.match(line)):
            run[f"{m.group(1).lower()}_ms"] = _latency_ms(m.group(2), m.group(3))
            continue
        for key, pattern in _FIELD_RES:
            if (m := pattern.match(line)):
                number = to_int(m.group(1)) if key in _INT_KEYS else to_float(m.group(1))
                run.setdefault(key, number)  # duplicate short-form lines agree; keep first
                break
        else:
            if _FAILURE.search(line):
                run.setdefault("_failures", []).append(line.strip())
    return runs


def parse(text: str) -> dict:
    runs = [run for run in _split_runs(log_lines(text)) if run]
    run = next((r for r in reversed(runs) if "avg_ms" in r), runs[-1] if runs else {})
    keys = ("avg_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "min_ms",
            "max_ms", "requests", "total_time_s", "run_time_s", "session_creation_s",
            "first_inference_ms", "inferences_per_s", "cpu_usage_pct",
            "total_cpu_usage_pct", "peak_working_set_bytes")
    result = {key: run.get(key) for key in keys}
    result["runs"] = sum(1 for r in runs if "avg_ms" in r)
    if result["avg_ms"] is None:
        result.update(_no_summary(run))
    return result


def _no_summary(run: dict) -> dict:
    failures = run.get("_failures")
    recognised = run.get("_tool_lines") or any(
        key in run for key in ("session_creation_s", "first_inference_ms", "total_time_s",
                               "requests", "peak_working_set_bytes", "p50_ms"))
    if not recognised:
        return no_result(NOT_TOOL_OUTPUT, "not onnxruntime_perf_test output: no 'Session "
                         "creation time cost', 'Average inference time cost' or latency line")
    if failures:
        return no_result(RUN_FAILED, f"onnxruntime_perf_test failed before its summary "
                         f"({failures[-1]})")
    return no_result(CUT_SHORT, "onnxruntime_perf_test output cut short: it ends before the "
                     "'Average inference time cost' line (truncated capture, or the run was "
                     "still going)")
