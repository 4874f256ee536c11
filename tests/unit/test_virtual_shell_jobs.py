"""The virtual phone's background jobs (``&``, ``$!``, ``wait``), ``while read ... < FILE`` and
multi-file grep: what the memory watcher (harness/devices/toolmem.py) and the cooldown reader
need, run in-process (no adb)."""
from __future__ import annotations

import threading
import time

import pytest

from harness.virtual.shell import IO, Cancelled, Shell
from tests.unit.virtual_shell import phone, run  # noqa: F401 (phone is a fixture)


def test_a_background_job_runs_beside_the_script_and_wait_returns_its_status(phone):
    start = time.monotonic()
    rc, out, _ = run(phone, "sleep 0.4 & sleep 0.4 & echo started; wait; echo all=$?")
    assert (rc, out) == (0, "started\nall=0\n") and time.monotonic() - start < 0.75  # concurrent
    rc, out, _ = run(phone, "sh -c 'sleep 0.1; exit 3' & w=$!; echo $w; wait $w; echo rc=$?; "
                            "wait 12345; echo unknown=$?")
    pid, rest = out.split("\n", 1)
    assert int(pid) > 0 and rest == "rc=3\nunknown=127\n"


def test_a_job_has_a_proc_entry_while_it_runs(phone):
    rc, out, _ = run(phone, "sleep 0.3 & w=$!; while read -r k v r; do echo $k$v; done < /proc/$w/status; "
                            "wait $w; test -e /proc/$w/status && echo still || echo gone")
    assert out.splitlines()[:2] == ["Name:sleep", "State:S"]
    assert out.splitlines()[-1] == "gone"  # reaped at once, as mksh reaps on SIGCHLD


def test_while_read_takes_one_line_per_read(phone):
    assert run(phone, "echo 'x 1' > /data/local/tmp/two; echo y >> /data/local/tmp/two; "
                      "while read -r a b; do echo \"<$a|$b>\"; done < /data/local/tmp/two; "
                      "echo end")[1] == "<x|1>\n<y|>\nend\n"
    # a redirection that fails is said on fd 2 as redirected so far (silent here), rc 1
    assert run(phone, "while read a; do :; done 2>/dev/null < /no/such; echo rc=$?") == (0, "rc=1\n", "")


def test_an_and_or_list_in_the_background_is_refused(phone):
    rc, out, err = run(phone, "cd / && sleep 1 &")
    assert rc == 2 and "not supported by the virtual device" in err and out == ""


def test_closing_the_stream_ends_the_jobs(phone):
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        Shell(phone, cancel).run_script("sleep 30 & w=$!; wait $w", IO(b"", lambda _: None, lambda _: None))
    assert time.monotonic() - start < 2


def test_grep_names_the_file_when_given_several(phone):
    rc, out, _ = run(phone, "grep . /sys/class/power_supply/battery/temp /sys/class/thermal/thermal_zone0/temp")
    assert out == "/sys/class/power_supply/battery/temp:221\n/sys/class/thermal/thermal_zone0/temp:25000\n"
    assert run(phone, "grep . /sys/class/power_supply/battery/temp")[1] == "221\n"
