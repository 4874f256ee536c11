"""The virtual phone's shell loops, ``read`` and ``break``, run in-process (no adb)."""
from __future__ import annotations

import threading
import time

import pytest

from harness.virtual.shell import IO, Cancelled, Shell
from tests.unit.virtual_shell import phone, run  # noqa: F401 (phone is a fixture)


def test_for_while_until_and_nesting(phone):
    assert run(phone, "for k in 1 2 3; do echo $k; done") == (0, "1\n2\n3\n", "")
    assert run(phone, "for a in x y\ndo\n  for b in 1 2; do echo $a$b; done\ndone | grep -c .") == \
        (0, "4\n", "")
    assert run(phone, "while false; do echo no; done; echo $?") == (0, "0\n", "")
    assert run(phone, "until true; do echo no; done; echo after")[1] == "after\n"


def test_read_a_sysfs_file_like_the_sampler(phone):
    cur = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"
    assert run(phone, f'read -r v 2>/dev/null < {cur} && echo "f0 $v"')[1] == "f0 1197000\n"
    assert run(phone, 'read -r v < /no/such && echo "x $v"')[0] == 1  # not read, not echoed


def test_break_and_continue(phone):
    text = "for a in 1 2 3; do for b in x y; do [ $b = y ] && continue 2; echo $a$b; done; done"
    assert run(phone, text)[1] == "1x\n2x\n3x\n"
    assert run(phone, "while :; do echo once; break; done; echo rc=$?")[1] == "once\nrc=0\n"
    assert run(phone, "break; echo after") == (0, "after\n", "/system/bin/sh: break: can't break\n")


@pytest.mark.parametrize("text, message", [
    ("if true; then echo; fi", "'if' is not supported"),
    ("while true; echo x; done", "unexpected 'done'"),
    ("while true; echo x", "'while' without 'do'"),
    ("for x in a; do echo x", "'for' without 'done'"),
    ("done", "unexpected 'done'"),
    ("for 1x in a; do echo; done", "'for' needs a variable name"),
    ("for x in a; do echo; done extra", "unexpected word after 'done'"),
])
def test_what_is_refused_is_a_syntax_error(phone, text, message):
    rc, out, err = run(phone, text)
    assert rc == 2 and message in err and out == ""


def test_reserved_words_as_arguments_are_plain_words(phone):
    assert run(phone, "echo do done while") == (0, "do done while\n", "")


def test_an_endless_loop_stops_when_its_stream_closes(phone):
    cancel = threading.Event()
    outcome = []

    def loop():
        try:
            run(phone, "while :; do echo tick; sleep 0.01; done", cancel)
        except Cancelled:
            outcome.append("cancelled")
    worker = threading.Thread(target=loop)
    worker.start()
    time.sleep(0.2)
    cancel.set()  # what the adb stream's close does (services.py passes stream.closed)
    worker.join(timeout=2)
    assert not worker.is_alive() and outcome == ["cancelled"]
    busy = threading.Event()  # no sleep in the body at all: still stops
    busy_worker = threading.Thread(target=lambda: pytest.raises(Cancelled, run, phone,
                                                                "while :; do :; done", busy))
    busy_worker.start()
    busy.set()
    busy_worker.join(timeout=2)
    assert not busy_worker.is_alive()


def test_loop_output_leaves_in_one_piece_per_round(phone):
    writes = []
    Shell(phone, threading.Event()).run_script(
        "for k in 1 2; do echo a$k; echo b$k; sleep 0; done", IO(b"", writes.append, writes.append))
    assert writes == [b"a1\nb1\n", b"a2\nb2\n"]
