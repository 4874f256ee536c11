"""A local stand-in for an STF (DeviceFarmer) server that hands out virtual phones.

It follows STF's documented REST API (doc/API.md, ``/api/v1``, ``Authorization: Bearer``): GET
/devices, GET /user/devices, POST /user/devices {serial, timeout}, POST and DELETE
/user/devices/{serial}/remoteConnect, DELETE /user/devices/{serial}; 401 without the right token,
403 for a device someone else uses. Its devices are virtual phones (their adb ``remoteConnectUrl``
is the phone's own 127.0.0.1:PORT); every request is kept in ``log`` (method, path, the
Authorization header) so tests can check what the client did and that it released everything.
Binds 127.0.0.1, stops with ``close()``.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StfStandIn:
    def __init__(self, token: str, phones: dict[str, object], busy: set[str] = frozenset()):
        """``phones``: STF serial -> VirtualDevice; ``busy``: serials another user holds."""
        self.token, self.phones = token, phones
        self.owner: dict[str, str] = {s: "someone@else" for s in busy}
        self.connected: set[str] = set()
        self.log: list[tuple[str, str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        stf = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the test reads stf.log
                pass

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                auth = self.headers.get("Authorization", "")
                stf.log.append((method, self.path, auth))
                if auth != f"Bearer {stf.token}":
                    return self._reply(401, {"success": False,
                                             "description": "Requires authentication"})
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                parts = [p for p in self.path.split("?")[0].split("/") if p][2:]  # after api/v1
                return stf.route(self, method, parts, body)

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_DELETE(self):
                self._route("DELETE")

        return Handler

    def _device(self, serial: str) -> dict:
        phone = self.phones[serial]
        owner = self.owner.get(serial)
        return {"serial": serial, "present": True, "ready": True, "using": owner == "me",
                "owner": {"email": owner} if owner else None, "model": phone.profile.model,
                "remoteConnect": serial in self.connected}

    def route(self, handler, method: str, parts: list[str], body: dict) -> None:
        reply = handler._reply
        if parts == ["devices"] and method == "GET":
            return reply(200, {"success": True,
                               "devices": [self._device(s) for s in self.phones]})
        if parts == ["user", "devices"] and method == "GET":
            return reply(200, {"success": True, "devices": [self._device(s) for s in self.phones
                                                            if self.owner.get(s) == "me"]})
        if parts == ["user", "devices"] and method == "POST":
            serial = body.get("serial")
            if serial not in self.phones:
                return reply(404, {"success": False, "description": "Unknown device"})
            if self.owner.get(serial):
                return reply(403, {"success": False, "description": "Device is being used"})
            self.owner[serial] = "me"
            return reply(200, {"success": True, "description": "Device successfully added"})
        if len(parts) >= 3 and parts[:2] == ["user", "devices"]:
            serial = parts[2]
            if self.owner.get(serial) != "me":
                return reply(403, {"success": False, "description": "You cannot release this "
                                                                      "device. Not owned by you"})
            if parts[3:] == ["remoteConnect"] and method == "POST":
                self.connected.add(serial)
                return reply(200, {"success": True, "serial": serial,
                                   "remoteConnectUrl": self.phones[serial].serial})
            if parts[3:] == ["remoteConnect"] and method == "DELETE":
                self.connected.discard(serial)
                return reply(200, {"success": True, "description": "Device remote disconnected"})
            if not parts[3:] and method == "DELETE":
                del self.owner[serial]
                return reply(200, {"success": True, "description": "Device successfully removed"})
        return reply(404, {"success": False, "description": "Not Found"})
