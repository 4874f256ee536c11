"""Running the virtual shell's loops: ``while``/``until`` LIST ``do`` LIST ``done`` and ``for``.

Only what a sampling script needs (harness/telemetry/script.py writes one). A loop must never
outlive its adb stream: every round checks the stream's cancel event and the ``timeout``
deadline, so ``while :; do :; done`` still ends when the host closes the stream, as the real
adbd ends a shell whose socket closed (the script's next write fails there).
"""
from __future__ import annotations

import time

from .commands import _err, command
from .shell import IO, Cancelled, TimedOut
from .shsyntax import Loop


class _Break(Exception):
    def __init__(self, levels: int, resume: bool):
        super().__init__(levels)
        self.levels, self.resume = levels, resume  # resume: `continue` rather than `break`


class LineSource:
    """A loop's redirected stdin (``while read -r k v; do ...; done < FILE``): each ``read``
    takes the next line, as reads from one open file descriptor do; any other command that reads
    stdin takes the rest."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def readline(self) -> tuple[bytes, bool]:
        """(the next line without its newline, whether it had one)."""
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            line, self.pos = self.data[self.pos:], len(self.data)
            return line, False
        line, self.pos = self.data[self.pos:end], end + 1
        return line, True

    def __call__(self) -> bytes:
        rest, self.pos = self.data[self.pos:], len(self.data)
        return rest


class _Coalesced:
    """A loop's output, sent in one piece per round or before it sleeps.

    A phone's process writes into a pipe and goes on; adbd forwards what has piled up. Sending
    each ``echo`` as its own adb message, each waiting for the host's OKAY, would make a loop
    many times slower than on a phone."""

    def __init__(self, io: IO):
        self.io, self.chunks = io, []

    def writer(self, target):
        def write(data: bytes) -> None:
            if self.chunks and self.chunks[-1][0] is target:
                self.chunks[-1][1].extend(data)
            else:
                self.chunks.append((target, bytearray(data)))
        return write

    def flush(self) -> None:
        chunks, self.chunks = self.chunks, []
        for target, data in chunks:
            target(bytes(data))


def run_loop(shell, loop: Loop, io: IO) -> int:
    shell.loop_depth = getattr(shell, "loop_depth", 0) + 1
    output = _Coalesced(io)
    shell.flushers = getattr(shell, "flushers", []) + [output.flush]  # shell.wait() flushes
    source = LineSource(io.source) if isinstance(io.source, bytes) else io.source
    buffered = IO(source, output.writer(io.out), output.writer(io.err))
    try:
        if loop.kind == "for":
            return _run_for(shell, loop, buffered, output)
        return _run_while(shell, loop, buffered, output)
    finally:
        output.flush()
        shell.flushers = shell.flushers[:-1]
        shell.loop_depth -= 1


def _run_while(shell, loop: Loop, io: IO, output: _Coalesced) -> int:
    rc = 0
    while True:
        output.flush()
        _check(shell)
        condition = shell.run_items(loop.condition, io)
        if (condition == 0) != (loop.kind == "while"):
            return rc  # POSIX: the status of the last body run, 0 when the body never ran
        done, rc = _body(shell, loop, io)
        if done:
            return rc


def _run_for(shell, loop: Loop, io: IO, output: _Coalesced) -> int:
    values: list[str] = []
    for word in loop.words:
        values.extend(shell.expand(word))
    rc = 0
    for value in values:
        output.flush()
        _check(shell)
        shell.env[loop.name] = value
        done, rc = _body(shell, loop, io)
        if done:
            break
    return rc


def _body(shell, loop: Loop, io: IO) -> tuple[bool, int]:
    """Run the body once: (whether the loop ends, status)."""
    try:
        return False, shell.run_items(loop.body, io)
    except _Break as jump:
        if jump.levels > 1:
            raise _Break(jump.levels - 1, jump.resume) from None
        return not jump.resume, 0


@command("break", "continue")
def _break(shell, argv, io):
    levels = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() and int(argv[1]) > 0 else 1
    if getattr(shell, "loop_depth", 0) < 1:
        _err(io, f"/system/bin/sh: {argv[0]}: can't {argv[0]}")  # mksh outside a loop
        return 1
    raise _Break(min(levels, shell.loop_depth), resume=argv[0] == "continue")


def _check(shell) -> None:
    if shell.cancel.is_set():
        raise Cancelled()
    if shell.deadline is not None and time.monotonic() >= shell.deadline:
        raise TimedOut()
