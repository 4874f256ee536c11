"""Which adb errors say the device itself is gone (devices/link.py): those get one bounded
reconnect, then quarantine; a failing command must not."""
from __future__ import annotations

import pytest

from harness.devices.link import is_vanished


@pytest.mark.parametrize("exc", [
    EOFError("Expected 5 bytes, got 0"),  # adbutils, when the server closes the stream mid-call
    OSError("device offline"),
    OSError("device 'R5CT01' not found"),
    ConnectionResetError("[Errno 104] Connection reset by peer"),
])
def test_vanished(exc):
    assert is_vanished(exc)


@pytest.mark.parametrize("exc", [
    OSError("/system/bin/sh: benchmark_model: not executable: 64-bit ELF file"),
    OSError("Permission denied"),
])
def test_not_vanished(exc):
    assert not is_vanished(exc)
