"""The mksh/toybox commands of the virtual phone: registry, helpers and the shell's own commands.

Each command is ``fn(shell, argv, io) -> rc``. Texts follow toybox ("cat: X: No such file or
directory") and mksh ("/system/bin/sh: cd: ..."); ``pm``, ``am`` and the like are deliberately
absent, so they fail with mksh's "inaccessible or not found" (rc 127). File commands live in
filecmds.py, device-information commands in syscmds.py, ``cmd power`` in powercmd.py.
"""
from __future__ import annotations

import re
import stat as st
import time

from .shell import IO, SH, ShellExit, TimedOut

COMMANDS: dict = {}


def command(*names):
    def register(fn):
        for name in names:
            COMMANDS[name] = fn
        return fn
    return register


def _err(io: IO, text: str) -> None:
    io.err((text + "\n").encode())


def _out(io: IO, text: str) -> None:
    io.out(text.encode())


def _flags(argv: list[str], known: str) -> tuple[set[str], list[str]]:
    """Split leading single-letter flags (``-rf``) from operands."""
    flags, rest = set(), list(argv[1:])
    while rest and rest[0].startswith("-") and len(rest[0]) > 1 and rest[0] != "--":
        if not set(rest[0][1:]) <= set(known):
            break
        flags |= set(rest.pop(0)[1:])
    if rest[:1] == ["--"]:
        rest.pop(0)
    return flags, rest


def _each_file(shell, io: IO, name: str, operands: list[str], use) -> int:
    """Call ``use(operand, bytes)`` per readable file; report the others like toybox does."""
    rc = 0
    for operand in operands:
        if operand == "-":
            use(operand, io.stdin)
            continue
        try:
            data = shell.fs.read_bytes(shell.fs.normalize(operand, shell.cwd))
        except OSError as exc:
            _err(io, f"{name}: {operand}: {exc.strerror}")
            rc = 1
            continue
        use(operand, data)
    return rc


@command("true", ":")
def _true(shell, argv, io):
    return 0


@command("false")
def _false(shell, argv, io):
    return 1


@command("echo")
def _echo(shell, argv, io):
    args, newline = argv[1:], True
    while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        newline = newline and "n" not in args.pop(0)
    _out(io, " ".join(args) + ("\n" if newline else ""))
    return 0


@command("pwd")
def _pwd(shell, argv, io):
    _out(io, shell.cwd + "\n")
    return 0


@command("cd")
def _cd(shell, argv, io):
    target = shell.fs.normalize(argv[1] if len(argv) > 1 else "/", shell.cwd)
    if not shell.fs.is_dir(target):
        reason = "Not a directory" if shell.fs.exists(target) else "No such file or directory"
        _err(io, f"{SH}: cd: {argv[1]}: {reason}")
        return 1
    shell.cwd = target
    return 0


@command("export")
def _export(shell, argv, io):
    for arg in argv[1:]:
        name, sep, value = arg.partition("=")
        if sep:
            shell.env[name] = value
    return 0


@command("exit")
def _exit(shell, argv, io):
    raise ShellExit(int(argv[1]) & 0xFF if len(argv) > 1 and argv[1].isdigit() else shell.last_rc)


@command("read")
def _read(shell, argv, io):
    # one line of stdin into NAMEs (the last takes the rest); the sampler script reads sysfs
    # files with `read -r v < FILE` because a builtin costs the phone no fork
    names = [a for a in argv[1:] if a != "-r"] or ["REPLY"]
    if hasattr(io.source, "readline"):  # `while read ...; done < FILE`: the next line (loops.py)
        line, newline = io.source.readline()
    else:
        line, newline, _ = io.stdin.partition(b"\n")
    fields = line.decode(errors="replace").split(None, len(names) - 1)
    for number, name in enumerate(names):
        shell.env[name] = fields[number] if number < len(fields) else ""
    return 0 if newline else 1  # mksh: a line without its newline still sets, but returns 1


@command("sleep")
def _sleep(shell, argv, io):
    shell.wait(_duration(argv[1]) if len(argv) > 1 else 0)
    return 0


def _duration(text: str) -> float:
    found = re.fullmatch(r"(\d+(?:\.\d*)?)([smhd]?)", text)
    if not found:
        raise ValueError(text)
    return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]


@command("timeout")
def _timeout(shell, argv, io):
    args = list(argv[1:])
    while args and args[0] in ("-s", "-k"):
        args = args[2:]
    while args and args[0] in ("-v", "--preserve-status", "--foreground"):
        args.pop(0)
    if len(args) < 2:
        _err(io, "timeout: Needs 2 arguments")
        return 125
    try:
        seconds = _duration(args[0])
    except ValueError:
        _err(io, f"timeout: bad duration '{args[0]}'")
        return 125
    inner = shell.child()
    deadline = time.monotonic() + seconds
    inner.deadline = deadline if shell.deadline is None else min(deadline, shell.deadline)
    try:
        return inner.dispatch(args[1:], io)
    except TimedOut:
        if time.monotonic() >= deadline:
            return 124  # toybox timeout's status when the command ran out of time
        raise


@command("taskset")
def _taskset(shell, argv, io):
    # CPU affinity cannot be honoured on the host; the command runs unpinned (documented gap)
    if len(argv) < 3 or argv[1] == "-p":
        _err(io, "taskset: virtual device cannot query or change the affinity of running tasks")
        return 1
    return shell.dispatch(argv[2:], io)


@command("exec", "nice", "nohup")
def _exec(shell, argv, io):
    args = argv[1:]
    if argv[0] == "nice" and args[:1] == ["-n"]:
        args = args[2:]
    return shell.dispatch(args, io) if args else 0


@command("sh")
def _sh(shell, argv, io):
    inner = shell.child()
    if len(argv) > 2 and argv[1] == "-c":
        return inner.run_script(argv[2], io)
    if len(argv) > 1:
        path = shell.fs.normalize(argv[1], shell.cwd)
        try:
            return inner.run_script(shell.fs.read_text(path), io)
        except OSError as exc:
            _err(io, f"{SH}: {argv[1]}: {exc.strerror}")
            return 127
    return inner.run_script(io.stdin.decode(errors="replace"), io)


@command("which", "command")
def _which(shell, argv, io):
    names = argv[2:] if argv[0] == "command" and argv[1:2] == ["-v"] else argv[1:]
    if argv[0] == "command" and argv[1:2] != ["-v"]:
        return shell.dispatch(argv[1:], io) if argv[1:] else 0
    rc = 0
    for name in names:
        if name in COMMANDS:
            builtin = name in ("cd", "exit", "export", "exec", "read")  # mksh builtins: no path
            _out(io, (name if builtin else f"/system/bin/{name}") + "\n")
        elif "/" in name and shell.fs.is_file(shell.fs.normalize(name, shell.cwd)):
            _out(io, name + "\n")
        else:
            rc = 1
    return rc


@command("test", "[")
def _test(shell, argv, io):
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            _err(io, "[: missing ]")
            return 2
        args = args[:-1]
    negate = bool(args) and args[0] == "!"
    result = _evaluate(shell, args[1:] if negate else args)
    return 0 if result != negate else 1


def _evaluate(shell, args: list[str]) -> bool:
    fs = shell.fs
    if len(args) == 2 and args[0] in ("-e", "-f", "-d", "-x", "-s", "-r", "-w", "-L"):
        path = fs.normalize(args[1], shell.cwd)
        try:
            info = fs.stat(path)
        except OSError:
            return False
        return {"-e": True, "-f": st.S_ISREG(info.mode), "-d": st.S_ISDIR(info.mode),
                "-x": bool(info.mode & 0o111), "-s": info.size > 0, "-r": True,
                "-w": True, "-L": False}[args[0]]
    if len(args) == 2 and args[0] in ("-z", "-n"):
        return (args[1] == "") == (args[0] == "-z")
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-gt": int.__gt__, "-lt": int.__lt__,
                   "-ge": int.__ge__, "-le": int.__le__}
        if op in numeric:
            try:
                return numeric[op](int(left), int(right))
            except ValueError:
                return False
    return len(args) == 1 and args[0] != ""


from . import filecmds, jobs, loops, powercmd, proccmds, syscmds  # noqa: E402,F401  (they register)
