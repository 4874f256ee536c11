"""The "still running" watcher: a line for a cell that takes long, nothing for one that does not,
one thread for the whole run."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from harness.devices.adb_transport import AdbTransport
from harness.run.progress import SlowCellWatcher, current_device_call


def _watcher(after_s: float, describe=lambda: None) -> tuple[SlowCellWatcher, list[str]]:
    lines: list[str] = []
    return SlowCellWatcher(lines.append, after_s=after_s, describe=describe), lines


def test_a_long_cell_is_named_with_its_time_and_device_call():
    watcher, lines = _watcher(0.2, describe=lambda: "device call: getprop, timeout 3 s")
    watcher.start("test_latency[SERIAL-ppocr_cls-fp32-tflite]")
    time.sleep(0.55)  # thresholds at 0.2 and 0.4 s, the next at 0.8 s
    watcher.stop()
    watcher.close()
    assert len(lines) == 2, lines
    assert lines[0] == ("edgelab: still running test_latency[SERIAL-ppocr_cls-fp32-tflite] "
                        "(0 s; device call: getprop, timeout 3 s)")


def test_a_cell_that_ends_in_time_says_nothing_and_the_next_one_starts_its_own_clock():
    watcher, lines = _watcher(0.3)
    for name in ("a", "b", "c"):
        watcher.start(name)
        time.sleep(0.2)
        watcher.stop()
    watcher.close()
    assert lines == []  # 0.6 s of cells in all, none of them 0.3 s long


def test_one_thread_for_any_number_of_cells():
    watcher, lines = _watcher(60.0)
    before = threading.active_count()
    started = time.perf_counter()
    for i in range(2000):
        watcher.start(f"cell{i}")
        watcher.stop()
    per_cell_us = (time.perf_counter() - started) / 2000 * 1e6
    assert threading.active_count() == before + 1
    watcher.close()
    assert threading.active_count() == before and lines == []
    assert per_cell_us < 500, per_cell_us  # a lock and a notify; measured ~2 us


def test_current_device_call_names_the_adb_call_under_way():
    seen = []

    class Device:
        def get_features(self):
            return "shell_v2"

        def shell2(self, command, timeout=None, encoding="utf-8", v2=True):
            seen.append(current_device_call())
            return SimpleNamespace(returncode=0, stdout="", stderr="", output="")

    transport = AdbTransport("S", ("127.0.0.1", 1), timeout_s=3.0)
    transport._device = Device()
    transport.shell(["getprop", "ro.product.model"])
    transport.run_killable(["/data/local/tmp/edgelab/benchmark_model", "--graph=m"], 3.0)
    assert seen[0] == "device call: getprop, timeout 3 s"
    assert seen[-1] == "device call: benchmark_model, timeout 8 s"
    assert current_device_call() is None  # nothing under way once the calls returned
