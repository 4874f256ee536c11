"""Launch the EdgelabRunner app on an iPhone, wait for its results, and stop it when it hangs.

The developer services' process control (DVT, Instruments' remote server) through
pymobiledevice3: ``DvtProvider`` over lockdown before iOS 17 (``DVTSecureSocketProxy``; before
iOS 14 the older ``remoteserver``, whose TLS ends after the handshake), through the RemoteXPC
tunnel (``tunneld``) on iOS 17+. One DTX connection is held for the whole run: launch (an
instance still running from an earlier cell is killed first, ``KillExisting``), then poll the
runner's Documents over house_arrest/AFC for the results file, and ask process control whether
the app still runs. The app ends in one of three ways:

- it wrote its results (the Swift app writes them atomically, then exits): read and returned;
- it ended without results (crashed, or jetsam killed it): ``RunnerEnded`` (a failed cell,
  with the exit code or signal the phone reported when it sent one);
- the run's timeout passed: the app is killed (SIGKILL through process control) and
  ``RunnerTimeout`` says so, like a phone's benchmark tool that hangs.

Where tunneld is: ``EDGELAB_TUNNELD=HOST:PORT``, else pymobiledevice3's own 127.0.0.1:49151
(``tunneld_address``); discovery (ios.py) asks the same one whether a tunnel runs.

Verified with the real pymobiledevice3 client against the virtual iPhone (iOS 13 and iOS 16
profiles over lockdown; the iOS 17 profile through the stand-in's tunneld and RSD,
harness/virtual/ios/tunnel.py); NOT RUN ON A REAL iPHONE, and the real tunnel itself (QUIC /
CoreDeviceProxy, made by ``pymobiledevice3 remote tunneld``) is not exercised (docs/ios.md,
"Status").
"""
from __future__ import annotations

import asyncio
import os
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import InfraError, MeasurementError, ToolTimeout, UsageError
from .ios_files import RUNNER_BUNDLE_ID, _documents

POLL_FIRST_S = 0.05   # the first looks come quickly: a small model's job takes well under 1 s
POLL_MAX_S = 1.0      # then at most one AFC look and one process-control question a second
ENDED_REPORT_WAIT_S = 0.2
TIMEOUT_FIX = "raise --edgelab-timeout or use fewer iterations"
TUNNELD_ENV = "EDGELAB_TUNNELD"
TUNNELD_DEFAULT = ("127.0.0.1", 49151)  # pymobiledevice3's tunneld (tunneld/api.py)
TUNNEL_FIX = ("sudo python3 -m pymobiledevice3 remote tunneld, keep it running (edgelab asks it "
              f"at {TUNNELD_ENV}=HOST:PORT, default 127.0.0.1:49151)")


def tunneld_address() -> tuple[str, int]:
    """Where pymobiledevice3's tunneld serves its HTTP API: ``EDGELAB_TUNNELD=HOST:PORT``
    (``[::1]:PORT`` for IPv6), else its default 127.0.0.1:49151."""
    text = os.environ.get(TUNNELD_ENV, "").strip()
    if not text:
        return TUNNELD_DEFAULT
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{TUNNELD_ENV}={text!r}: give HOST:PORT of pymobiledevice3's tunneld, "
                         f"e.g. 127.0.0.1:49151")
    return host, int(port)


class RunnerTimeout(ToolTimeout):
    """The runner wrote no results within the run's timeout and was killed while the phone
    still answered: the thing under test stopped, recorded ``failed: timeout`` like a phone's
    benchmark tool killed at its timeout (errors.ToolTimeout)."""


class RunnerEnded(MeasurementError):
    """The runner ended without writing results."""


@dataclass
class RunFacts:
    """What the record says about the launch (``extra.launch``)."""

    pid: int = 0
    service: str = ""
    launch_to_results_s: float | None = None
    polls: int = 0
    ended: dict[str, Any] = field(default_factory=dict)
    clock: dict[str, float] | None = None  # phone_clock(): the phone's wall clock vs the host's
    # host time.monotonic() of the last look that found no results and of the one that found them
    results_seen_monotonic_s: list[float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "service": self.service, "polls": self.polls,
                "launch_to_results_s": self.launch_to_results_s}


async def phone_clock(lockdown) -> dict[str, float] | None:
    """The phone's wall clock against the host's, read once per launch: lockdown's
    ``TimeIntervalSince1970`` (a session value, seconds with a fraction) taken between two host
    readings. ``offset_s`` = phone - host wall clock at the midpoint (off by at most half the
    round trip, ``rtt_s``); ``monotonic_minus_unix_s`` places a host wall time on the host's
    monotonic clock, the samplers' clock. None when the phone does not give it."""
    before, mono_before = time.time(), time.monotonic()
    try:
        value = await lockdown.get_value(key="TimeIntervalSince1970")
    except Exception:  # an older or odd lockdownd: the timed window falls back (ios_run.py)
        return None
    after, mono_after = time.time(), time.monotonic()
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return {"offset_s": round(float(value) - (before + after) / 2, 6),
            "rtt_s": round(after - before, 6),
            "monotonic_minus_unix_s": (mono_before + mono_after - before - after) / 2}


def _observed_service():
    """pymobiledevice3's process-control channel, keeping what the phone reports when a
    launched app ends (``processWithPID:terminatedWithExitCode:orCrashingSignal:``)."""
    from pymobiledevice3.dtx import dtx_on_invoke
    from pymobiledevice3.services.dvt.instruments.process_control import ProcessControlService

    class Observed(ProcessControlService):
        def __init__(self, ctx):
            super().__init__(ctx)
            self.ended: dict[int, tuple[int | None, int | None]] = {}

        @dtx_on_invoke("processWithPID:terminatedWithExitCode:orCrashingSignal:")
        async def _on_process_terminated(self, pid, exit_code, crashing_signal) -> None:
            self.ended[int(getattr(pid, "value", pid))] = (
                _number(exit_code), _number(crashing_signal))

    return Observed


def _number(value: Any) -> int | None:
    value = getattr(value, "value", value)
    return int(value) if isinstance(value, int) and value >= 0 else None


async def _provider_source(udid: str, lockdown, major: int | None):
    """Where the developer services are: lockdown before iOS 17, the tunnel from iOS 17."""
    if major is None or major < 17:
        return lockdown
    from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

    address = tunneld_address()
    rsd = await get_tunneld_device_by_udid(udid, address)
    if rsd is None:
        raise InfraError(f"iPhone {udid}: tunneld at {address[0]}:{address[1]} has no RemoteXPC "
                         f"tunnel for it (iOS 17+ reaches the developer services only through "
                         f"one)", serial=udid, fix=TUNNEL_FIX)
    return rsd


async def run_job(udid: str, address: str | None, major: int | None, results: str,
                  timeout_s: float, environment: dict[str, str]) -> tuple[str, RunFacts]:
    """Launch the runner (its job is already in Documents), wait for ``results`` (a path in
    Documents), return its text and the launch facts. Raises RunnerTimeout / RunnerEnded."""
    from pymobiledevice3.exceptions import AfcFileNotFoundError
    from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
    from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl

    facts = RunFacts()
    lockdown, afc = await _documents(udid, address)
    source = None
    try:
        try:
            await afc.rm_single(results, force=True)  # a stale file would read as this job's
        except AfcFileNotFoundError:
            pass
        source = await _provider_source(udid, lockdown, major)
        provider = DvtProvider(source)
        facts.service = DvtProvider.service_name_for(source)
        async with provider as dvt:
            service = await dvt.dtx.open_channel(_observed_service())
            control = ProcessControl(dvt, service)
            facts.clock = await phone_clock(lockdown)
            launched = missed = time.monotonic()
            facts.pid = pid = await control.launch(RUNNER_BUNDLE_ID, environment=environment,
                                                   kill_existing=True)
            deadline = launched + timeout_s
            delay = POLL_FIRST_S
            while True:
                facts.polls += 1
                looked = time.monotonic()
                text = await _read_if_there(afc, results)
                if text is not None:
                    facts.launch_to_results_s = round(time.monotonic() - launched, 3)
                    facts.results_seen_monotonic_s = [missed, looked]
                    return text, facts
                missed = looked
                ended = service.ended.get(pid)
                if ended is None and await control.process_identifier_for_bundle_identifier(
                        RUNNER_BUNDLE_ID) != pid:
                    ended = (None, None)
                if ended is not None:
                    # the phone's termination call may trail its process table: wait for it a
                    # moment, it says how the app ended
                    await asyncio.sleep(ENDED_REPORT_WAIT_S)
                    ended = service.ended.get(pid, ended)
                    text = await _read_if_there(afc, results)  # written just before it ended
                    if text is not None:
                        facts.launch_to_results_s = round(time.monotonic() - launched, 3)
                        facts.results_seen_monotonic_s = [missed, time.monotonic()]
                        return text, facts
                    raise RunnerEnded(_ended_message(pid, ended, results))
                if time.monotonic() >= deadline:
                    await control.kill(pid)
                    raise RunnerTimeout(
                        "EdgelabRunner", timeout_s,
                        f"no {posixpath.basename(results)} in its Documents; killed (pid {pid}) "
                        f"through process control ({TIMEOUT_FIX})")
                await asyncio.sleep(max(0.0, min(delay, deadline - time.monotonic())))
                delay = min(delay * 2, POLL_MAX_S)
    finally:
        if source is not None and source is not lockdown:  # the tunnel's RSD (iOS 17+)
            await source.close()
        await afc.close()
        await lockdown.close()


async def _read_if_there(afc, path: str) -> str | None:
    from pymobiledevice3.exceptions import AfcFileNotFoundError

    try:
        return (await afc.get_file_contents(path)).decode("utf-8", errors="replace")
    except AfcFileNotFoundError:
        return None


def _ended_message(pid: int, ended: tuple[int | None, int | None], results: str) -> str:
    code, signal = ended
    how = (f"on signal {signal}" if signal is not None
           else f"with exit code {code}" if code is not None else "")
    return (f"EdgelabRunner (pid {pid}) ended {how + ' ' if how else ''}without writing "
            f"{posixpath.basename(results)}: it crashed or iOS killed it (jetsam kills an app "
            f"over its memory limit: try a smaller model or variant); its crash report: "
            f"`pymobiledevice3 crash ls`")
