"""The developer services' DTX server (Instruments' remote server) of the virtual iPhone: what a
host needs to launch and stop an app through process control.

lockdownd starts it as ``com.apple.instruments.remoteserver.DVTSecureSocketProxy`` (iOS 14-16:
TLS throughout) or ``com.apple.instruments.remoteserver`` (before iOS 14: the TLS handshake,
then plain bytes), and only when the developer disk image is mounted, as a phone does. On iOS
17+ the same server is ``com.apple.instruments.dtservicehub`` on the tunnel's RSD, in plain TCP
(tunnel.py plays the tunnel's ends, not the tunnel).

The exchange (dtx.py has the framing): both sides announce their capabilities with
``_notifyOfPublishedCapabilities:`` on the control channel 0; the host opens a service channel
with ``_requestChannelWithCode:identifier:`` (OK, or an error for a service the phone lacks) and
calls methods on it. ``com.apple.instruments.server.services.processcontrol`` answers:
``launchSuspendedProcessWithDevicePath:bundleIdentifier:environment:arguments:options:`` -> pid
(``KillExisting`` ends a running instance first), ``processIdentifierForBundleIdentifier:`` ->
pid or 0, ``sendSignal:toPid:`` / ``killPid:``, ``startObservingPid:``. When an app it launched
ends by itself, the phone tells the host with ``processWithPID:terminatedWithExitCode:
orCrashingSignal:`` on that channel. A selector it does not know is an error saying so.

The system monitor (sysmon.py has the samples and where their shape comes from):
``com.apple.instruments.server.services.deviceinfo`` answers ``sysmonProcessAttributes`` /
``sysmonSystemAttributes`` (what pymobiledevice3's ``Sysmontap.create`` asks first),
``hardwareInformation``, ``isRunningPid:`` and ``execnameForPid:``;
``com.apple.instruments.server.services.sysmontap`` takes ``setConfig:``, ``start`` and ``stop``
and, between start and stop, pushes an archived array of samples as DATA on its channel every
``ur`` ms of the config. The pushes come from the connection's own thread (it waits for the
host's next message only until the next push is due), so no thread outlives the connection and
the TLS socket is never used by two threads for a tap; a tap ends with ``stop``, with its
channel's ``_channelCanceled:`` and with the connection.

The only app it can run is the EdgelabRunner (runner.py), and only when it is installed.
"""
from __future__ import annotations

import itertools
import select
import socket
import threading
import time
from typing import Any

from . import dtx
from .runner import VirtualRunner
from .sysmon import DEFAULT_CPU_COUNT, DEVICE_INFO, SYSMONTAP, SysmonTap, device_info

DVT_SERVICE = "com.apple.instruments.remoteserver.DVTSecureSocketProxy"
DVT_SERVICE_OLD = "com.apple.instruments.remoteserver"  # before iOS 14: TLS handshake only
PROCESS_CONTROL = "com.apple.instruments.server.services.processcontrol"
# the service versions are configuration (no capture of a phone's published capabilities here)
CAPABILITIES = {"com.apple.private.DTXConnection": 1, "com.apple.private.DTXBlockCompression": 0,
                PROCESS_CONTROL: 4, DEVICE_INFO: 1, SYSMONTAP: 1}
SERVICES = (PROCESS_CONTROL, DEVICE_INFO, SYSMONTAP)
LAUNCH = "launchSuspendedProcessWithDevicePath:bundleIdentifier:environment:arguments:options:"
TERMINATED = "processWithPID:terminatedWithExitCode:orCrashingSignal:"
SIGKILL = 9


class Processes:
    """The apps running on the virtual iPhone (shared by every DTX connection)."""

    def __init__(self, containers, values: dict[str, Any], play: str, iteration_ms: float,
                 thermal_state: str = "nominal"):
        self.containers = containers
        self.values = values
        self.play = play
        self.iteration_ms = iteration_ms
        self.thermal_state = thermal_state
        self._pids = itertools.count(401)
        self._lock = threading.Lock()
        self.running: dict[int, tuple[str, VirtualRunner]] = {}
        self.launches: list[dict[str, Any]] = []  # what hosts launched, in order (tests read it)
        self.kills: list[int] = []

    def launch(self, bundle: str, environment: dict, arguments: list, options: dict,
               on_exit) -> int:
        folder = self.containers.by_bundle.get(bundle)
        if folder is None:
            raise LookupError(f"The operation couldn't be completed. Application "
                              f"\"{bundle}\" is not installed")
        if options.get("KillExisting", True):
            self.kill(self.pid_for(bundle))
        with self._lock:
            pid = next(self._pids)

            def ended(pid_: int, code, signal) -> None:
                with self._lock:
                    self.running.pop(pid_, None)
                on_exit(pid_, code, signal)

            app = VirtualRunner(pid, folder / "Documents", self.values, self.play,
                                self.iteration_ms, self.thermal_state, ended,
                                clock_offset_s=getattr(self, "clock_offset_s", 0.0))
            self.running[pid] = (bundle, app)
            self.launches.append({"bundle": bundle, "pid": pid, "environment": environment,
                                  "arguments": arguments, "options": options})
        app.start()
        return pid

    def pid_for(self, bundle: str) -> int:
        with self._lock:
            return next((pid for pid, (name, app) in self.running.items()
                         if name == bundle and app.alive), 0)

    def kill(self, pid: int) -> bool:
        with self._lock:
            entry = self.running.pop(pid, None)
        if entry is None:
            return False
        self.kills.append(pid)
        entry[1].kill()
        return True

    def alive(self) -> list[tuple[int, str]]:
        """(pid, name) of the launched apps still running (sysmontap's busy processors)."""
        with self._lock:
            apps = list(self.running.items())
        return [(pid, "EdgelabRunner") for pid, (_, app) in apps if app.alive]


class Instruments:
    """The DTX server one lockdown service connection gets."""

    def __init__(self, processes: Processes, handshake_only_tls: bool = False,
                 cpu_count: int | None = None):
        self.processes = processes
        self.tls_handshake_only = handshake_only_tls  # usbmuxd.py: plain bytes after it
        # the profile's processor count when the phone gives one, else every recent iPhone's
        self.cpu_count = int(cpu_count or getattr(processes, "cpu_count", None)
                             or DEFAULT_CPU_COUNT)
        self.sysmon: list[tuple[int, str]] = []  # (channel, selector) hosts sent (tests read it)

    def serve(self, sock: socket.socket) -> None:
        link = dtx.Connection(sock)
        channels: dict[int, str] = {}
        taps: dict[int, SysmonTap] = {}
        # the phone announces what it serves, whatever the host sent first
        link.call(0, "_notifyOfPublishedCapabilities:", [CAPABILITIES])
        try:
            while True:
                if not self._wait_for_host(sock, link, taps):
                    continue  # a push was due first
                message = dtx.read_message(sock)
                if message is None:
                    return
                if message.type != dtx.DISPATCH:
                    continue  # replies to the phone's own calls: it asked nothing needing one
                selector = str(message.payload)
                service = channels.get(message.channel)
                if message.channel == 0:
                    self._control(link, channels, message, selector)
                    for code in set(taps) - set(channels):  # its channel was cancelled
                        taps.pop(code).stop()
                elif service == PROCESS_CONTROL:
                    self._process_control(link, message, selector)
                elif service == DEVICE_INFO:
                    self._device_info(link, message, selector)
                elif service == SYSMONTAP:
                    tap = taps.setdefault(message.channel,
                                          SysmonTap(self.processes.alive, self.cpu_count))
                    self._sysmontap(link, tap, message, selector)
                elif message.expects_reply:
                    link.reply_error(message, f"no channel with code {message.channel}")
        finally:
            for tap in taps.values():  # the connection ended: so do its taps
                tap.stop()
            # close this side now: a launched app's exit callback keeps ``link`` (and with it
            # the TLS socket, which owns the descriptor) alive, and the host waited for the
            # connection's end until its own timeout (5 s in pymobiledevice3's close)
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _wait_for_host(sock: socket.socket, link: dtx.Connection,
                       taps: dict[int, "SysmonTap"]) -> bool:
        """Push what is due; True when the host's next message can be read now (or no tap
        runs: then reading blocks as before, bounded by the socket's timeout)."""
        running = {code: tap for code, tap in taps.items() if tap.running}
        if not running:
            return True
        for code, tap in running.items():
            tap.push_due(lambda data, code=code: link.push(-code, data))
        pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted
        if pending is not None and pending():
            return True
        wait = max(0.0, min(tap.due for tap in running.values()) - time.monotonic())
        readable, _, _ = select.select([sock], [], [], wait)
        return bool(readable)

    def _control(self, link: dtx.Connection, channels: dict[int, str], message: dtx.Message,
                 selector: str) -> None:
        if selector == "_notifyOfPublishedCapabilities:":
            return  # the host's capabilities: nothing here depends on them
        if selector == "_requestChannelWithCode:identifier:":
            code, identifier = message.args[0], str(message.args[1])
            if identifier not in SERVICES:
                link.reply_error(message, f"Unable to find a service for identifier "
                                          f"{identifier} - the virtual iPhone serves "
                                          f"{', '.join(SERVICES)} only")
                return
            channels[int(code)] = identifier
            link.reply(message)
            return
        if selector == "_channelCanceled:":
            channels.pop(int(message.args[0]), None)
            if message.expects_reply:
                link.reply(message)
            return
        if message.expects_reply:
            link.reply_error(message, f"Unable to invoke -[DTXConnection {selector}] - it does "
                                      f"not respond to the selector")

    def _process_control(self, link: dtx.Connection, message: dtx.Message, selector: str) -> None:
        args = message.args
        channel = message.channel

        def ended(pid: int, code, signal) -> None:
            try:  # the host may be gone: a phone does not care
                link.call(-channel, TERMINATED, [pid, code if code is not None else -1,
                                                 signal if signal is not None else -1])
            except OSError:
                pass

        value: Any = None
        if selector == LAUNCH:
            try:
                value = self.processes.launch(str(args[1]), dict(args[2] or {}),
                                              list(args[3] or []), dict(args[4] or {}), ended)
            except LookupError as missing:
                link.reply_error(message, str(missing))
                return
        elif selector == "processIdentifierForBundleIdentifier:":
            value = self.processes.pid_for(str(args[0]))
        elif selector == "sendSignal:toPid:":
            if int(args[0]) == SIGKILL:
                self.processes.kill(int(args[1]))
            value = None
        elif selector == "killPid:":
            self.processes.kill(int(args[0]))
        elif selector in ("startObservingPid:", "stopObservingPid:"):
            pass
        else:
            if message.expects_reply:
                link.reply_error(message, f"Unable to invoke -[DTProcessControlService "
                                          f"{selector}] - it does not respond to the selector")
            return
        if message.expects_reply:
            link.reply(message, value)

    def _device_info(self, link: dtx.Connection, message: dtx.Message, selector: str) -> None:
        known, value = device_info(selector, message.args, self.cpu_count, self.processes.alive)
        if not message.expects_reply:
            return
        if known:
            link.reply(message, value)
        else:
            link.reply_error(message, f"Unable to invoke -[DTDeviceInfoService {selector}] - it "
                                      f"does not respond to the selector")

    def _sysmontap(self, link: dtx.Connection, tap: SysmonTap, message: dtx.Message,
                   selector: str) -> None:
        self.sysmon.append((message.channel, selector))
        if selector == "setConfig:":
            tap.configure(message.args[0] if message.args else None)
        elif selector == "start":
            tap.start()
        elif selector == "stop":
            tap.stop()
        else:
            if message.expects_reply:
                link.reply_error(message, f"Unable to invoke -[DTSysmonTapService {selector}] - "
                                          f"it does not respond to the selector")
            return
        if message.expects_reply:  # pymobiledevice3 asks none; older clients do
            link.reply(message)
