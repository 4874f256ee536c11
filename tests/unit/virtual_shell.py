"""The virtual phone's shell run in-process (no adb): a ``phone`` fixture and ``run(phone, text)``
-> (rc, stdout, stderr), shared by the shell tests."""
from __future__ import annotations

import threading

import pytest

from harness.virtual.device import DeviceState, Faults
from harness.virtual.profile import load_profile
from harness.virtual.shell import IO, Shell


@pytest.fixture(scope="module")
def phone():
    state = DeviceState(load_profile("pixel8"), Faults(), "SERIAL", lambda: None)
    yield state
    state.fs.close()


def run(phone, text: str, cancel: threading.Event | None = None):
    out, err = [], []
    rc = Shell(phone, cancel or threading.Event()).run_script(text, IO(b"", out.append, err.append))
    return rc, b"".join(out).decode(), b"".join(err).decode()
