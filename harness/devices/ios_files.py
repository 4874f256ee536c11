"""Files into and out of the EdgelabRunner app's Documents on an iPhone (house_arrest + AFC).

iOS gives a host no shared file system: files reach an app through house_arrest, which vends
the app's container (here ``VendDocuments``: its Documents folder, where the runner reads its
job) over AFC. An app that is not installed is ``AppNotInstalledError``: the runner was never
built and installed, which ``RunnerMissing`` says with the steps.

Pushes are deduplicated by content like Android's: AFC has no checksum command, so what edgelab
pushed is listed, with each file's sha256, in ``/edgelab/.pushed.json`` on the phone (read
once per push); a file whose size and recorded hash match is not sent again. A directory
(Core ML's ``.mlpackage``/``.mlmodelc``) is sent file by file.

Against the virtual iPhone with the real pymobiledevice3 client only: NOT RUN ON A REAL iPHONE.
"""
from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from ..errors import Unsupported
from .pushcache import local_sha256

RUNNER_BUNDLE_ID = "org.edgelab.EdgelabRunner"  # ios/EdgelabRunner/project.yml
PUSHED_INDEX = "/edgelab/.pushed.json"
RUNNER_STEPS = ("build and sign ios/EdgelabRunner once with your team id and install it on the "
                "iPhone (docs/ios.md, 'Build the runner app')")


class RunnerMissing(Unsupported):
    """The EdgelabRunner app is not installed on this iPhone."""


async def _documents(udid: str, address: str | None):
    """A lockdown session and house_arrest vending the runner's Documents."""
    from pymobiledevice3.exceptions import AppNotInstalledError
    from pymobiledevice3.lockdown import create_using_usbmux
    from pymobiledevice3.services.house_arrest import HouseArrestService

    lockdown = await create_using_usbmux(udid, autopair=False, usbmux_address=address)
    try:
        return lockdown, await HouseArrestService.create(lockdown, RUNNER_BUNDLE_ID,
                                                         documents_only=True)
    except AppNotInstalledError:
        await lockdown.close()
        raise RunnerMissing(f"the EdgelabRunner app ({RUNNER_BUNDLE_ID}) is not installed on "
                            f"this iPhone: {RUNNER_STEPS}") from None
    except BaseException:
        await lockdown.close()
        raise


async def runner_installed(udid: str, address: str | None) -> None:
    """Raises RunnerMissing (Unsupported, with the steps) unless the runner is installed."""
    lockdown, afc = await _documents(udid, address)
    await afc.close()
    await lockdown.close()


async def push(udid: str, address: str | None, local: Path, remote_dir: str) -> dict[str, Any]:
    """``local`` (a file or a directory) into ``remote_dir`` of the runner's Documents; returns
    ``{"path", "pushed_files", "pushed_bytes", "skipped_files"}``."""
    local = Path(local)
    lockdown, afc = await _documents(udid, address)
    try:
        index = await _read_index(afc)
        root = posixpath.join(remote_dir, local.name)
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        stats = {"path": root, "pushed_files": 0, "pushed_bytes": 0, "skipped_files": 0}
        for path in files:
            target = root if path == local else posixpath.join(
                root, path.relative_to(local).as_posix())
            digest = local_sha256(path)
            if index.get(target) == digest and await _size(afc, target) == path.stat().st_size:
                stats["skipped_files"] += 1
                continue
            await afc.makedirs(posixpath.dirname(target))
            await afc.set_file_contents(target, path.read_bytes())
            index[target] = digest
            stats["pushed_files"] += 1
            stats["pushed_bytes"] += path.stat().st_size
        await afc.makedirs(posixpath.dirname(PUSHED_INDEX))
        await afc.set_file_contents(PUSHED_INDEX, json.dumps(index, sort_keys=True).encode())
        return stats
    finally:
        await afc.close()
        await lockdown.close()


async def pull(udid: str, address: str | None, remote: str, local: Path) -> Path:
    lockdown, afc = await _documents(udid, address)
    try:
        data = await afc.get_file_contents(remote)
    finally:
        await afc.close()
        await lockdown.close()
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    Path(local).write_bytes(data)
    return Path(local)


async def _read_index(afc) -> dict[str, str]:
    from pymobiledevice3.exceptions import AfcFileNotFoundError

    try:
        return dict(json.loads(await afc.get_file_contents(PUSHED_INDEX)))
    except (AfcFileNotFoundError, ValueError, TypeError):
        return {}  # first push, or an index someone broke: everything is sent again


async def _size(afc, path: str) -> int | None:
    from pymobiledevice3.exceptions import AfcFileNotFoundError

    try:
        return int((await afc.stat(path))["st_size"])
    except AfcFileNotFoundError:
        return None
