"""Android phones (and virtual Android devices) over the real adb server.

Discovery asks the adb server which devices it sees, in every state (device, unauthorized,
offline, recovery, sideload, ...): a phone that cannot be used still gets its cells, recorded as
``infra_error`` with the fix, instead of vanishing from the report. Devices that report
``ro.edgelab.virtual=1`` are the harness's own stand-ins and are labelled ``virtual-android``.

Servers: ``EDGELAB_ADB_SERVER=host:port[,host:port...]`` (``--adb-server``, repeatable: one per
lab host), else ``ANDROID_ADB_SERVER_HOST``/``_PORT``, else 127.0.0.1:5037. With several servers
a device's identity is its server and serial (``id = "host:port/serial"``): two lab hosts may
each hold a phone of the same serial (cheap phones share one), and they are two devices. No
server running -> no Android devices from it and a note; discovery starts one (local, the first)
only with ``EDGELAB_ADB_START=1``, because a started server outlives the run and takes over USB
devices other tools may be using. ``EDGELAB_ADB_CONNECT=host:port,...`` runs ``adb connect`` on
the first server first (network and virtual devices).
A device that does not answer discovery's getprop within ``quick_timeout`` is listed with the
hang in ``details["hung"]``: its cells become ``infra_error`` at once instead of each waiting.
"""
from __future__ import annotations

import contextlib
import os
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

from ..errors import InfraError
from . import probe
from .adb_transport import (DEFAULT_REBOOT_WAIT_S, DEFAULT_TIMEOUT_S, AdbTransport, bounded,
                            make_client, parse_address, quick_timeout, quote_argv, server_addresses,
                            server_listening, start_server, wrap_adb_error)
from .android_control import (OFFER, AndroidPolicyFiles, FixedPerformanceOperation,
                              RootAccess)
from .base import DeviceInfo, ExecResult
from .cpufreq_control import GovernorOperation, observed_governors
from .hang import Hang, HangGuard
from .journal import Journal
from .operations import Operation, prepared
from .pushcache import PushCache

CONNECT_SETTLE_S = 5.0  # a freshly connected device is "offline"/"connecting" until its handshake


def discover(notes: list[str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
             **_ignored) -> list[DeviceInfo]:
    notes = notes if notes is not None else []
    try:
        addresses = server_addresses()
    except InfraError as exc:
        notes.append(f"android: {exc}")
        return []
    found: list[DeviceInfo] = []
    for number, address in enumerate(addresses):
        # one server that is down or broken must not stop the other lab hosts (or the host)
        found += _discover_on(address, notes, timeout_s, first=number == 0,
                              qualify=len(addresses) > 1)
    return found


def _discover_on(address: tuple[str, int], notes: list[str], timeout_s: float, first: bool,
                 qualify: bool) -> list[DeviceInfo]:
    host, port = address
    if not server_listening(host, port):
        if not (first and os.environ.get("EDGELAB_ADB_START") == "1"):
            notes.append(f"android: no adb server on {host}:{port}; start one with "
                         f"`adb start-server` (or set EDGELAB_ADB_START=1) to include phones")
            return []
        start_server(host, port)
    client = make_client(address, socket_timeout=15)
    try:
        if first:
            _connect_remotes(client, notes)
        entries = client.list(extended=True)
    except Exception as exc:
        notes.append(f"android: {host}:{port}: {wrap_adb_error(exc, None, 'host:devices-l')}")
        return []
    return [_device_info(client, entry, f"{host}:{port}", notes, quick_timeout(timeout_s),
                         qualify) for entry in entries]


def _connect_remotes(client, notes: list[str]) -> None:
    targets = [t.strip() for t in os.environ.get("EDGELAB_ADB_CONNECT", "").split(",") if t.strip()]
    for target in targets:
        parse_address(target, "EDGELAB_ADB_CONNECT")
        answer = client.connect(target, timeout=10)
        if "connected" not in answer or "unable" in answer or "failed" in answer:
            notes.append(f"android: adb connect {target}: {answer}")
    if targets:
        _wait_for_handshakes(client, set(targets))


def _wait_for_handshakes(client, serials: set[str]) -> None:
    deadline = time.monotonic() + CONNECT_SETTLE_S
    while time.monotonic() < deadline:
        states = {e.serial: e.state for e in client.list()}
        if all(states.get(s) not in ("offline", "connecting", "authorizing") for s in serials):
            return
        time.sleep(0.1)
    # still offline after the deadline: that is their state, and discovery reports it


def device_id(server: str, serial: str, qualify: bool) -> str:
    """The serial alone with one adb server; ``server/serial`` when several are asked."""
    return f"{server}/{serial}" if qualify else serial


def _device_info(client, entry, server: str, notes: list[str], quick_s: float,
                 qualify: bool = False) -> DeviceInfo:
    import adbutils

    tags = dict(entry.tags)
    model = tags.get("model", "").replace("_", " ")
    virtual = False
    details = {"adb_server": server, **{k: v for k, v in tags.items() if k != "model"}}
    if entry.state == "device":
        dev = client.device(serial=entry.serial)
        try:
            with bounded(client, quick_s):
                virtual = dev.shell(quote_argv(["getprop", "ro.edgelab.virtual"]),
                                    timeout=quick_s).strip() == "1"
                model = dev.shell(quote_argv(["getprop", "ro.product.model"]),
                                  timeout=quick_s).strip() or model
        except (adbutils.AdbTimeout, TimeoutError) as exc:
            guard = HangGuard(entry.serial)
            error = guard.trip("getprop", quick_s, str(exc), during="discovery")
            details["hung"] = guard.hang.as_dict()  # the workers' transports start hung
            virtual = _announces_virtual(client, dev, quick_s)
            notes.append(f"android: {error}")
        except Exception as exc:  # the device dropped between listing and asking
            notes.append(f"android: {entry.serial}: {wrap_adb_error(exc, entry.serial, 'getprop')}")
    return DeviceInfo(id=device_id(server, entry.serial, qualify),
                      kind="virtual-android" if virtual else "android",
                      serial=entry.serial, model=model, state=entry.state, virtual=virtual,
                      details=details)


def _announces_virtual(client, dev, quick_s: float) -> bool:
    """Whether a device that does not answer is virtual: the adb server keeps the features a
    device announced when it connected (virtual ones announce ``edgelab_virtual``), so this
    needs no answer from the device, and its records keep the virtual label."""
    try:
        with bounded(client, quick_s):
            return "edgelab_virtual" in dev.get_features().split(",")
    except Exception:  # the server lost it as well: no label is better than no record
        return False


def abis_of(profile: dict[str, Any]) -> list[str]:
    """The ABIs a device runs, best first (``ro.product.cpu.abilist`` order)."""
    abis = profile.get("abis")
    return list(abis) if isinstance(abis, list) else []


class AndroidDevice:
    """A phone behind adb. Constructing it does not touch the device; ``profile()`` does."""

    def __init__(self, info: DeviceInfo, timeout_s: float = DEFAULT_TIMEOUT_S,
                 reboot_wait_s: float = DEFAULT_REBOOT_WAIT_S):
        self.info = info
        server = info.details.get("adb_server")
        address = parse_address(server, "adb_server") if server else None
        hung = info.details.get("hung")
        self.transport = AdbTransport(info.serial, address, timeout_s,
                                      Hang.from_dict(hung) if hung else None,
                                      reboot_wait_s=reboot_wait_s)
        self.pushes = PushCache(self.transport, has_sha256sum=self._has_sha256sum)
        self._sysfs = probe.SysfsReader(self.transport)

    # -- identity ---------------------------------------------------------------------
    @cached_property
    def _profile(self) -> dict[str, Any]:
        found = probe.probe(self.transport, self._sysfs)
        found["kind"] = self.info.kind
        found["virtual"] = found["virtual"] or self.info.virtual
        found["profile"] = probe.match_profile(found, probe.load_profiles())
        found["shell"]["shell_v2"] = self.transport.shell_v2
        self.transport.has_timeout = found["shell"]["timeout"]
        return found

    def profile(self) -> dict[str, Any]:
        return dict(self._profile)

    def _has_sha256sum(self) -> bool:
        return bool(self._profile["shell"]["sha256sum"])

    # -- commands and files -----------------------------------------------------------
    def exec(self, argv: list[str], timeout: float | None = None) -> ExecResult:
        """Run ``argv`` on the device (every word quoted), killed there after ``timeout``
        (default: the run's configured timeout)."""
        limit = self.transport.timeout_s if timeout is None else timeout
        return self.transport.run_killable(list(argv), limit)

    def run_tool(self, argv: list[str], timeout: float, cwd: str | None = None,
                 env: dict[str, str] | None = None) -> ExecResult:
        """A benchmark tool run: killed on the device at ``timeout``, its VmHWM read there
        until it ends (toolmem.py; the output carries the reading, ``split_marker`` removes it)."""
        return self.transport.run_killable(list(argv), timeout, cwd=cwd, env=env,
                                           watch_memory=True)

    def push(self, local: Path, remote_dir: str) -> str:
        return self.pushes.push(Path(local), remote_dir)

    @property
    def push_stats(self) -> dict[str, int]:
        return self.pushes.stats()

    def pull(self, remote: str, local: Path) -> Path:
        return self.transport.pull_file(remote, Path(local))

    def run_engine(self, engine, artifact, spec, settings):
        """The engine's official benchmark tool for this phone's ABI, over adb, its output
        parsed (engines/device_tools.py)."""
        from ..engines.device_tools import run_with_tool

        return run_with_tool(self, engine, artifact, spec, settings)

    # -- conditions and telemetry -----------------------------------------------------
    @cached_property
    def root(self) -> RootAccess:
        return RootAccess(self.transport, self._build_props,
                          lambda: bool(self._profile["shell"]["timeout"]))

    def _build_props(self) -> dict[str, str]:
        keys = ("ro.debuggable", "ro.build.type")
        return {k: self.transport.shell(["getprop", k]).stdout.strip() for k in keys}

    @cached_property
    def policy_files(self) -> AndroidPolicyFiles:
        return AndroidPolicyFiles(self.transport, self._sysfs, self.root, self.info.id)

    def operations(self) -> list[Operation]:
        # governors before fixed-performance: the power HAL's mode works on top of whatever
        # governor runs, and restoring in reverse leaves the mode off before governors return
        return [GovernorOperation(self.policy_files, OFFER),
                FixedPerformanceOperation(self.transport, self.info.id)]

    @contextlib.contextmanager
    def prepare(self, conditions: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Apply ``conditions["governor"]`` (journaled, verified; restored on exit whatever
        happens); yields the requested governor, what was applied and the observed ones."""
        fix = f"python -m harness devices --restore {self.info.id}"
        with prepared(self.operations(), conditions, Journal(self.info.as_dict()), fix) as state:
            if "governors_observed" not in state and isinstance(self._profile["governors"], dict):
                state["governors_observed"] = observed_governors(self.policy_files)
            yield state

    def sample(self) -> dict[str, Any]:
        return probe.sample(self.transport, self._sysfs)
