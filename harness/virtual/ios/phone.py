"""A virtual iPhone: a usbmuxd stand-in on a loopback TCP port holding one device.

The identity comes from an iPhone profile (captured values, ``profile.py``). Two values are made
here, not captured, and labelled: ``DevicePublicKey`` (a fresh RSA key, which lockdownd gives
untrusted hosts so they can build a pair record) and ``EdgelabVirtual`` (true: how edgelab tells
its stand-in from a phone; no Apple device sends this key). A ``trusted`` profile also holds the
pair record of an earlier pairing (trust.py) and answers a session's Developer Mode and disk
image questions from its ``[state]``. An iOS 17+ profile with ``[state] tunnel`` also serves
the ends of the RemoteXPC tunnel: a tunneld stand-in listing it and the phone's RSD with the
services it plays (tunnel.py; ``tunneld_address``). Each connection is served on its own
thread; ``max_lifetime_s``/``idle_timeout_s`` stop a stand-in a test or script forgot.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
import uuid
from typing import Any

from ...errors import UsageError
from .afc import HOUSE_ARREST, Afc, Containers, HouseArrest
from .install import AFC, INSTALLATION_PROXY, InstallationProxy
from .instruments import DVT_SERVICE, DVT_SERVICE_OLD, Instruments, Processes
from .lockdownd import Lockdownd
from .profile import RUNNER_PLAYS, IOSProfile, load_ios_profile
from .services import DIAGNOSTICS, MOUNTER, Diagnostics, ImageMounter
from .trust import Trust, make_device_key
from .usbmuxd import Usbmuxd

VIRTUAL_KEY = "EdgelabVirtual"
RUNNER_BUNDLE_ID = "org.edgelab.EdgelabRunner"  # ios/EdgelabRunner/project.yml


class MediaAfc:
    """``com.apple.afc``: AFC rooted at the media folder, one session per connection."""

    def __init__(self, root):
        self.root = root

    def serve(self, sock) -> None:
        Afc(self.root).serve(sock)


def parse_loopback(address: str, option: str = "--usbmux") -> tuple[str, int]:
    """``HOST:PORT`` on a loopback address (the stand-in is for tests and CI only)."""
    host, sep, port_text = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
        loopback = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host).is_loopback
    except ValueError:
        port, loopback = -1, False
    if not sep or not 0 <= port <= 65535 or not loopback:
        raise UsageError(f"{option} {address!r}: give HOST:PORT on a loopback address, e.g. "
                         f"127.0.0.1:27015 (port 0 picks a free one)")
    return host, port


class VirtualIPhone:
    def __init__(self, profile: str | IOSProfile, address: str = "127.0.0.1:0",
                 max_lifetime_s: float | None = None, idle_timeout_s: float | None = None,
                 runner_play: str | None = None, iteration_ms: float | None = None,
                 tunneld: str | None = None):
        self.profile = profile if isinstance(profile, IOSProfile) else load_ios_profile(profile)
        if runner_play is not None and runner_play not in RUNNER_PLAYS:
            raise UsageError(f"virtual EdgelabRunner fault {runner_play!r}: use one of "
                             f"{', '.join(RUNNER_PLAYS)}")
        self.host, self._port = parse_loopback(address)
        values: dict[str, Any] = dict(self.profile.values)
        key = make_device_key()
        values["DevicePublicKey"] = key.public_pem
        values[VIRTUAL_KEY] = True
        buid = str(uuid.uuid4()).upper()
        trusted = self.profile.pairing == "trusted"
        trust = Trust(key, values.get("WiFiAddress"), buid) if trusted else None
        domains = {("com.apple.security.mac.amfi", "DeveloperModeStatus"):
                   self.profile.developer_mode}
        # installed apps: only the runner, when the profile says it was installed
        apps = [RUNNER_BUNDLE_ID] if self.profile.runner_installed else []
        self.containers = Containers(apps)
        installer = InstallationProxy(self.containers, self.containers.media,
                                      values.get("ProductVersion"))
        services = {MOUNTER: ImageMounter(self.profile.ddi_mounted),
                    HOUSE_ARREST: HouseArrest(self.containers),
                    AFC: MediaAfc(self.containers.media), INSTALLATION_PROXY: installer}
        # the developer services (process control, instruments.py) and the app they launch
        # (runner.py); like a phone, lockdownd starts them only with the disk image mounted
        self.processes = Processes(self.containers, values, runner_play or self.profile.runner_play,
                                   self.profile.iteration_ms if iteration_ms is None
                                   else iteration_ms)
        # the phone's wall clock is not the host's: lockdownd's TimeIntervalSince1970 and the
        # runner's loop marks both read it (profile [state] clock_offset_s)
        self.processes.clock_offset_s = self.profile.clock_offset_s
        services[DIAGNOSTICS] = Diagnostics(self.profile.battery,
                                            busy=lambda: len(self.processes.running))
        if self.profile.ddi_mounted and self.profile.developer_mode:
            services[DVT_SERVICE] = Instruments(self.processes)
            services[DVT_SERVICE_OLD] = Instruments(self.processes, handshake_only_tls=True)
        self.lockdownd = Lockdownd(values, self.profile.pairing, trust, domains, services,
                                   clock_offset_s=self.profile.clock_offset_s)
        self.usbmuxd = Usbmuxd(self.profile.udid, self.lockdownd, buid=buid)
        # iOS 17+: the RemoteXPC tunnel's device end (tunnel.py, rsd.py) and a tunneld stand-in
        # that lists it; tunneld runs when the profile's tunnel does or ``tunneld`` (HOST:PORT)
        # asks for one (then, with [state] tunnel false, it lists no tunnel)
        self._values = values
        self._tunneld_at = (parse_loopback(tunneld, "--tunneld") if tunneld is not None
                            else (self.host, 0) if self.profile.tunnel else None)
        self.tunnel = None    # TunnelHost, once started
        self.tunneld = None   # Tunneld, once started
        self.max_lifetime_s = max_lifetime_s
        self.idle_timeout_s = idle_timeout_s
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._last_traffic = time.monotonic()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1] if self._listener else self._port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "VirtualIPhone":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self._port))
        except OSError as exc:
            listener.close()
            raise UsageError(f"--usbmux {self.host}:{self._port}: cannot listen there ({exc}); "
                             f"pick another port or 0 for a free one") from None
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener = listener
        self._started = time.monotonic()
        try:
            self._start_tunnel()
        except BaseException:
            self.stop()
            raise
        threading.Thread(target=self._accept, name="usbmuxd", daemon=True).start()
        return self

    def _start_tunnel(self) -> None:
        if self._tunneld_at is None:
            return
        from .tunnel import DTSERVICEHUB, LOCKDOWN_TRUSTED, RemoteLockdown, Tunneld, TunnelHost
        from .tunnel import tunnel_entry

        if self.profile.tunnel:
            services: dict[str, Any] = {LOCKDOWN_TRUSTED: RemoteLockdown(self.lockdownd)}
            if self.profile.ddi_mounted and self.profile.developer_mode:
                # iOS 17+ lists the developer services only with the personalized image mounted
                services[DTSERVICEHUB] = Instruments(self.processes)
            self.tunnel = TunnelHost(self.host, services, self.profile.trusted_handshake,
                                     self._values, self.profile.udid,
                                     on_traffic=self._traffic).start()
        tunnel, udid = self.tunnel, self.profile.udid
        host, port = self._tunneld_at
        try:
            self.tunneld = Tunneld(host, port, lambda: {udid: [tunnel_entry(tunnel)]}
                                   if tunnel is not None else {}).start()
        except OSError as exc:
            raise UsageError(f"--tunneld {host}:{port}: cannot listen there ({exc}); pick "
                             f"another port or 0 for a free one") from None

    @property
    def tunneld_address(self) -> str | None:
        """Where the tunneld stand-in listens (EDGELAB_TUNNELD for edgelab), if it runs."""
        return self.tunneld.address if self.tunneld is not None else None

    def _traffic(self) -> None:
        self._last_traffic = time.monotonic()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            now = time.monotonic()
            if (self.max_lifetime_s and now - self._started > self.max_lifetime_s) or \
                    (self.idle_timeout_s and now - self._last_traffic > self.idle_timeout_s):
                self.stop()
                return
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            self._last_traffic = time.monotonic()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(60)  # a client that stops talking mid-packet frees its thread
            try:
                self.usbmuxd.serve(conn)
            except (OSError, ValueError):
                pass  # the client went away or sent garbage: that connection ends, no other
            self._last_traffic = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()
        for pid in list(self.processes.running):  # a hanging virtual runner ends with its phone
            self.processes.kill(pid)
        self.containers.cleanup()
        for server in (self.tunneld, self.tunnel):
            if server is not None:
                server.stop()
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def __enter__(self) -> "VirtualIPhone":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
