"""File commands of the virtual phone (toybox behaviour and messages): cat, ls, rm, mkdir, chmod,
touch, cp/mv, stat, sha256sum, head/tail, wc, grep."""
from __future__ import annotations

import hashlib
import posixpath
import re
import stat as st
import time

from .commands import _each_file, _err, _flags, _out, command


@command("cat")
def _cat(shell, argv, io):
    _, operands = _flags(argv, "uvAet")
    return _each_file(shell, io, "cat", operands or ["-"], lambda _, data: io.out(data))


@command("sha256sum", "md5sum", "sha1sum")
def _checksum(shell, argv, io):
    algorithm = {"sha256sum": "sha256", "md5sum": "md5", "sha1sum": "sha1"}[argv[0]]
    _, operands = _flags(argv, "bt")
    return _each_file(shell, io, argv[0], operands or ["-"], lambda operand, data: _out(
        io, f"{hashlib.new(algorithm, data).hexdigest()}  {operand}\n"))


@command("ls")
def _ls(shell, argv, io):
    flags, operands = _flags(argv, "laAd1hRtrSsFnZ")
    rc, fs = 0, shell.fs
    for operand in operands or ["."]:
        path = fs.normalize(operand, shell.cwd)
        try:
            info = fs.stat(path)
        except OSError as exc:
            _err(io, f"ls: {operand}: {exc.strerror}")
            rc = 1
            continue
        if st.S_ISDIR(info.mode) and "d" not in flags:
            names = fs.listdir(path)
            if "a" in flags:
                names = [".", ".."] + names
            elif "A" not in flags:
                names = [n for n in names if not n.startswith(".")]
            if len(operands) > 1:
                _out(io, f"{operand}:\n")
            if "l" in flags:
                _out(io, f"total {len(names) * 8}\n")
            for name in names:
                entry = fs.normalize(name, path)
                _out(io, _long(fs, entry, name) if "l" in flags else name + "\n")
        else:
            _out(io, _long(fs, path, operand) if "l" in flags else operand + "\n")
    return rc


def _long(fs, path: str, shown: str) -> str:
    info = fs.stat(path)
    owner = {0: "root", 2000: "shell"}.get(info.uid, str(info.uid))
    size = 4096 if st.S_ISDIR(info.mode) else info.size
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.mtime))
    return f"{st.filemode(info.mode)} {info.nlink} {owner} {owner} {size} {when} {shown}\n"


@command("rm")
def _rm(shell, argv, io):
    flags, operands = _flags(argv, "frRiv")
    rc = 0
    for operand in operands:
        try:
            shell.fs.remove(shell.fs.normalize(operand, shell.cwd), recursive=bool(flags & {"r", "R"}))
        except OSError as exc:
            if "f" in flags and exc.errno == 2:
                continue
            _err(io, f"rm: {operand}: {exc.strerror}")
            rc = 1
    if not operands and "f" not in flags:
        _err(io, "rm: Needs 1 argument")
        return 1
    return rc


@command("mkdir")
def _mkdir(shell, argv, io):
    args, mode = list(argv[1:]), 0o777
    parents = False
    operands = []
    while args:
        arg = args.pop(0)
        if arg == "-p":
            parents = True
        elif arg == "-m" and args:
            mode = int(args.pop(0), 8)
        elif arg.startswith("-") and set(arg[1:]) <= {"p", "v"}:
            parents = True if "p" in arg else parents
        else:
            operands.append(arg)
    rc = 0
    for operand in operands:
        path = shell.fs.normalize(operand, shell.cwd)
        try:
            if parents:
                shell.fs.make_dirs(path, mode)
            else:
                shell.fs.mkdir(path, mode)
        except OSError as exc:
            _err(io, f"mkdir: '{operand}': {exc.strerror}")
            rc = 1
    return rc


@command("chmod")
def _chmod(shell, argv, io):
    _, operands = _flags(argv, "Rfv")
    if len(operands) < 2:
        _err(io, "chmod: Needs 2 arguments")
        return 1
    rc = 0
    for operand in operands[1:]:
        path = shell.fs.normalize(operand, shell.cwd)
        try:
            mode = _mode(operands[0], st.S_IMODE(shell.fs.stat(path).mode))
            shell.fs.chmod(path, mode)
        except ValueError:
            _err(io, f"chmod: bad mode '{operands[0]}'")
            return 1
        except OSError as exc:
            _err(io, f"chmod: {operand}: {exc.strerror}")
            rc = 1
    return rc


def _mode(text: str, current: int) -> int:
    if re.fullmatch(r"[0-7]{1,4}", text):
        return int(text, 8)
    mode = current
    for clause in text.split(","):
        found = re.fullmatch(r"([ugoa]*)([-+=])([rwxst]*)", clause)
        if not found:
            raise ValueError(text)
        who = found.group(1) or "a"
        bits = sum({"r": 4, "w": 2, "x": 1}.get(p, 0) for p in found.group(3))
        shifts = {"u": 6, "g": 3, "o": 0}
        mask = sum(bits << shifts[w] for w in set(who.replace("a", "ugo")))
        if found.group(2) == "+":
            mode |= mask
        elif found.group(2) == "-":
            mode &= ~mask
        else:
            keep = sum({"u": 0o700, "g": 0o070, "o": 0o007}[w] for w in set(who.replace("a", "ugo")))
            mode = (mode & ~keep) | mask
    return mode


@command("touch")
def _touch(shell, argv, io):
    _, operands = _flags(argv, "acm")
    for operand in operands:
        path = shell.fs.normalize(operand, shell.cwd)
        try:
            if shell.fs.exists(path):
                shell.fs.set_mtime(path, int(time.time()))
            else:
                shell.fs.write_bytes(path, b"")
        except OSError as exc:
            _err(io, f"touch: '{operand}': {exc.strerror}")
            return 1
    return 0


@command("cp", "mv")
def _copy(shell, argv, io):
    flags, operands = _flags(argv, "fpRrnv")
    if len(operands) != 2:
        _err(io, f"{argv[0]}: Needs 2 arguments")
        return 1
    fs = shell.fs
    source, target = (fs.normalize(p, shell.cwd) for p in operands)
    try:
        if fs.is_dir(target):
            target = posixpath.join(target, posixpath.basename(source))
        data = fs.read_bytes(source)
        fs.write_bytes(target, data, mode=st.S_IMODE(fs.stat(source).mode))
        fs.chmod(target, st.S_IMODE(fs.stat(source).mode))
        if argv[0] == "mv":
            fs.remove(source)
    except OSError as exc:
        _err(io, f"{argv[0]}: {exc.filename or operands[0]}: {exc.strerror}")
        return 1
    return 0


@command("stat")
def _stat(shell, argv, io):
    args = list(argv[1:])
    fmt = None
    if args[:1] in (["-c"], ["--format"]) and len(args) > 1:
        fmt = args[1]
        args = args[2:]
    rc = 0
    for operand in args:
        try:
            info = shell.fs.stat(shell.fs.normalize(operand, shell.cwd))
        except OSError as exc:
            _err(io, f"stat: '{operand}': {exc.strerror}")
            rc = 1
            continue
        kind = "directory" if st.S_ISDIR(info.mode) else "regular file"
        values = {"s": str(info.size), "a": f"{st.S_IMODE(info.mode):o}", "A": st.filemode(info.mode),
                  "n": operand, "Y": str(info.mtime), "u": str(info.uid), "g": str(info.gid),
                  "F": kind, "U": "root" if info.uid == 0 else "shell", "%": "%"}
        if fmt is None:
            fmt = "  File: %n\n  Size: %s\t %F\nAccess: (0%a/%A)\tUid: (%u)\tGid: (%g)\nModify: %Y"
        _out(io, re.sub(r"%(.)", lambda m: values.get(m.group(1), m.group(0)), fmt) + "\n")
    return rc


@command("head", "tail")
def _head_tail(shell, argv, io):
    args, count, operands = list(argv[1:]), 10, []
    while args:
        arg = args.pop(0)
        if arg == "-n" and args:
            count = int(args.pop(0))
        elif re.fullmatch(r"-n?\d+", arg):
            count = int(arg.lstrip("-n"))
        else:
            operands.append(arg)

    def show(_, data: bytes) -> None:
        lines = data.splitlines(keepends=True)
        io.out(b"".join(lines[:count] if argv[0] == "head" else lines[-count:] if count else []))
    return _each_file(shell, io, argv[0], operands or ["-"], show)


@command("wc")
def _wc(shell, argv, io):
    flags, operands = _flags(argv, "lwc")

    def count(name, data: bytes) -> None:
        values = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        shown = [str(values[k]) for k in "lwc" if k in flags or not flags]
        _out(io, " ".join(shown) + ("" if name == "-" else f" {name}") + "\n")
    return _each_file(shell, io, "wc", operands or ["-"], count)


@command("grep")
def _grep(shell, argv, io):
    flags, operands = _flags(argv, "EFivqcwoHh")
    if not operands:
        _err(io, "grep: Needs 1 argument")
        return 2
    pattern = re.escape(operands[0]) if "F" in flags else operands[0]
    if "w" in flags:
        pattern = rf"\b(?:{pattern})\b"
    try:
        matcher = re.compile(pattern, re.I if "i" in flags else 0)
    except re.error:
        _err(io, f"grep: bad regex '{operands[0]}'")
        return 2
    found = []
    # toybox names the file before each match when there are several (-H always, -h never)
    named = "H" in flags or (len(operands) > 2 and "h" not in flags)

    def scan(name, data: bytes) -> None:
        for line in data.decode(errors="replace").splitlines():
            if bool(matcher.search(line)) != ("v" in flags):
                found.append(f"{name}:{line}" if named else line)
    rc = _each_file(shell, io, "grep", operands[1:] or ["-"], scan)
    if "c" in flags:
        _out(io, f"{len(found)}\n")
    elif "q" not in flags:
        _out(io, "".join(line + "\n" for line in found))
    return 2 if rc else (0 if found else 1)
