"""A small stand-in for the phone's /system/bin/sh (mksh) running toybox commands.

It runs what the harness, adb and adbutils really send (syntax: shsyntax.py): expands ``$?``,
``$VAR`` and ``*`` globs against the phone's files, applies redirections (``>`` into sysfs files
goes through the kernel-like checks in fs.py), ``NAME=value cmd``, and the commands registered
in commands.py. Anything else fails the way mksh fails:
an unknown command prints ``/system/bin/sh: X: inaccessible or not found`` and returns 127.
Pipelines run stage by stage with buffered bytes (no concurrency); ``CMD &`` runs in a thread of
its own, with ``$!`` and ``wait`` (jobs.py).
"""
from __future__ import annotations

import io as _io
import os
import posixpath
import re
import threading
import time
from fnmatch import fnmatchcase
from typing import Callable

from .shsyntax import Command, ShellSyntaxError, lex, parse

SH = "/system/bin/sh"
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_GLOB_CHARS = set("*?[")
Writer = Callable[[bytes], None]


class Cancelled(Exception):
    """The adb stream closed (or the device stopped): abandon the command, kill its children."""


class TimedOut(Exception):
    """A ``timeout N`` deadline passed; the innermost ``timeout`` turns it into rc 124."""


class ShellExit(Exception):
    """``exit N``: ends the (sub)shell that runs the script."""

    def __init__(self, rc: int):
        super().__init__(rc)
        self.rc = rc


class IO:
    """A command's fds. stdin may be bytes or a callable that collects them only when read, so
    a command that never reads stdin never waits for the host to close it."""

    def __init__(self, stdin: bytes | Callable[[], bytes], out: Writer, err: Writer):
        self.source, self.out, self.err = stdin, out, err

    @property
    def stdin(self) -> bytes:
        if callable(self.source):
            self.source = self.source()
        return self.source


class Shell:
    """One mksh process: cwd, variables, last exit code; runs on behalf of one adb stream."""

    def __init__(self, device, cancel: threading.Event, cwd: str = "/",
                 env: dict[str, str] | None = None, deadline: float | None = None):
        self.device = device            # harness.virtual.device.DeviceState
        self.fs = device.fs
        self.cancel = cancel
        self.cwd = cwd
        self.env = dict(env if env is not None else device.default_env())
        self.deadline = deadline
        self.last_rc = 0

    def child(self) -> "Shell":
        inner = Shell(self.device, self.cancel, self.cwd, self.env, self.deadline)
        if hasattr(self, "pid"):  # a job's pid (jobs.py): what the tools it starts show as PPid
            inner.pid = self.pid
        return inner

    def warn(self, io: IO, message: str) -> None:
        io.err(f"{SH}: {message}\n".encode())

    def run_script(self, text: str, io: IO) -> int:
        try:
            items = parse(lex(text))
        except ShellSyntaxError as exc:
            self.warn(io, str(exc))
            return 2
        try:
            return self.run_items(items, io)
        except ShellExit as exc:
            self.last_rc = exc.rc
            return exc.rc

    def run_items(self, items: list, io: IO) -> int:
        """Parsed items in order (``&&``/``||`` honoured); a closed stream stops them."""
        rc = self.last_rc
        for connector, pipeline in items:
            if (connector == "&&" and rc != 0) or (connector == "||" and rc == 0):
                continue
            if pipeline[-1].background:
                from .jobs import start_job

                rc = start_job(self, pipeline, io)
            else:
                rc = self.run_pipeline(pipeline, io)
            self.last_rc = rc
            if self.cancel.is_set():
                raise Cancelled()
        return rc

    def run_pipeline(self, pipeline: list[Command], io: IO) -> int:
        stdin, rc = io.source, 0
        for position, command in enumerate(pipeline):
            last = position == len(pipeline) - 1
            buffer = _io.BytesIO()
            stage = IO(stdin, io.out if last else buffer.write, io.err)
            rc = self.run_command(command, stage)
            stdin = buffer.getvalue()
        return rc

    def run_command(self, command: Command, io: IO) -> int:
        argv: list[str] = []
        for word in command.words:
            argv.extend(self.expand(word))
        assignments: dict[str, str] = {}
        while argv and _ASSIGNMENT.match(argv[0]):
            name, _, value = argv.pop(0).partition("=")
            assignments[name] = value
        files: list[tuple[str, _io.BytesIO, bool]] = []
        fds = {0: io.source, 1: io.out, 2: io.err}
        for fd, op, target in command.redirects:
            if op == ">&":
                fds[fd] = fds.get(target, io.out)
                continue
            path_words = self.expand(target)
            path_text = path_words[0] if path_words else ""
            path = self.fs.normalize(path_text, self.cwd)
            try:
                if op == "<":
                    fds[fd] = self.fs.read_bytes(path)
                    continue
                self.fs.check_writable(path)
                if op == ">" and not path.startswith(("/sys/", "/proc/")) and path != "/dev/null":
                    self.fs.write_bytes(path, b"")
            except OSError as exc:
                verb = "open" if op == "<" else "create"  # said on fd 2 as redirected so far
                self.warn(IO(b"", fds[1], fds[2]), f"can't {verb} {path_text}: {exc.strerror}")
                return 1
            sink = _io.BytesIO()
            files.append((path, sink, True))
            fds[fd] = sink.write
        if not argv and command.loop is None:
            self.env.update(assignments)
            return 0
        stdin = fds[0] if isinstance(fds[0], bytes) or fds[0] is io.source else b""
        stage = IO(stdin, fds[1], fds[2])
        saved_env = self.env
        if assignments:
            self.env = {**self.env, **assignments}  # `X=1 cmd`: X is set for cmd only
        try:
            if command.loop is not None:
                from .loops import run_loop

                rc = run_loop(self, command.loop, stage)
            else:
                rc = self.dispatch(argv, stage)
        finally:
            self.env = saved_env
        for path, sink, append in files:
            data = sink.getvalue()
            if not data:
                continue
            try:
                self.fs.write_bytes(path, data, append=append)
            except OSError as exc:
                io.err(f"{SH}: {argv[0]}: write error: {exc.strerror}\n".encode())
                rc = 1
        return rc

    def dispatch(self, argv: list[str], io: IO) -> int:
        from . import commands, tools

        # a closed stream is noticed at waits and between commands, not here: `adb exec-in`
        # closes right after sending stdin, and its `cat > file` must still write the file
        name = argv[0]
        if "/" in name:
            return tools.execute_file(self, name, argv, io)
        handler = commands.COMMANDS.get(name)
        if handler is None:
            self.warn(io, f"{name}: inaccessible or not found")
            return 127
        return handler(self, argv, io)

    def expand(self, word: list[tuple[str, str]]) -> list[str]:
        """One word -> fields: variables substituted, unquoted globs matched against the fs."""
        text, pattern, globbing, split = [], [], False, False
        for kind, value in word:
            if kind in ("var", "qvar"):
                value = self.variable(value)
                split = split or kind == "var"
            if kind == "lit" and _GLOB_CHARS & set(value):
                globbing = True
                pattern.append(value)
            else:
                pattern.append("".join(f"[{c}]" if c in _GLOB_CHARS else c for c in value))
            text.append(value)
        joined = "".join(text)
        if globbing:
            matches = self.glob("".join(pattern))
            if matches:
                return matches
        if split and not any(kind in ("q", "qvar") for kind, _ in word):
            return joined.split()
        return [joined]

    def variable(self, name: str) -> str:
        if name == "?":
            return str(self.last_rc)
        if name == "$":
            return str(os.getpid())
        if name == "!":
            return str(getattr(self, "last_job_pid", ""))
        if name == "#" or name.isdigit():
            return "0" if name == "#" else ("sh" if name == "0" else "")
        return self.env.get(name, "")

    def glob(self, pattern: str) -> list[str]:
        absolute = pattern.startswith("/")
        candidates = ["/" if absolute else ""]
        for part in [p for p in pattern.split("/") if p]:
            following = []
            for base in candidates:
                directory = self.fs.normalize(base or ".", self.cwd)
                if not _GLOB_CHARS & set(part):
                    literal = re.sub(r"\[(.)\]", r"\1", part)
                    if self.fs.exists(self.fs.normalize(literal, directory)):
                        following.append(posixpath.join(base, literal) if base else literal)
                    continue
                try:
                    names = self.fs.listdir(directory)
                except OSError:
                    continue
                for name in names:
                    if fnmatchcase(name, part) and (part.startswith(".") or not name.startswith(".")):
                        following.append(posixpath.join(base, name) if base else name)
            candidates = following
        return sorted(candidates)

    def wait(self, seconds: float | None) -> None:
        """Sleep until ``seconds`` pass (None: forever); raise Cancelled/TimedOut if those come first."""
        for flush in reversed(getattr(self, "flushers", ())):
            flush()  # what a loop printed leaves before the wait, as a pipe's reader would see it
        end = None if seconds is None else time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                raise TimedOut()
            if end is not None and now >= end:
                return
            limits = [x for x in (end, self.deadline) if x is not None]
            step = min([0.2] + [limit - now for limit in limits])
            if self.cancel.wait(max(step, 0.001)):
                raise Cancelled()
