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
- ``error``: only when no result line was found.

Quirks: 2019-era builds print ``Forward type: **CPU** thread=4** precision=2``,
later ones ``Forward type: CPU thread=4 precision=2 sparsity=0 ...``; result
lines are ``[ - ] name  max = 27.831ms  min = .. avg = ..`` with or without a
space before ``ms``; backend log lines ("[MNNInfo]: ...", "parsed
/proc/cpuinfo ...") and "MNN: " logcat tags are interleaved and ignored.
"""

from __future__ import annotations

import re

from ._text import NUM, log_lines, to_float, to_int

_FORWARD = re.compile(r"Forward type:\s*\**\s*([^\s*]+)")
_RESULT = re.compile(
    rf"^\[\s*-\s*\]\s+(.+?)\s+max\s*=\s*({NUM})\s*ms\s+min\s*=\s*({NUM})\s*ms"
    rf"\s+avg\s*=\s*({NUM})\s*ms"
)
_LOOP = re.compile(r"Benchmarking\.\.\.\s*loop\s*=\s*(\d+)(?:\s*,\s*warmup\s*=\s*(\d+))?")


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
    for line in log_lines(text):
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
        result["error"] = ("'Forward type' printed but no model finished: run failed or was cut"
                           if blocks else "no '[ - ] name max = min = avg =' lines: not MNN output")
    return result
