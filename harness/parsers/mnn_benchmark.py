"""Parse MNN ``benchmark.out`` output (one or several benchmark blocks).

Returned keys:

- ``models``: ``{model file: {"min_ms", "max_ms", "avg_ms"}}`` (floats, ms); a
  model printed by several blocks keeps its last occurrence.
- ``forward_type``: backend name of the LAST "Forward type" line
  ("CPU", "Vulkan", "OpenCL", "Metal", ...).
- ``threads``: int, ONLY present when that line prints ``thread=N``.
- ``precision``: int, present when printed (0 normal, 1 high, 2 low/fp16).
- ``loop_count`` / ``warmup``: from "--------> Benchmarking... loop = N[, warmup = M]".
- ``blocks``: number of "Forward type" lines seen.
- ``error``: only when no result line was found; ``error_kind`` says why:
  ``not_tool_output`` (none of benchmark.out's own lines), ``run_failed`` (it
  printed its usage, "open DIR failed" or an MNN error) or ``cut_short`` (it
  started, no model finished).

Quirks: 2019-era builds print ``Forward type: **CPU** thread=4** precision=2``,
later ones ``Forward type: CPU thread=4 precision=2 sparsity=0 ...``; result
lines are ``[ - ] name  max = 27.831ms  min = .. avg = ..`` with or without a
space before ``ms``; backend log lines ("[MNNInfo]: ...", "parsed
/proc/cpuinfo ...") and "MNN: " logcat tags are interleaved and ignored.
"""

from __future__ import annotations

import re

from ._text import (CUT_SHORT, NOT_TOOL_OUTPUT, NUM, RUN_FAILED, log_lines, no_result, to_float,
                    to_int)

_FORWARD = re.compile(r"Forward type:\s*\**\s*([^\s*]+)")
_RESULT = re.compile(
    rf"^\[\s*-\s*\]\s+(.+?)\s+max\s*=\s*({NUM})\s*ms\s+min\s*=\s*({NUM})\s*ms"
    rf"\s+avg\s*=\s*({NUM})\s*ms"
)
_LOOP = re.compile(r"Benchmarking\.\.\.\s*loop\s*=\s*(\d+)(?:\s*,\s*warmup\s*=\s*(\d+))?")
# benchmark.cpp's own lines besides results: banner, usage, build flags, warm-up notice
_TOOL_LINE = re.compile(r"^(?:MNN benchmark|Usage: \S*benchmark|Build Flags:|Warming up|"
                        r"\[MNN(?:Info|Error|Warning)?\])")
# usage (too few arguments), findModelFiles' "open DIR failed", MNN_ERROR text
_FAILURE = re.compile(r"^Usage: |\bfailed\b|\berror\b|can'?t |cannot ", re.I)


def _block(line: str, match: re.Match) -> dict:
    block = {"forward_type": match.group(1)}
    for key, name in (("thread", "threads"), ("precision", "precision")):
        setting = re.search(rf"\b{key}\s*=\s*(-?\d+)", line)
        if setting:
            block[name] = int(setting.group(1))
    return block


def parse(text: str) -> dict:
    models: dict[str, dict] = {}
    block: dict = {}
    blocks, loop = 0, {}
    tool_lines, failures = 0, []
    for line in log_lines(text):
        tool_lines += bool(_TOOL_LINE.match(line.strip()))
        if _FAILURE.search(line.strip()):
            failures.append(line.strip())
        if (m := _FORWARD.search(line)):
            blocks, block, loop = blocks + 1, _block(line, m), {}
        elif (m := _LOOP.search(line)):
            loop = {"loop_count": int(m.group(1)), "warmup": to_int(m.group(2))}
        elif (m := _RESULT.match(line.strip())):
            models.pop(m.group(1), None)
            models[m.group(1)] = {"min_ms": to_float(m.group(3)),
                                  "max_ms": to_float(m.group(2)),
                                  "avg_ms": to_float(m.group(4))}
    result: dict = {"models": models, "forward_type": block.get("forward_type")}
    for key in ("threads", "precision"):
        if key in block:
            result[key] = block[key]
    result.update({"loop_count": loop.get("loop_count"), "warmup": loop.get("warmup"),
                   "blocks": blocks})
    if not models:
        result.update(_no_models(tool_lines + blocks + bool(loop), failures))
    return result


def _no_models(tool_lines: int, failures: list[str]) -> dict:
    if not tool_lines:
        return no_result(NOT_TOOL_OUTPUT, "not MNN benchmark.out output: no 'MNN benchmark', "
                         "'Forward type' or '[ - ] name  max = .. min = .. avg = ..' line")
    if failures:
        return no_result(RUN_FAILED, f"benchmark.out failed before a model finished "
                         f"({failures[-1]})")
    return no_result(CUT_SHORT, "benchmark.out output cut short: 'Forward type' printed but no "
                     "model finished (truncated capture, or the run was still going)")
