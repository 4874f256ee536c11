"""The phone-side memory watcher (harness/devices/toolmem.py) run by REAL shells (mksh, Android's
/system/bin/sh, and dash) on this Linux host against a real process: the same script text the
phone gets, with Linux's own /proc, pidof and timeout standing in for toybox's."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from harness.devices.adb_transport import Raw
from harness.devices.base import ExecResult
from harness.devices.toolmem import describe, split_marker, watched_command

SHELLS = [sh for sh in ("mksh", "dash") if shutil.which(sh)]
pytestmark = pytest.mark.skipif(not SHELLS or not shutil.which("pidof") or
                                not shutil.which("timeout"), reason="needs mksh/dash, pidof, timeout")
# allocates MB megabytes, reports its own final VmHWM, holds for HOLD s, exits with RC
TOOL = ("import sys, time\nmb, hold, rc = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])\n"
        "block = bytearray(mb * 2**20)\ntime.sleep(hold)\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('own_vmhwm_kb', hwm, flush=True)\nsys.exit(rc)\n")


@pytest.fixture
def tool(tmp_path):
    (tmp_path / "fake_tool").symlink_to(sys.executable)  # its process name is fake_tool
    (tmp_path / "prog.py").write_text(TOOL)
    return tmp_path


def run(shell: str, folder, args, limit: int | None = 20) -> tuple[ExecResult, float]:
    launch = ([["timeout", "-k", "2", str(limit)]] if limit else []) + \
        [[str(folder / "fake_tool"), str(folder / "prog.py"), *map(str, args)]]
    line = watched_command([Raw("cd"), [str(folder)], Raw("&&")], launch,
                           str(folder / "fake_tool"), limit is not None, scratch_dir=str(folder))
    start = time.monotonic()
    done = subprocess.run([shell, "-c", line], capture_output=True, text=True, timeout=60)
    return ExecResult(done.returncode, done.stdout, done.stderr, 0.0), time.monotonic() - start


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("with_timeout", [True, False])
def test_peak_is_the_tools_own_vmhwm_and_its_status_is_kept(tool, shell, with_timeout):
    result, _ = run(shell, tool, (60, 0.6, 3), 20 if with_timeout else None)
    clean, memory = split_marker(result)
    assert clean.rc == 3 and result.stderr == ""
    own_kb = int(clean.stdout.split()[-1])  # the tool's own last line is intact
    assert clean.stdout == f"own_vmhwm_kb {own_kb}\n"
    assert 60 * 1024 < memory.peak_kb <= own_kb and memory.peak_kb > own_kb * 0.98
    assert memory.pid is not None and not memory.rising
    assert 0 <= memory.staleness_s <= 0.5
    assert describe(memory, "fake_tool")["source"] == f"VmHWM of fake_tool pid {memory.pid} on the device"
    assert not list(tool.glob(".edgelab-pidof-*"))  # the scratch file is removed


@pytest.mark.parametrize("shell", SHELLS)
def test_timeout_still_ends_the_tool_with_124(tool, shell):
    result, took = run(shell, tool, (10, 30, 0), limit=1)
    clean, memory = split_marker(result)
    assert clean.rc == 124 and took < 4
    assert memory.peak_kb and memory.peak_kb > 10 * 1024


@pytest.mark.parametrize("shell", SHELLS)
def test_a_tool_that_never_starts_ends_at_once_without_a_reading(tool, shell):
    (tool / "fake_tool").unlink()
    result, took = run(shell, tool, (1, 0, 0))
    clean, memory = split_marker(result)
    assert clean.rc == 127 and took < 3
    assert memory.peak_kb is None and memory.pid is None
    assert "no VmHWM reading of fake_tool: it was not found" in describe(memory, "fake_tool")["source_note"]


def test_split_marker_restores_the_output_exactly():
    for text in ("avg=1.2\n", "avg=1.2", ""):
        line = f"{text}\nEDGELAB_VMHWM_KB=2048 prev_kb=1024 pid=77 read_at_s=10.00 ended_by_s=10.05\n"
        clean, memory = split_marker(ExecResult(0, line, "", 0.0))
        assert clean.stdout == text
        assert (memory.peak_mb, memory.pid, memory.staleness_s, memory.rising) == (2.0, 77, 0.05, True)
        assert memory.alive_at_s == 10.0  # the phone's clock: run/sampling.py ends the loop there
        assert "lower bound" in describe(memory, "t")["source_note"]
    plain = ExecResult(0, "no watcher here\n", "", 0.0)
    assert split_marker(plain) == (plain, None)
