"""SIGTERM ends a run the way Ctrl-C does: the run is interrupted, and still finished.

CI cancels a job with SIGTERM (to the whole process group), whose default action kills Python on
the spot: no terminal summary, no report.html, no reports/latest. Turned into KeyboardInterrupt,
it takes pytest's Ctrl-C path instead: the running test stops (``subprocess.run`` kills a host
cell's child process on KeyboardInterrupt), ``pytest_sessionfinish`` writes the report and the
terminal summary is printed. Records already on disk are never touched.

Installed in every process of a session (plain run, xdist controller and workers): a worker that
gets the group's SIGTERM then ends its session and tells the controller it was interrupted,
instead of vanishing as a crashed node that xdist would try to replace.
"""
from __future__ import annotations

import signal
import threading

from ..results.store import defer_until_appended


class TermAsInterrupt:
    """Raise KeyboardInterrupt on SIGTERM until the session finishes; remember the signal."""

    def __init__(self) -> None:
        self.received: str | None = None  # "SIGTERM" once one arrived
        self.finishing = False            # set when the session writes its report
        self._previous = None
        self._installed = False

    def install(self) -> None:
        # Python runs signal handlers only in the main thread, and only it may install them
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None
                          else signal.SIG_DFL)
            self._installed = False

    def _handle(self, signum: int, _frame) -> None:
        # once the report is being written, a late SIGTERM must not abort it: the run is
        # ending anyway (and did not lose a cell), and a caller in a hurry has SIGKILL
        if self.finishing:
            return
        self.received = signal.Signals(signum).name
        if not defer_until_appended(self._interrupt):  # a measured cell keeps its record
            self._interrupt()

    def _interrupt(self) -> None:
        raise KeyboardInterrupt(f"{self.received} received")


def interrupted_by(term: TermAsInterrupt | None, exitstatus: int) -> str | None:
    """The signal that interrupted the run, or None when it was not interrupted."""
    if term is not None and term.received:
        return term.received
    if int(exitstatus) == 2:  # pytest's INTERRUPTED: KeyboardInterrupt, i.e. Ctrl-C's SIGINT
        return "SIGINT"
    return None
