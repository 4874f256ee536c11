"""Background jobs in the virtual shell: ``CMD &``, ``$!`` and ``wait [PID...]``.

Only what the harness's memory watcher needs (harness/devices/toolmem.py runs the tool in the
background and reads its ``/proc/<pid>/status`` until it ends): a pipeline followed by ``&`` runs
in a thread of its own, concurrently with the rest of the script, as mksh forks it. Its pid is
the host thread id of that thread (a real, live id of the host's pid space, so it never equals a
running tool's pid, which is the host pid of the process running the engine). While it runs,
``/proc/<pid>/status`` exists with ``State: S`` (and the tool it starts shows it as ``PPid``);
when it ends the entry goes at once, as mksh reaps its children on SIGCHLD. ``wait PID`` returns
the job's exit status (127 for a pid that is not a job of this shell), ``wait`` alone waits for
all and returns 0.

What is not emulated: job control (``jobs``, ``fg``, ``%1``), ``CMD1 && CMD2 &`` (refused by the
parser rather than run half in the foreground), and a job outliving its adb stream: it shares the
stream's cancel event, so closing the stream ends it (a phone's job would die at its next write).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .commands import command
from .physics import SHELL_PID
from .shell import Cancelled, ShellExit, TimedOut

_COMM_LEN = 15
KILLED_RC = 128 + 9  # the status a job killed by SIGKILL reports


@dataclass
class Job:
    name: str
    pid: int = 0
    rc: int | None = None
    done: threading.Event = field(default_factory=threading.Event)


def start_job(shell, pipeline: list, io) -> int:
    """Run ``pipeline`` in the background; ``$!`` is its pid. Starting it succeeds (0)."""
    child = shell.child()
    words = pipeline[0].words
    first = shell.expand(words[0])[0] if words else "sh"
    job = Job(first.rsplit("/", 1)[-1] or "sh")
    ready = threading.Event()

    def run() -> None:
        job.pid = child.pid = threading.get_native_id()
        path = f"/proc/{job.pid}/status"
        shell.fs._put(path, _status(job, getattr(shell, "pid", None)))
        ready.set()
        try:
            job.rc = child.run_pipeline(pipeline, io)
        except ShellExit as exc:
            job.rc = exc.rc
        except (Cancelled, TimedOut):
            job.rc = KILLED_RC
        except Exception:  # the stream went away mid-write: the job dies as a phone's would
            job.rc = KILLED_RC
        finally:
            shell.device.physics.forget_proc(job.pid)
            job.done.set()

    threading.Thread(target=run, name=f"virtual-job-{job.name}", daemon=True).start()
    ready.wait()
    if not hasattr(shell, "jobs"):
        shell.jobs = {}
    shell.jobs[job.pid] = job
    shell.last_job_pid = job.pid
    return 0


def _status(job: Job, parent: int | None) -> str:
    return (f"Name:\t{job.name[:_COMM_LEN]}\nState:\tS (sleeping)\nTgid:\t{job.pid}\n"
            f"Pid:\t{job.pid}\nPPid:\t{parent or SHELL_PID}\n")


@command("wait")
def _wait(shell, argv, io):
    jobs = getattr(shell, "jobs", {})
    targets = argv[1:]
    if not targets:
        for job in list(jobs.values()):
            _join(shell, job)
        return 0
    rc = 127
    for target in targets:
        job = jobs.get(int(target)) if target.isdigit() else None
        if job is None:
            rc = 127  # mksh: not a child of this shell, silently
            continue
        rc = _join(shell, job)
    return rc


def _join(shell, job: Job) -> int:
    while not job.done.is_set():
        shell.wait(0.02)  # a closed stream or a `timeout` ends the wait, as signals would
    return job.rc if job.rc is not None else KILLED_RC
