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


def test_a_vanished_phone_is_awaited_for_the_reboot_wait_and_the_wait_is_said(monkeypatch):
    """The reappearance wait is --reboot-wait, not the short-call bound; each adb call inside it
    keeps the short bound; the terminal hears whom the worker waits for."""
    from harness.devices import link
    from harness.errors import InfraError

    waits, said = [], []
    monkeypatch.setattr(link, "listed_state", lambda address, serial, bound_s: None)
    monkeypatch.setattr(link, "reconnect_offline",
                        lambda address, serial, wait_s, call_s: waits.append((wait_s, call_s)))
    monkeypatch.setattr(link, "announce", said.append)
    guard = link.LinkGuard("R5CT01", ("127.0.0.1", 5037), 10.0, reappear_s=90.0)
    error = guard.on_vanished(InfraError("device R5CT01: adb shell: device offline"))
    assert waits == [(90.0, 10.0)]
    assert isinstance(error, link.DeviceQuarantined)
    assert "did not bring it back within 90 s (--reboot-wait)" in str(error)
    assert said == ["R5CT01 dropped off adb; waiting for it to come back (at most 90 s, "
                    "--reboot-wait; the other phones go on)"]


def test_silence_after_a_drop_names_the_link_as_well_as_the_phone(monkeypatch):
    """A phone that came back and then goes silent: the hang reason says its link dropped
    before (a link losing packets is silent too; adb cannot tell the two apart)."""
    from harness.devices import link
    from harness.devices.hang import DeviceHung, HangGuard
    from harness.errors import InfraError

    monkeypatch.setattr(link, "listed_state", lambda address, serial, bound_s: None)
    monkeypatch.setattr(link, "reconnect_offline", lambda *a: "`adb reconnect offline`")
    monkeypatch.setattr(link, "wait_for_boot", lambda *a: True)
    guard = link.LinkGuard("R5CT01", ("127.0.0.1", 5037), 10.0, reappear_s=30.0)
    assert guard.unreliable() == ""
    back = guard.on_vanished(InfraError("device R5CT01: adb shell: closed"))
    assert str(back).startswith("device R5CT01: adb shell: closed: the adb link to the device "
                                "dropped; `adb reconnect offline` brought it back (booted)")
    hangs = HangGuard("R5CT01")
    tripped = hangs.trip("echo", 10.0, note=guard.unreliable())
    assert "no answer within 10 s (its adb link already dropped at " in str(tripped)
    with pytest.raises(DeviceHung, match="a link that loses packets"):
        hangs.check("getprop")
