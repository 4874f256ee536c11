"""Say which cell is running when one takes long: pytest prints a cell's dot only at its end.

    edgelab: still running test_latency[SERIAL-ppocr_cls-fp32-tflite] (30 s; device call:
    benchmark_model, timeout 600 s)

One daemon thread per process waits on a condition until the running cell passes the next
threshold (``STILL_RUNNING_AFTER_S``, then twice as long, at most ``REPEAT_MAX_S`` apart). A
cell that ends first costs a lock and a notify, nothing else.

Where the line goes: a duplicate of stderr taken at ``pytest_configure``, when pytest's capture
is suspended (as pytest's faulthandler plugin does), because during a test fd 2 itself is
captured. It runs in the process that runs the cell: a plain run, or each xdist worker, whose
stderr is the terminal's (xdist passes it through), which also knows the adb call under way;
the xdist controller runs no cell and watches nothing.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable

import pytest

# cells on the host take 1-10 s, phone cells with pushes up to about a minute; 15 s without a
# dot is where a person starts to wonder whether something hangs
STILL_RUNNING_AFTER_S = 15.0
REPEAT_MAX_S = 120.0  # a 10-minute hang shows 7 lines, not 40


class SlowCellWatcher:
    """``start(name)`` when a cell starts, ``stop()`` when it ends; ``write`` gets the lines."""

    def __init__(self, write: Callable[[str], None], after_s: float | None = None,
                 describe: Callable[[], str | None] = lambda: None, prefix: str = "edgelab"):
        self._write, self._describe = write, describe
        self._after_s = STILL_RUNNING_AFTER_S if after_s is None else after_s
        self._prefix = prefix
        self._cond = threading.Condition()
        self._cell: tuple[str, float] | None = None  # (name, time.monotonic() at start)
        self._due = 0.0  # seconds into the cell at which the next line is written
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        with self._cond:
            self._cell, self._due = (name, time.monotonic()), self._after_s
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="edgelab-progress",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._cell = None  # the thread finds out at its next wake-up: no notify needed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            line = self._next_line()
            if line is None:
                return
            try:
                self._write(line)
            except OSError:
                return  # the terminal is gone: nobody to tell

    def _next_line(self) -> str | None:
        """Wait until the running cell passes its next threshold; None once closed."""
        with self._cond:
            while not self._closed:
                if self._cell is None:
                    self._cond.wait()
                    continue
                name, started = self._cell
                elapsed = time.monotonic() - started
                if elapsed < self._due:
                    self._cond.wait(self._due - elapsed)
                    continue
                self._due += min(self._due, REPEAT_MAX_S)
                return self._line(name, elapsed)
            return None

    def _line(self, name: str, elapsed: float) -> str:
        detail = self._describe()
        return (f"{self._prefix}: still running {name} ({elapsed:.0f} s"
                f"{'; ' + detail if detail else ''})")


def current_device_call() -> str | None:
    """The adb call under way in this process, if any (a host cell has none)."""
    from ..devices.adb_transport import calls_in_flight

    calls = calls_in_flight()
    if not calls:
        return None
    call = max(calls, key=lambda c: c.started)
    return f"device call: {call.label}, timeout {call.timeout_s:g} s"


class ProgressPlugin:
    """The pytest side: registered by ``harness.plugin`` when a bench session runs."""

    def __init__(self, config: pytest.Config):
        from ..devices import link

        self._fd = os.dup(2)  # see the module docstring: fd 2 is captured during tests
        worker = getattr(config, "workerinput", {}).get("workerid")
        prefix = f"edgelab[{worker}]" if worker else "edgelab"
        self.watcher = SlowCellWatcher(self._write, describe=current_device_call, prefix=prefix)
        # a phone that dropped off is awaited for up to --reboot-wait: say so when the wait
        # starts, not only at the next "still running" threshold (devices/link.py)
        link.announce = lambda line: self._write(f"{prefix}: {line}")

    def _write(self, line: str) -> None:
        # a newline first: pytest's dots of the current file are still on this line
        os.write(self._fd, f"\n{line}\n".encode(errors="replace"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self.watcher.start(item.name)
        try:
            return (yield)
        finally:
            self.watcher.stop()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from ..devices import link

        link.announce = lambda line: None  # the fd below closes
        self.watcher.close()
        os.close(self._fd)
