"""The labelled benchmark option ``compute_sleep_ms``: tools sleep a fixed time per iteration.

Driven through the wire (adbwire: no adb server), as benchmarks/farm_scale.py's phones are.
"""
from __future__ import annotations

import re
import time

import pytest
from adbwire import WireClient, push, shell_v2

from harness.errors import UsageError
from harness.virtual import VirtualDevice, make_tool_stub

pytestmark = pytest.mark.integration


def test_tool_iterations_are_the_fixed_sleep_and_the_phone_says_so():
    with VirtualDevice("pixel8", port=0, compute_sleep_ms=20, idle_timeout_s=60,
                       max_lifetime_s=120) as phone, WireClient(phone.port) as client:
        out, _, rc = shell_v2(client, "getprop ro.edgelab.simulated; getprop "
                                      "ro.edgelab.compute_sleep_ms")
        assert rc == 0 and out.decode().split() == ["thermal,battery,cpu_speed,compute_sleep", "20"]
        push(client, make_tool_stub("benchmark_model", "arm64-v8a"),
             "/data/local/tmp/benchmark_model", mode=0o755)
        push(client, b"not a model: the sleeping tool never reads it", "/data/local/tmp/m.tflite")
        start = time.monotonic()
        out, err, rc = shell_v2(client, "cd /data/local/tmp && ./benchmark_model "
                                        "--graph=m.tflite --num_runs=25 --warmup_runs=2 "
                                        "--min_secs=0 --warmup_min_secs=0")
        wall = time.monotonic() - start
        assert rc == 0, err
        text = out.decode()
        main_run = re.findall(r"count=(\d+) .*avg=([\d.e+]+)", text)[-1]
        assert int(main_run[0]) == 25
        assert 19_000 <= float(main_run[1]) <= 40_000  # microseconds: the 20 ms sleep, not a model
        assert wall >= 27 * 0.020


def test_compute_sleep_must_be_positive():
    with pytest.raises(UsageError, match="compute_sleep_ms"):
        VirtualDevice("pixel8", compute_sleep_ms=0)
