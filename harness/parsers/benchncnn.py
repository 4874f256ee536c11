"""Parse ncnn ``benchncnn`` output (one or several runs in one text).

Returned keys:

- ``loop_count``, ``num_threads``, ``powersave``, ``gpu_device``,
  ``cooling_down``: ints from the header of the LAST run (None if absent).
- ``models``: ``{name: {"min_ms", "max_ms", "avg_ms"}}`` (floats, ms).  A model
  printed by several runs keeps its last occurrence; models that appear only
  in earlier runs keep those values.  Newer benchncnn builds that compare
  several option sets print ``name cpu|gpu min = .. user = .. sys = ..``:
  then the entry also has ``backend`` and ``user_ms`` / ``sys_ms``.
- ``gpus``: ``{index: name}`` from the Vulkan device lines
  (``[0 Mali-G72]  queueC=..``); ``gpu_name`` is the device the last run used.
- ``runs``: number of ``loop_count =`` headers seen.
- ``error``: only when no result line was found; ``error_kind`` says why:
  ``not_tool_output`` (no header, result or ncnn GPU line at all), ``run_failed``
  (ncnn printed an error such as "fopen x.param failed" or "network graph not
  ready") or ``cut_short`` (the header is there, no model finished).

Quirks: results go to stderr as ``"%20s  min = %7.2f  max = %7.2f  avg = %7.2f"``
so names are right-aligned with variable padding and may contain ``-`` or
``.`` (``yolov4-tiny``, ``yolo-fastest-1.1``); shell prompts, GPU info lines and
logcat prefixes between results are ignored; a run cut short keeps the
models it finished.
"""

from __future__ import annotations

import re

from ._text import CUT_SHORT, NOT_TOOL_OUTPUT, NUM, RUN_FAILED, log_lines, no_result, to_float

_HEADER = re.compile(r"^\s*(loop_count|num_threads|powersave|gpu_device|cooling_down)\s*=\s*(-?\d+)\s*$")
_RESULT = re.compile(
    rf"^\s*(\S+)\s+(?:(cpu|gpu)\s+)?min\s*=\s*({NUM})\s+max\s*=\s*({NUM})\s+avg\s*=\s*({NUM})"
    rf"(?:\s+user\s*=\s*({NUM})\s+sys\s*=\s*({NUM}))?"
)
_GPU = re.compile(r"^\s*\[(\d+)\s+([^\]]+)\]\s+\w+=")
_HEADER_KEYS = ("loop_count", "num_threads", "powersave", "gpu_device", "cooling_down")
# What ncnn's NCNN_LOGE prints when a model cannot load or run (net.cpp, gpu.cpp), and the
# usage line newer benchncnn builds print for a bad key=value argument.
_FAILURE = re.compile(r"\bfailed\b|not ready|not exists|too old|\berror\b|^Usage: ", re.I)


def _result(match: re.Match) -> dict:
    entry = {"min_ms": to_float(match.group(3)), "max_ms": to_float(match.group(4)),
             "avg_ms": to_float(match.group(5))}
    if match.group(2):
        entry["backend"] = match.group(2)
    if match.group(6) is not None:
        entry["user_ms"] = to_float(match.group(6))
        entry["sys_ms"] = to_float(match.group(7))
    return entry


def parse(text: str) -> dict:
    header: dict[str, int] = {}
    models: dict[str, dict] = {}
    gpus: dict[int, str] = {}
    runs = 0
    failures: list[str] = []
    for line in log_lines(text):
        if (m := _HEADER.match(line)):
            if m.group(1) == "loop_count":
                # Each run prints loop_count first: start a fresh header.
                runs, header = runs + 1, {}
            header[m.group(1)] = int(m.group(2))
        elif (m := _GPU.match(line)):
            gpus[int(m.group(1))] = m.group(2).strip()
        elif (m := _RESULT.match(line)):
            models.pop(m.group(1), None)  # re-insert so order follows last occurrence
            models[m.group(1)] = _result(m)
        elif _FAILURE.search(line):
            failures.append(line.strip())
    result: dict = {key: header.get(key) for key in _HEADER_KEYS}
    gpu_device = header.get("gpu_device")
    result.update({
        "models": models,
        "gpus": gpus,
        "gpu_name": gpus.get(gpu_device) if gpu_device is not None else None,
        "runs": runs,
    })
    if not models:
        result.update(_no_models(runs or len(gpus), failures))
    return result


def _no_models(tool_lines: int, failures: list[str]) -> dict:
    if not tool_lines:
        return no_result(NOT_TOOL_OUTPUT, "not benchncnn output: no 'loop_count = N' header and "
                         "no 'name  min = ..  max = ..  avg = ..' line")
    if failures:
        return no_result(RUN_FAILED, f"benchncnn failed before a model finished ({failures[-1]})")
    return no_result(CUT_SHORT, "benchncnn output cut short: header printed but no model "
                     "finished (truncated capture, or the run was still going)")
