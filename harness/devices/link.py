"""A phone that dropped off adb mid-run: one bounded reconnect attempt, then quarantine.

Farms lose phones: a cable, a USB hub, Wi-Fi adb, a phone that rebooted. When a call finds the
device gone (adb: ``device offline``, ``device 'X' not found``, a closed connection), edgelab asks
the phone's adb server once to ``reconnect offline`` (adb's own ``adb reconnect offline``; never a
server restart, which would drop every other phone on that server) and waits for the phone to be
back in state ``device`` (at most ``--reboot-wait``, default 120 s: a real phone's reboot takes
30-90 s to reappear on adb) and booted (``sys.boot_completed``: a phone that rebooted answers adb
before Android is up; at most BOOT_WAIT_S). The reappearance wait is long on purpose: with ``-n``
each phone has its own worker, so it delays only that phone's cells while the farm goes on, and a
phone that is truly gone costs it once per run. adb cannot tell a reboot from a pulled cable when
the phone vanishes (both are a USB disconnect; a network phone's server shows it ``offline`` in
either case), so every vanished phone gets the same wait; a line on the terminal says whom the
worker waits for. Back: the cell that saw the drop is ``infra_error``
(its measurement was cut) and the next cells run. Not back, or gone a second time: the device is
quarantined for the rest of the run, and every later call fails at once, so its remaining cells
are ``infra_error`` records that cost no time, while the other devices finish. Like the hang
breaker (hang.py) the state is per process, which holds all of one device's cells under xdist.
"""
from __future__ import annotations

import time
from typing import Callable

from ..errors import InfraError

BOOT_WAIT_S = 120.0  # a phone that rebooted is listed before Android has finished booting
# a network phone (HOST:PORT) whose server gave up reconnecting is `adb connect`ed again this
# often while it is awaited: a phone back from a reboot listens again before the server retries
CONNECT_EVERY_S = 5.0
# "still waiting" lines while a phone is awaited: a person sees the worker is not stuck
SAY_EVERY_S = 15.0
# where "waiting for X to come back" lines go: the progress plugin (run/progress.py) points this
# at the terminal; library use and unit tests print nothing
announce: Callable[[str], None] = lambda line: None
RECONNECT_FIX = ("reconnect the phone (cable, hub, `adb connect HOST:PORT` for network phones) and "
                 "check `adb devices`; then run again")


class DeviceQuarantined(InfraError):
    """A call not made: the device dropped off earlier in this run and did not come back."""


def is_vanished(exc: BaseException) -> bool:
    """Whether an adb error says the device itself is gone (not a failing command)."""
    from ..parsers import exec_failure

    text = str(exc) or type(exc).__name__
    kind = exec_failure.classify(text)["kind"]
    low = text.lower()
    # adbutils reads a stream the server closed as EOFError("Expected 5 bytes, got 0"), whose
    # text says neither "closed" nor "EOF" (seen in CI: a disconnect that landed mid-cell)
    return kind == "offline" or ("not found" in low and "device" in low) or \
        isinstance(exc, EOFError) or \
        kind == "unknown" and any(w in low for w in ("closed", "connection reset", "broken pipe",
                                                      "eof", "no devices", "unknown data: b''",
                                                      "got 0"))


def listed_state(address: tuple[str, int], serial: str, bound_s: float) -> str | None:
    """The device's state as its adb server lists it now (None: not listed, or no answer)."""
    from .adb_transport import bounded, make_client

    client = make_client(address, socket_timeout=bound_s)
    try:
        with bounded(client, bound_s):
            return {entry.serial: entry.state for entry in client.list()}.get(serial)
    except Exception:
        return None


def wait_for_boot(address: tuple[str, int], serial: str, bound_s: float,
                  call_s: float = 10.0) -> bool:
    """Up to ``bound_s`` for ``getprop sys.boot_completed`` to say 1 (a phone that came back
    from a reboot answers adb before Android is up; measuring then would time the boot)."""
    from .adb_transport import bounded, make_client

    client = make_client(address, socket_timeout=call_s)
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        try:
            with bounded(client, call_s):
                if client.device(serial=serial).shell("getprop sys.boot_completed",
                                                      timeout=call_s).strip() == "1":
                    return True
        except Exception:
            pass  # still coming up
        time.sleep(0.5)
    return False


def reconnect_offline(address: tuple[str, int], serial: str, wait_s: float,
                      call_s: float = 10.0) -> str | None:
    """``adb reconnect offline`` on the device's server, then wait up to ``wait_s`` for
    ``serial`` to be listed as ``device`` again, each adb call bounded by ``call_s``. A network
    phone (serial HOST:PORT) whose server has stopped retrying is also ``adb connect``ed, first
    halfway through a short wait (at most after CONNECT_EVERY_S), then every CONNECT_EVERY_S.
    Returns what brought it back, or None."""
    from .adb_transport import bounded, make_client

    call_s = min(call_s, wait_s) if wait_s > 0 else call_s
    client = make_client(address, socket_timeout=call_s)
    started = time.monotonic()
    deadline = started + wait_s
    try:
        with bounded(client, call_s), client.make_connection(timeout=call_s) as conn:
            conn.send_command("host:reconnect-offline")
            conn.check_okay()
            conn.read_string_block()
    except Exception:
        pass  # an older server without the service: the wait below still sees a comeback
    connect_at = started + min(wait_s / 2, CONNECT_EVERY_S)
    say_at = started + SAY_EVERY_S
    network = ":" in serial and serial.rpartition(":")[2].isdigit()
    how = "`adb reconnect offline`"
    while time.monotonic() < deadline:
        try:
            with bounded(client, call_s):
                states = {entry.serial: entry.state for entry in client.list()}
                if states.get(serial) == "device":
                    return how
                if network and time.monotonic() >= connect_at:
                    connect_at = time.monotonic() + CONNECT_EVERY_S
                    how = "`adb reconnect offline` then `adb connect`"
                    client.connect(serial, timeout=max(1.0, min(call_s,
                                                                deadline - time.monotonic())))
        except Exception:
            pass
        if time.monotonic() >= say_at:
            say_at += SAY_EVERY_S
            announce(f"still waiting for {serial} to come back on adb "
                     f"({time.monotonic() - started:.0f} s of at most {wait_s:g} s)")
        time.sleep(0.25)
    return None


class LinkGuard:
    """One device's reconnect-once-then-quarantine state. ``bound_s`` bounds each adb call
    (the short-call bound), ``reappear_s`` the wait for the phone to be listed again."""

    def __init__(self, serial: str, address: tuple[str, int], bound_s: float,
                 reappear_s: float = 120.0):
        self.serial, self.address, self.bound_s = serial, address, bound_s
        self.reappear_s = reappear_s
        self.reconnected = False
        self.dropped_at: str | None = None  # wall-clock time of the drop it came back from
        self.quarantine: str | None = None

    def check(self, command: str) -> None:
        if self.quarantine is not None:
            raise DeviceQuarantined(f"{self.quarantine}; its remaining cells were not attempted",
                                    serial=self.serial, command=command, fix=RECONNECT_FIX)

    def unreliable(self) -> str:
        """What a later timeout should say about this device's link ("" if it never dropped):
        silence from a phone that already dropped off once is as likely its link losing
        packets as a hung phone, and adb cannot tell the two apart."""
        if not self.reconnected:
            return ""
        return (f"its adb link already dropped at {self.dropped_at} and came back: a link that "
                f"loses packets (Wi-Fi adb, a worn cable or hub) looks like this too")

    def on_vanished(self, error: InfraError) -> InfraError:
        """The error for the call that found the device gone, after the reconnect attempt."""
        said = error.args[0] if error.args else str(error)  # without its own "(fix: ...)"
        said += ": the adb link to the device dropped"
        if listed_state(self.address, self.serial, self.bound_s) == "device":
            return error  # the server still has it: a failed call, not a vanished device
        if self.reconnected:
            self.quarantine = (f"device {self.serial} dropped off adb again after a reconnect: "
                               f"quarantined for the rest of the run")
            return DeviceQuarantined(f"{said}; {self.quarantine}", serial=self.serial,
                                     command=error.command, fix=RECONNECT_FIX)
        start = time.monotonic()
        announce(f"{self.serial} dropped off adb; waiting for it to come back (at most "
                 f"{self.reappear_s:g} s, --reboot-wait; the other phones go on)")
        back = reconnect_offline(self.address, self.serial, self.reappear_s, self.bound_s)
        if back:
            announce(f"{self.serial} is back on adb after {time.monotonic() - start:.1f} s")
        if back and not wait_for_boot(self.address, self.serial, BOOT_WAIT_S, self.bound_s):
            self.quarantine = (f"device {self.serial} came back on adb but did not finish "
                               f"booting (sys.boot_completed) within {BOOT_WAIT_S:g} s: "
                               f"quarantined for the rest of the run")
            return DeviceQuarantined(f"{said}; {self.quarantine}", serial=self.serial,
                                     command=error.command, fix=RECONNECT_FIX)
        took = time.monotonic() - start
        if back:
            self.reconnected = True
            self.dropped_at = time.strftime("%H:%M:%S", time.localtime(time.time() - took))
            return InfraError(f"{said}; {back} brought it back (booted) after "
                              f"{took:.1f} s: this cell is lost, the next ones run",
                              serial=self.serial, command=error.command, fix=RECONNECT_FIX)
        self.quarantine = (f"device {self.serial} dropped off adb and `adb reconnect offline` did "
                           f"not bring it back within {self.reappear_s:g} s (--reboot-wait): "
                           f"quarantined for the rest of the run")
        return DeviceQuarantined(f"{said}; {self.quarantine}", serial=self.serial,
                                 command=error.command, fix=RECONNECT_FIX)
