"""STF (DeviceFarmer) as a source of phones: reserve, remote-connect, run, release.

``--stf-url URL`` with the access token in ``EDGELAB_STF_TOKEN`` (STF UI: Settings > Keys). The
token is sent only in the ``Authorization: Bearer`` header: it never appears in argv, messages,
logs, run.json or the report. STF's REST API (doc/API.md of DeviceFarmer/stf, ``/api/v1``):

1. ``GET /devices``: every device; the usable ones are ``present``, ``ready`` and not ``using``
   (in use by someone) and have no ``owner``.
2. ``POST /user/devices {"serial", "timeout"}``: reserve (``timeout`` ms: STF frees it by itself
   after that, should this process die without releasing).
3. ``POST /user/devices/{serial}/remoteConnect``: STF opens adb over TCP and answers
   ``remoteConnectUrl`` (host:port); edgelab then ``adb connect``s it (``--adb-connect``).
4. At the end, always (``release_all`` runs in ``finally``/``pytest_unconfigure``):
   ``DELETE /user/devices/{serial}/remoteConnect`` and ``DELETE /user/devices/{serial}``.

With ``--device=all`` every usable STF device is reserved; with ids, the ``--device`` values that
are STF serials. Under xdist only the controller talks to STF; workers reach the phones through
the adb server the controller connected them to.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from ..errors import UsageError

TOKEN_ENV = "EDGELAB_STF_TOKEN"
RESERVE_TIMEOUT_MS = 4 * 3600 * 1000  # STF releases a forgotten reservation after this


class StfError(UsageError):
    pass


@dataclass
class Stf:
    url: str
    token: str = field(repr=False)  # never in repr, messages or files
    timeout_s: float = 30.0
    reserved: list[str] = field(default_factory=list)
    connected: dict[str, str] = field(default_factory=dict)  # serial -> remoteConnectUrl

    @classmethod
    def from_environment(cls, url: str) -> "Stf":
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise StfError(f"--stf-url {url}: no access token; put it in {TOKEN_ENV} (STF UI: "
                           f"Settings > Keys > Access Tokens), never on the command line")
        return cls(url.rstrip("/"), token)

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                said = json.loads(exc.read() or b"{}").get("description", "")
            except ValueError:
                said = ""
            if exc.code == 401:
                raise StfError(f"STF {self.url} refused the access token in {TOKEN_ENV} (401"
                               f"{': ' + said if said else ''}); create a new one in the STF UI "
                               f"(Settings > Keys)") from None
            raise StfError(f"STF {method} {path}: HTTP {exc.code}{': ' + said if said else ''}"
                           ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StfError(f"STF {self.url} unreachable ({reason}); check --stf-url") from None

    def usable(self) -> list[dict]:
        devices = self._call("GET", "/devices").get("devices", [])
        return [d for d in devices if d.get("present") and d.get("ready")
                and not d.get("using") and not d.get("owner")]

    def reserve(self, wanted: tuple[str, ...]) -> list[str]:
        """Reserve and remote-connect the wanted devices (all usable ones for ``all``);
        returns the adb addresses to connect. Whatever was reserved is released on failure."""
        usable = {d["serial"]: d for d in self.usable()}
        serials = list(usable) if "all" in wanted else [w for w in wanted if w in usable]
        try:
            for serial in serials:
                self._call("POST", "/user/devices", {"serial": serial,
                                                     "timeout": RESERVE_TIMEOUT_MS})
                self.reserved.append(serial)
                answer = self._call("POST", f"/user/devices/{serial}/remoteConnect")
                self.connected[serial] = answer["remoteConnectUrl"]
        except BaseException:
            self.release_all()
            raise
        return list(self.connected.values())

    def release_all(self) -> list[str]:
        """Disconnect and release every reservation; the problems, one line each (never the
        token). Safe to call twice."""
        problems = []
        for serial in list(self.reserved):
            for path in ([f"/user/devices/{serial}/remoteConnect"] if serial in self.connected
                         else []) + [f"/user/devices/{serial}"]:
                try:
                    self._call("DELETE", path)
                except StfError as exc:
                    problems.append(f"STF release of {serial}: {exc}")
            self.connected.pop(serial, None)
            self.reserved.remove(serial)
        return problems
