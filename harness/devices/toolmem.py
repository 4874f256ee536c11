"""Peak memory of a benchmark tool on a phone: the kernel's VmHWM of its pid, read on the device.

Why VmHWM and how it is read. ``/proc/<pid>/status`` ``VmHWM`` is the kernel's high-water mark
of the process's resident set: it only ever rises, so the last reading taken while the process
still lives *is* its peak up to that moment, however rarely it is read. What cannot be read is
the value at the instant of exit: once the process exits its memory is released and the Vm*
lines vanish (a zombie has none), and `timeout`, its parent, keeps the exit rusage to itself.
So the tool's command line is wrapped, on the same adb stream, in a few lines of plain sh:

    cd DIR; export LD_LIBRARY_PATH=DIR; timeout -k 2 N ./tool ARGS & el_w=$!
    (find the tool: the pid `pidof TOOL` names whose PPid is $el_w, i.e. timeout's child)
    (while it lives: read VmHWM from its status with `read` builtins, note /proc/uptime, sleep)
    echo; echo "EDGELAB_VMHWM_KB=<kB> prev_kb=<kB> pid=<pid> read_at_s=<up> ended_by_s=<up>"
    wait $el_w          # the script's status is the tool's (or timeout's 124), for v1 shells too

A reading costs the phone one `sleep` fork and nothing else (the status file is read with
builtins). It comes every ``FAST_POLL_S`` while VmHWM is still rising (loading, first runs) and
every ``POLL_S`` once it held still over one interval (the plateau of the timed runs), so the
polls are dense exactly where a last reading could miss growth. The peak is exact unless the
resident set rose above every earlier reading within the tool's last interval; the record keeps
that interval as measured (``ended_by_s - read_at_s``) and says when VmHWM was still rising
between the last two readings (then the figure is a lower bound). Devices without `timeout`
(Android < 6) run the tool itself in the background, and ``$!`` is its pid.

Why not a second adb stream watching the tool: it would need the tool's pid (only `pidof` by
name, not the exact child of this run), a host thread per run, and its last reading would race
the host's closing of the stream; the wrapper reads on the device until the tool is gone and
returns with the tool's own exit status. The script keeps to what mksh, dash and the virtual
phone's shell agree on (``while``/``for``, ``read -r``, ``[``, ``&``, ``$!``, ``wait``); a unit
test runs it under real mksh and dash against real processes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .adb_transport import Raw, compose
from .base import ExecResult

MARKER = "EDGELAB_VMHWM_KB"
POLL_S = 0.2        # between readings once VmHWM held still
FAST_POLL_S = 0.05  # between readings while it rises
SCRATCH_DIR = "/data/local/tmp"  # writable by adb's shell user on every Android version
_LINE = re.compile(rf"\n?{MARKER}=(\d*) prev_kb=(\d*) pid=(\d*) read_at_s=([\d.]*) "
                   rf"ended_by_s=([\d.]*)\n?")

# the status-file reader: NAME of the line wanted -> $el_v (builtins only: no fork per poll)
_FIELD = ('el_v=; while read -r el_k el_x el_r; do [ "$el_k" = {key}: ] && el_v=$el_x; done '
          '2>/dev/null < /proc/{pid}/status; ')


@dataclass(frozen=True)
class ToolMemory:
    peak_kb: int | None       # VmHWM at the last reading, kB
    pid: int | None           # the tool's pid on the device
    staleness_s: float | None  # how long before the tool was seen gone that reading was taken
    rising: bool = False       # VmHWM still rose between the last two readings: a lower bound
    alive_at_s: float | None = None  # the phone's uptime at that last reading: the tool still ran

    @property
    def peak_mb(self) -> float | None:
        return None if self.peak_kb is None else round(self.peak_kb / 1024, 3)


def watched_command(setup: list, launch: list, tool_path: str, has_timeout: bool,
                    scratch_dir: str = SCRATCH_DIR) -> str:
    """One command line: ``setup`` (cd/export parts joined by ``&&`` as run_killable builds
    them), then ``launch`` (``[timeout argv, tool argv]`` or ``[tool argv]``) in the background
    with the watcher beside it. Data (the tool's name) reaches the line only as a quoted argv
    list; everything in Raw is fixed text written here (``scratch_dir`` included: a constant,
    replaced only by tests that run the script on a Linux host)."""
    steps = [Raw(";") if part == "&&" else part for part in setup]  # the job must be one command
    steps += [*launch, Raw("& el_w=$!; el_p=; el_s=R; el_h=; el_t=;")]
    if has_timeout:  # the tool is timeout's child: the pid of its name whose PPid is $el_w
        steps += [Raw(_FIND_HEAD), [tool_path.rsplit("/", 1)[-1]], Raw(_find_tail(scratch_dir))]
    else:  # no timeout: the background job is the tool itself
        steps.append(Raw("el_p=$el_w;"))
    steps.append(Raw(_WATCH))
    return compose(*steps)


# until the tool is found or timeout's job has ended (its status gone, or a zombie in shells
# that reap late): State of $el_w, then pidof's candidates checked for PPid = $el_w
_FIND_HEAD = ('while [ -z "$el_p" ] && [ -n "$el_s" ] && [ "$el_s" != Z ]; do '
              + _FIELD.format(key="State", pid="$el_w") + 'el_s=$el_v; pidof')


def _find_tail(scratch_dir: str) -> str:
    listed = f"{scratch_dir}/.edgelab-pidof-$el_w"  # pidof's answer, read back with `read`
    return (f'2>/dev/null > {listed}; el_c=; read -r el_c 2>/dev/null < {listed}; '
            'for el_q in $el_c; do ' + _FIELD.format(key="PPid", pid="$el_q")
            + '[ "$el_v" = "$el_w" ] && el_p=$el_q; done; '
            '[ -n "$el_p" ] || sleep 0.02 2>/dev/null || sleep 1; done; '
            f'rm -f {listed} 2>/dev/null;')



# while the tool lives: its VmHWM and when it was read; then the marker and the job's status
# (toolbox sleep on Android <= 5 takes whole seconds only: `|| sleep 1`)
_WATCH = (f'el_g=; el_d={FAST_POLL_S}; while [ -n "$el_p" ]; do '
          + _FIELD.format(key="VmHWM", pid="$el_p") + '[ -n "$el_v" ] || break; '
          f'[ "$el_v" = "$el_h" ] && el_d={POLL_S} || el_d={FAST_POLL_S}; el_g=$el_h; '
          'el_h=$el_v; read -r el_t el_r < /proc/uptime; sleep $el_d 2>/dev/null || sleep 1; '
          'done; read -r el_e el_r < /proc/uptime; echo; '
          f'echo "{MARKER}=$el_h prev_kb=$el_g pid=$el_p read_at_s=$el_t ended_by_s=$el_e"; '
          'wait $el_w')


def split_marker(result: ExecResult) -> tuple[ExecResult, ToolMemory | None]:
    """The tool's own output without the watcher's line, and what the line said (None: no line,
    e.g. the device never ran the wrapper)."""
    found = None
    for found in _LINE.finditer(result.stdout):
        pass  # the last one: a tool that printed the marker text itself cannot fake ours
    if found is None:
        return result, None
    stdout = result.stdout[:found.start()] + result.stdout[found.end():]
    kb, prev, pid, read_at, ended = found.groups()
    stale = round(float(ended) - float(read_at), 3) if read_at and ended else None
    rising = bool(kb and prev and int(kb) > int(prev))
    memory = ToolMemory(int(kb) if kb else None, int(pid) if pid else None, stale, rising,
                        float(read_at) if read_at else None)
    return ExecResult(result.rc, stdout, result.stderr, result.duration_s), memory


def describe(memory: ToolMemory | None, tool: str) -> dict:
    """What a record's ``memory`` says about the device-side reading."""
    if memory is None:
        return {"source_note": f"no VmHWM reading of {tool}: the device did not run the watcher"}
    if memory.peak_kb is None:
        why = ("it was not found (no pidof on this device?)" if memory.pid is None else
               "it ended before its status could be read")
        return {"source_note": f"no VmHWM reading of {tool}: {why}"}
    out = {"source": f"VmHWM of {tool} pid {memory.pid} on the device"}
    if memory.staleness_s is not None:
        out["vmhwm_read_before_exit_s"] = memory.staleness_s
    if memory.rising:
        out["source_note"] = ("VmHWM still rose between the last two readings: the peak may be "
                              "higher than this lower bound")
    return out
