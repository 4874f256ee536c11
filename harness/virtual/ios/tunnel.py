"""The virtual iPhone's iOS 17+ RemoteXPC tunnel, as a host meets it through pymobiledevice3's
``tunneld``: a tunneld stand-in (HTTP on loopback) and the phone's side of the tunnel (the RSD
port and the services it lists, each a loopback TCP port).

On a real host ``sudo python3 -m pymobiledevice3 remote tunneld`` builds the tunnel (QUIC over
the USB network interface, or CoreDeviceProxy over usbmux from iOS 17.4) and serves
``GET /`` on 127.0.0.1:49151: ``{udid: [{"tunnel-address", "tunnel-port", "interface",
"auxiliary-metadata", "origin"}]}``, the device's address inside the tunnel and its RSD port.
Clients (``pymobiledevice3.tunneld.api``) then dial that address directly: the RSD handshake
(rsd.py), then each service's port, in plain TCP (the tunnel is the encryption).

The stand-in plays what is on either side of the tunnel, not the tunnel: ``tunnel-address`` is
the loopback address it listens on, and no QUIC, TUN device or CoreDeviceProxy exists here.
What it serves there:

- the RSD port (rsd.py): the phone's captured trusted handshake, listing only the services below;
- ``com.apple.mobile.lockdown.remote.trusted``: the ``RSDCheckin`` preamble (the phone echoes
  the check-in, then sends ``StartService``), then lockdownd's plist protocol as a trusted
  session (no StartSession, no TLS): what RSD clients read ``all_values`` and the clock from;
- ``com.apple.instruments.dtservicehub``, when the developer disk image is mounted: the same
  DTX server (instruments.py) as over lockdown, in plain TCP and without a check-in (a
  RemoteXPC-era service, as pymobiledevice3's DtxServiceProvider dials it).

``[state] tunnel`` says whether tunneld lists the phone; with it false tunneld answers ``{}``:
edgelab's "tunnel not running".
"""
from __future__ import annotations

import json
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .lockdownd import read_plist, write_plist
from .rsd import RsdServer, handshake_for

LOCKDOWN_TRUSTED = "com.apple.mobile.lockdown.remote.trusted"
DTSERVICEHUB = "com.apple.instruments.dtservicehub"
TUNNELD_DEFAULT_PORT = 49151  # pymobiledevice3's tunneld (tunneld/api.py TUNNELD_DEFAULT_ADDRESS)
# CONFIGURATION: the name tunneld gives the tunnel (a real one: the USB network interface's
# address, or "usbmux-<udid>-USB" for a CoreDeviceProxy tunnel); clients use it only as a label
INTERFACE = "edgelab-virtual-tunnel"


class RemoteLockdown:
    """``com.apple.mobile.lockdown.remote.trusted``: the check-in, then a trusted lockdownd."""

    def __init__(self, lockdownd):
        self.lockdownd = lockdownd
        self.checkins: list[dict[str, Any]] = []

    def serve(self, sock: socket.socket) -> None:
        checkin = read_plist(sock)
        if checkin is None:
            return
        self.checkins.append(checkin)
        if checkin.get("Request") != "RSDCheckin":
            write_plist(sock, {"Request": str(checkin.get("Request", "")),
                               "Error": "InvalidRequest"})
            return
        write_plist(sock, {"Request": "RSDCheckin", "Label": checkin.get("Label", ""),
                           "ProtocolVersion": checkin.get("ProtocolVersion", "2")})
        write_plist(sock, {"Request": "StartService"})
        self.lockdownd.serve(sock, session=True)


class TunnelHost:
    """The device's end of the tunnel: one loopback listener per port (the RSD's and each
    service's), a thread per connection; ``stop`` closes the listeners and every connection."""

    def __init__(self, host: str, services: dict[str, Any], captured: dict[str, Any],
                 values: dict[str, Any], udid: str,
                 on_traffic: Callable[[], None] | None = None):
        self.host = host
        self.services = services
        self._on_traffic = on_traffic or (lambda: None)
        self._listeners: dict[socket.socket, Any] = {}
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        ports = {name: self._listen(handler) for name, handler in services.items()}
        self.rsd = RsdServer(handshake_for(captured, values, udid, ports))
        self.rsd_port = self._listen(self.rsd)
        self.ports = ports

    def _listen(self, handler) -> int:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(16)
        self._listeners[listener] = handler
        return listener.getsockname()[1]

    def start(self) -> "TunnelHost":
        threading.Thread(target=self._accept, name="virtual-tunnel", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                ready, _, _ = select.select(list(self._listeners), [], [], 0.2)
            except (OSError, ValueError):
                return  # a listener was closed: stopping
            for listener in ready:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                self._on_traffic()
                threading.Thread(target=self._serve, args=(conn, self._listeners[listener]),
                                 name="virtual-tunnel-conn", daemon=True).start()

    def _serve(self, conn: socket.socket, handler) -> None:
        with self._lock:
            self._connections.add(conn)
        try:
            conn.settimeout(60)  # a host that stops talking mid-message frees its thread
            handler.serve(conn)
        except (OSError, ValueError):
            pass  # the host went away or sent garbage: that connection ends, no other
        finally:
            with self._lock:
                self._connections.discard(conn)
            try:
                conn.close()
            except OSError:
                pass
            self._on_traffic()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            sockets = list(self._listeners) + list(self._connections)
        for sock in sockets:
            try:
                if sock not in self._listeners:
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass


class Tunneld:
    """tunneld's HTTP API as clients read it: ``GET /`` the tunnels, ``GET /hello``."""

    def __init__(self, host: str, port: int, tunnels: Callable[[], dict[str, list]]):
        self.tunnels = tunnels
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests.append(self.path)
                path = self.path.split("?")[0]
                if path == "/":
                    self._json(200, owner.tunnels())
                elif path == "/hello":
                    self._json(200, {"message": "Hello, I'm alive"})
                else:
                    self._json(404, {"detail": "Not Found"})

            def _json(self, status: int, data: Any) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet: the stand-in's stderr is for people
                pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self._serving: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> "Tunneld":
        self._serving = threading.Thread(target=self.server.serve_forever,
                                         kwargs={"poll_interval": 0.2}, name="virtual-tunneld",
                                         daemon=True)
        self._serving.start()
        return self

    def stop(self) -> None:
        if self._serving is not None and self._serving.is_alive():
            self.server.shutdown()  # returns once serve_forever has ended
        self._serving = None
        self.server.server_close()


def tunnel_entry(tunnel: TunnelHost) -> dict[str, Any]:
    """One tunnel as tunneld lists it (tunneld/server.py ``list_tunnels``)."""
    return {"tunnel-address": tunnel.host, "tunnel-port": tunnel.rsd_port,
            "interface": INTERFACE, "auxiliary-metadata": {}, "origin": None}
