"""``ps`` and ``pidof`` on the virtual phone: init, adbd and the tools running right now.

A tool's pid is the host pid of the process that runs its engine, so ``/proc/<pid>/status``
(physics.py) holds that process's real VmHWM/VmRSS under the tool's name. The system processes
are fixed placeholders (a phone has hundreds; the harness only ever looks for its tools). Columns
follow toybox ps's default (USER PID PPID VSZ RSS WCHAN ADDR S NAME); widths are approximate.
"""
from __future__ import annotations

import re
from pathlib import Path

from .commands import _err, _flags, _out, command
from .physics import SHELL_PID

_SYSTEM = ((1, 0, "root", "init"), (612, 1, "root", "adbd"))


def _processes(shell) -> list[tuple[int, int, str, str, int, int]]:
    """(pid, ppid, user, name, vsz_kb, rss_kb) for the system placeholders and running tools."""
    rows = [(pid, ppid, user, name, 0, 0) for pid, ppid, user, name in _SYSTEM]
    user = "root" if shell.device.profile.root else "shell"
    with shell.device.physics._lock:
        tools = list(shell.device.physics.tools.values())
    for tool in tools:
        vsz, rss = _host_memory_kb(tool.pid)
        rows.append((tool.pid, tool.ppid or SHELL_PID, user, tool.name[:15], vsz, rss))
    return rows


def _host_memory_kb(pid: int) -> tuple[int, int]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = dict(re.findall(r"^(VmSize|VmRSS):\s+(\d+) kB", status, re.M))
    return int(values.get("VmSize", 0)), int(values.get("VmRSS", 0))


@command("ps")
def _ps(shell, argv, io):
    # -A/-e: every process (toybox lists only this session's without them; the harness asks
    # with -A, and a tool started from another adb stream is not in this session anyway)
    flags, operands = _flags(argv, "AeflTwZ")
    _out(io, f"{'USER':<10}{'PID':>6}{'PPID':>6}{'VSZ':>9}{'RSS':>7} {'WCHAN':<16}{'ADDR':>5} S NAME\n")
    for pid, ppid, user, name, vsz, rss in _processes(shell):
        if operands and name not in operands and str(pid) not in operands:
            continue
        state = "R" if pid not in (1, 612) else "S"
        _out(io, f"{user:<10}{pid:>6}{ppid:>6}{vsz:>9}{rss:>7} {'0':<16}{'0':>5} {state} {name}\n")
    return 0


@command("pidof")
def _pidof(shell, argv, io):
    flags, names = _flags(argv, "s")
    if not names:
        _err(io, "pidof: Needs 1 argument")
        return 1
    found = [pid for pid, _, _, name, _, _ in _processes(shell)
             if name in {n.rsplit("/", 1)[-1][:15] for n in names}]
    if "s" in flags:
        found = found[:1]
    if not found:
        return 1
    _out(io, " ".join(str(pid) for pid in found) + "\n")
    return 0
