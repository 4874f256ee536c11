"""The EdgelabRunner .ipa a lab registered once, and installing it on an iPhone.

A user builds and signs the runner on a Mac (docs/ios.md) and registers the .ipa with
``python -m harness ios-runner add EdgelabRunner.ipa``: it is checked (a zip with
``Payload/<name>.app/Info.plist`` of bundle id org.edgelab.EdgelabRunner) and copied into
``<cache>/ios/``. A Core ML cell on an iPhone without the runner installs it through
installation_proxy (pymobiledevice3 uploads it over AFC to PublicStaging first). A phone that
refuses it says why: too old for the app's MinimumOSVersion is ``unsupported`` with both
versions; a signature the phone does not accept (a team that does not include this phone, an
expired free profile) is ``unsupported`` with the fix.

Checked against the virtual iPhone with the real pymobiledevice3 client, which cannot check
signatures: NOT RUN ON A REAL iPHONE.
"""
from __future__ import annotations

import io
import json
import plistlib
import re
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import Unsupported, UsageError
from .ios_files import RUNNER_BUNDLE_ID

_APP_PLIST = re.compile(r"^Payload/[^/]+\.app/Info\.plist$")
SIGNING_FIX = ("sign the runner with a development team that includes this iPhone (its UDID "
               "registered; free personal-team profiles expire after 7 days), rebuild the .ipa "
               "and register it again (docs/ios.md)")


def runner_dir() -> Path:
    from ..models.fetch import default_cache_dir

    return default_cache_dir() / "ios"


def inspect_ipa(path: Path) -> dict[str, Any]:
    """The runner's Info.plist facts from an .ipa; UsageError naming what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(Path(path).read_bytes()))
    except (OSError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path}: not an .ipa ({exc}); export one with xcodebuild "
                         f"-exportArchive (docs/ios.md)") from None
    names = [n for n in archive.namelist() if _APP_PLIST.match(n)]
    if not names:
        raise UsageError(f"{path}: no Payload/<name>.app/Info.plist inside: not an app archive")
    info = plistlib.loads(archive.read(names[0]))
    bundle = info.get("CFBundleIdentifier")
    if bundle != RUNNER_BUNDLE_ID:
        raise UsageError(f"{path}: bundle id {bundle!r} is not the runner's {RUNNER_BUNDLE_ID!r} "
                         f"(build ios/EdgelabRunner as is; project.yml sets it)")
    return {"bundle_id": bundle, "version": info.get("CFBundleShortVersionString"),
            "build": info.get("CFBundleVersion"),
            "minimum_ios": info.get("MinimumOSVersion")}


def register(path: Path) -> dict[str, Any]:
    from .pushcache import local_sha256

    facts = inspect_ipa(path)
    folder = runner_dir()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, folder / "EdgelabRunner.ipa")
    facts.update({"sha256": local_sha256(folder / "EdgelabRunner.ipa"), "source": str(path),
                  "registered": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    (folder / "EdgelabRunner.json").write_text(json.dumps(facts, indent=2) + "\n")
    return facts


def registered() -> tuple[Path, dict[str, Any]] | None:
    folder = runner_dir()
    ipa, facts = folder / "EdgelabRunner.ipa", folder / "EdgelabRunner.json"
    if not (ipa.is_file() and facts.is_file()):
        return None
    return ipa, json.loads(facts.read_text())


async def install(udid: str, address: str | None, ipa: Path, device_version: str | None) -> None:
    from pymobiledevice3.exceptions import AppInstallError
    from pymobiledevice3.lockdown import create_using_usbmux
    from pymobiledevice3.services.installation_proxy import InstallationProxyService

    lockdown = await create_using_usbmux(udid, autopair=False, usbmux_address=address)
    try:
        await InstallationProxyService(lockdown).install_from_local(Path(ipa))
    except AppInstallError as exc:
        text = str(exc)
        if "DeviceOSVersionTooLow" in text:
            raise Unsupported(f"the registered EdgelabRunner cannot be installed: {text} "
                              f"(this iPhone: iOS {device_version}); lower the app's deployment "
                              f"target or use a newer iPhone") from None
        raise Unsupported(f"the iPhone refused the registered EdgelabRunner: {text}; "
                          f"{SIGNING_FIX}") from None
    finally:
        await lockdown.close()
