"""installation_proxy on the virtual iPhone: install an .ipa staged over AFC, look apps up.

``Install``/``Upgrade`` name a ``PackagePath`` under the media root (``/PublicStaging/...``,
where pymobiledevice3 uploads through ``com.apple.afc``); the answer is a stream of status plists
ending in ``{"Status": "Complete"}``, or one ``{"Error", "ErrorDescription"}``. What a real phone
checks and the stand-in checks too: the package is a zip with ``Payload/<name>.app/Info.plist``
naming a ``CFBundleIdentifier``, and its ``MinimumOSVersion`` is not newer than the phone's iOS.
What it cannot check: the code signature and provisioning profile (a real phone refuses an
unsigned or foreign-team app with ``ApplicationVerificationFailed``). ``Lookup`` answers
``LookupResult`` for the installed apps.
"""
from __future__ import annotations

import io
import plistlib
import re
import socket
import zipfile
from pathlib import Path
from typing import Any

from .lockdownd import read_plist, write_plist

INSTALLATION_PROXY = "com.apple.mobile.installation_proxy"
AFC = "com.apple.afc"
_APP_PLIST = re.compile(r"^Payload/[^/]+\.app/Info\.plist$")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", str(text))[:3])


def read_ipa(data: bytes) -> dict[str, Any]:
    """The app's Info.plist from an .ipa's bytes; ValueError naming what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ValueError("the package is not a zip archive (an .ipa is one)") from None
    names = [n for n in archive.namelist() if _APP_PLIST.match(n)]
    if not names:
        raise ValueError("no Payload/<name>.app/Info.plist in the package")
    info = plistlib.loads(archive.read(names[0]))
    if not info.get("CFBundleIdentifier"):
        raise ValueError(f"{names[0]} has no CFBundleIdentifier")
    return info


class InstallationProxy:
    def __init__(self, containers, media_root: Path, os_version: str | None):
        self.containers = containers
        self.media_root = media_root
        self.os_version = os_version
        self.installed: dict[str, dict[str, Any]] = {
            bundle: {"CFBundleIdentifier": bundle} for bundle in containers.by_bundle}

    def serve(self, sock: socket.socket) -> None:
        while True:
            message = read_plist(sock)
            if message is None:
                return
            command = message.get("Command")
            if command in ("Install", "Upgrade"):
                for answer in self._install(str(message.get("PackagePath", ""))):
                    write_plist(sock, answer)
            elif command == "Lookup":
                wanted = (message.get("ClientOptions") or {}).get("BundleIDs")
                found = {b: i for b, i in self.installed.items() if not wanted or b in wanted}
                write_plist(sock, {"LookupResult": found, "Status": "Complete"})
            else:
                write_plist(sock, {"Error": "UnknownCommand", "ErrorDescription": str(command)})

    def _install(self, package_path: str) -> list[dict[str, Any]]:
        path = (self.media_root / package_path.lstrip("/")).resolve()
        if self.media_root.resolve() not in path.parents or not path.is_file():
            return [{"Error": "PackageInspectionFailed",
                     "ErrorDescription": f"no package at {package_path}"}]
        try:
            info = read_ipa(path.read_bytes())
        except ValueError as exc:
            return [{"Error": "PackageInspectionFailed", "ErrorDescription": str(exc)}]
        needs = info.get("MinimumOSVersion")
        if needs and self.os_version and _version(needs) > _version(self.os_version):
            return [{"Error": "DeviceOSVersionTooLow",
                     "ErrorDescription": f"the app needs iOS {needs}; this device runs iOS "
                                         f"{self.os_version}"}]
        bundle = info["CFBundleIdentifier"]
        self.containers.add(bundle)
        self.installed[bundle] = {k: info[k] for k in ("CFBundleIdentifier",
                                                        "CFBundleShortVersionString",
                                                        "CFBundleVersion") if k in info}
        return [{"PercentComplete": 40, "Status": "VerifyingApplication"},
                {"PercentComplete": 90, "Status": "InstallingApplication"},
                {"Status": "Complete"}]
