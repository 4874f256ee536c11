"""iPhones over usbmux, with pymobiledevice3 (the ``ios`` extra, imported only here, lazily).

Discovery asks usbmuxd for its devices (``USBMUXD_SOCKET_ADDRESS=HOST:PORT`` or a socket path,
as libusbmuxd and pymobiledevice3 read it; else /var/run/usbmuxd), then lockdownd of each for
ProductType, ProductVersion, CPUArchitecture and whether it trusts this computer. A phone that
needs a person (not paired, locked, trust denied, Developer Mode off, iOS 17+ tunnel not
running, developer disk image not mounted) is listed in that state with the fix
(devices/ios_states.py), and each phone's probe is bounded (``PROBE_TIMEOUT_S``): a silent phone
is "not answering", never a hang. Phones that answer ``EdgelabVirtual`` are the harness's own
stand-in (harness/virtual/ios/) and are labelled virtual.

Measuring runs Core ML through the EdgelabRunner app (ios/EdgelabRunner/, docs/ios.md): the
model and job go into its Documents through house_arrest/AFC (ios_files.py), the app is launched
through the developer services' process control and its results collected (ios_process.py,
ios_run.py); without the app installed the cells are ``unsupported`` with the steps to build and
install it, and other engines are ``unsupported`` on iOS.
"""
from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import InfraError, MeasurementError, Unsupported, UsageError
from . import ios_states
from .base import DeviceInfo, ExecResult, no_preparation
from .ios_chips import chip_of

PROBE_TIMEOUT_S = 10.0   # one phone's lockdown answers; a real phone answers in well under 1 s
LIST_TIMEOUT_S = 5.0     # usbmuxd's device list
DEFAULT_USBMUXD = "/var/run/usbmuxd"
VIRTUAL_KEY = "EdgelabVirtual"
INSTALL_HINT = "pip install 'edgelab[ios]'"
RESULTS = "/edgelab/results.json"   # where the runner writes (job "results", Runner.swift)
# pymobiledevice3's exceptions from the developer services, and what a person does about them
SERVICE_FIXES = {
    # lockdownd refuses to start the developer services without the disk image (iOS < 17)
    "InvalidServiceError": "mount the developer disk image: `pymobiledevice3 mounter auto-mount`",
    "StartServiceError": "mount the developer disk image: `pymobiledevice3 mounter auto-mount`",
    "DTXNsError": "replug the iPhone and unlock it; if it stays, reboot it",
    "ConnectionTerminatedError": ios_states.fix_for(ios_states.NOT_ANSWERING),
    "TunneldConnectionError": "sudo python3 -m pymobiledevice3 remote tunneld, keep it running "
                              "(edgelab asks it at EDGELAB_TUNNELD=HOST:PORT, default "
                              "127.0.0.1:49151)",
    # usbmuxd itself went away mid-run (restarted, or the stand-in stopped)
    "ConnectionFailedToUsbmuxdError": "start usbmuxd (`sudo systemctl start usbmuxd`; or check "
                                      "USBMUXD_SOCKET_ADDRESS), replug the iPhone, then re-run",
}
# a phone that changed since discovery: pymobiledevice3's exception -> the state it is in now
ERROR_STATES = {"PasswordRequiredError": ios_states.LOCKED, "NotPairedError": ios_states.NOT_PAIRED}


def fix_for_error(name: str) -> str | None:
    """What a person does about pymobiledevice3's exception ``name`` (its class name), if known."""
    state = ERROR_STATES.get(name)
    return ios_states.fix_for(state) if state else SERVICE_FIXES.get(name)


def usbmux_address() -> str | None:
    """Where usbmuxd listens, when it is not the system socket (pymobiledevice3 reads the same
    variable itself; edgelab reads it to say where it looked)."""
    return os.environ.get("USBMUXD_SOCKET_ADDRESS") or None


def discover(notes: list[str] | None = None, **_ignored) -> list[DeviceInfo]:
    notes = notes if notes is not None else []
    try:
        import pymobiledevice3  # noqa: F401 - the ios extra
    except ImportError:
        notes.append(f"ios: pymobiledevice3 is not installed, iPhones are not looked for "
                     f"({INSTALL_HINT})")
        return []
    address = usbmux_address()
    if address is None and not Path(DEFAULT_USBMUXD).exists():
        notes.append(f"ios: no usbmuxd at {DEFAULT_USBMUXD}: install and start usbmuxd "
                     f"(`apt-get install usbmuxd`) to include iPhones, or set "
                     f"USBMUXD_SOCKET_ADDRESS=HOST:PORT")
        return []
    where = address or DEFAULT_USBMUXD
    try:  # said once here; each iOS 17+ phone's probe would only find "tunnel not running"
        from .ios_process import tunneld_address

        tunneld_address()
    except UsageError as exc:
        notes.append(f"ios: {exc} (iOS 17+ iPhones are listed as 'tunnel not running' until it is)")
    try:
        found = _run(_discover(address, notes), LIST_TIMEOUT_S + PROBE_TIMEOUT_S * 4)
    except TimeoutError:
        notes.append(f"ios: usbmuxd at {where} did not answer within its bound; iPhones left out "
                     f"(restart usbmuxd: `sudo systemctl restart usbmuxd`)")
        return []
    except Exception as exc:  # the daemon is down or speaks something else
        notes.append(f"ios: usbmuxd at {where}: {type(exc).__name__}: {exc or exc.__doc__}")
        return []
    return found


def _run(coro, timeout_s: float):
    """Run ``coro`` on a fresh event loop in a daemon thread, bounded: pytest may already run a
    loop in this thread, and a stuck socket must not keep the process from ending."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="ios-discovery", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"iOS discovery took over {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _discover(address: str | None, notes: list[str]) -> list[DeviceInfo]:
    from pymobiledevice3 import usbmux

    devices = await asyncio.wait_for(usbmux.list_devices(usbmux_address=address), LIST_TIMEOUT_S)
    found = []
    for mux_device in devices:
        try:
            found.append(await asyncio.wait_for(_probe(mux_device, address),
                                                PROBE_TIMEOUT_S))
        except asyncio.TimeoutError:
            found.append(_info(mux_device.serial, {}, ios_states.NOT_ANSWERING, address,
                               mux_device.connection_type))
            notes.append(f"ios: {mux_device.serial} did not answer lockdown within "
                         f"{PROBE_TIMEOUT_S:g} s")
        except Exception as exc:
            found.append(_info(mux_device.serial, {}, ios_states.NOT_ANSWERING, address,
                               mux_device.connection_type))
            notes.append(f"ios: {mux_device.serial}: {type(exc).__name__}: {exc or exc.__doc__}")
    return found


async def _probe(mux_device, address: str | None) -> DeviceInfo:
    from pymobiledevice3.lockdown import create_using_usbmux

    lockdown = await create_using_usbmux(mux_device.serial, autopair=False,
                                         connection_type=mux_device.connection_type,
                                         usbmux_address=address)
    try:
        values = dict(lockdown.all_values)
        if not lockdown.paired:
            state = await _pairing_state(lockdown)
        if lockdown.paired:  # already, or the one Pair attempt just succeeded
            values = dict(lockdown.all_values)  # a session shows more than the untrusted set
            state = await _trusted_state(lockdown, values)
    finally:
        await lockdown.close()
    return _info(mux_device.serial, values, state, address, mux_device.connection_type)


async def _pairing_state(lockdown) -> str:
    """One Pair attempt that does not wait (``timeout=0``): a phone that already trusts us
    pairs, otherwise its refusal says which person-step is missing. It shows the Trust dialog
    on the phone, which is what the fix asks the person to answer."""
    try:
        await lockdown.pair(timeout=0)
    except Exception as exc:
        return ios_states.PAIR_REFUSALS.get(type(exc).__name__, ios_states.NOT_PAIRED)
    await lockdown.validate_pairing()  # the session the trusted questions need
    return ios_states.READY


async def _trusted_state(lockdown, values: dict[str, Any]) -> str:
    """Developer Mode, the iOS 17+ tunnel and (before iOS 17) the developer disk image of a
    paired phone. Checked against the trusted stand-in (TLS session and service; on iOS 17+ its
    tunneld stand-in, at ``EDGELAB_TUNNELD``), NOT on a real iPhone yet. A question that fails
    is "could not tell" (None), not held against the phone, except the tunnel: no tunneld (or
    none listing the phone) is "tunnel not running". On iOS 17+ the personalized disk image is
    only reachable through the tunnel: not asked."""
    version = values.get("ProductVersion")
    developer_mode = tunnel = mounted = None
    try:
        if lockdown.has_developer_mode:
            developer_mode = bool(await lockdown.get_developer_mode_status())
    except Exception:
        pass
    major = ios_states.major_version(version)
    if major is not None and major >= 17:
        try:
            from pymobiledevice3.tunneld.api import get_tunneld_tunnels

            from .ios_process import tunneld_address

            tunnel = lockdown.udid in await get_tunneld_tunnels(tunneld_address())
        except Exception:  # TunneldConnectionError: no tunneld there; EDGELAB_TUNNELD unusable
            tunnel = False
    else:
        try:
            from pymobiledevice3.services.mobile_image_mounter import MobileImageMounterService

            mounted = await MobileImageMounterService(lockdown).is_image_mounted("Developer")
        except Exception:
            pass
    return ios_states.trusted_state(version, developer_mode, tunnel, mounted)


def _info(udid: str, values: dict[str, Any], state: str, address: str | None,
          connection_type: str | None) -> DeviceInfo:
    product_type = values.get("ProductType")
    chip = chip_of(product_type)
    arch = values.get("CPUArchitecture")
    details: dict[str, Any] = {
        "product_type": product_type, "product_version": values.get("ProductVersion"),
        "build_version": values.get("BuildVersion"), "device_name": values.get("DeviceName"),
        "cpu_architecture": arch or chip["arch"],
        "cpu_architecture_from": "lockdown" if arch else ("chip table" if chip["arch"] else None),
        "chip": chip["chip"], "hardware_platform": values.get("HardwarePlatform"),
        "connection": connection_type, "usbmux": address or DEFAULT_USBMUXD,
        "usbmux_address": address,  # None: pymobiledevice3's default socket
    }
    fix = ios_states.fix_for(state)
    if fix:
        details["fix"] = fix
    return DeviceInfo(id=udid, kind="ios", serial=udid, model=str(product_type or "iPhone"),
                      state=state, virtual=values.get(VIRTUAL_KEY) is True,
                      details={k: v for k, v in details.items() if v is not None})


class IOSDevice:
    """An iPhone found by discovery. Only a ready one is opened (run/measure.py checks the
    state first); what it is comes from discovery's lockdown answers, carried in ``info``."""

    def __init__(self, info: DeviceInfo, timeout_s: float | None = None):
        self.info = info
        self.timeout_s = timeout_s
        self._runner: str | None = None  # ensure_runner's finding, once per process

    def profile(self) -> dict[str, Any]:
        d = self.info.details
        arch = d.get("cpu_architecture")
        return {"kind": "ios", "model": self.info.model, "os": f"iOS {d.get('product_version')}",
                "product_type": d.get("product_type"), "release": d.get("product_version"),
                "arch": arch, "abis": [arch] if arch else [], "soc": d.get("chip"),
                "manufacturer": "Apple", "virtual": self.info.virtual}

    def exec(self, argv: list[str], timeout: float | None = None) -> ExecResult:
        raise Unsupported("iPhones have no shell for edgelab: jobs run in the EdgelabRunner app")

    def _files(self, coro, limit: float | None = None):
        """Run one exchange with the phone (house_arrest/AFC in devices/ios_files.py, a runner
        launch in ios_process.py), bounded by the run's timeout; a phone that stops answering is
        an InfraError, not a hang."""
        limit = limit or self.timeout_s or PROBE_TIMEOUT_S * 6
        try:
            return _run(coro, limit)
        except TimeoutError:
            raise InfraError(f"iPhone {self.info.id} did not finish a file transfer within "
                             f"{limit:g} s", serial=self.info.serial,
                             fix=ios_states.fix_for(ios_states.NOT_ANSWERING)) from None
        except (Unsupported, InfraError, MeasurementError):
            raise
        except Exception as exc:  # the connection broke, the container refused, ...
            name = type(exc).__name__
            if ERROR_STATES.get(name) == ios_states.LOCKED:  # a service refused: locked
                raise InfraError(f"iPhone {self.info.id} is locked", serial=self.info.serial,
                                 fix=fix_for_error(name)) from None
            raise InfraError(f"iPhone {self.info.id}: {name}: {exc or exc.__doc__}",
                             serial=self.info.serial, fix=fix_for_error(name)) from exc

    @property
    def _address(self) -> str | None:
        return self.info.details.get("usbmux_address")

    def push(self, local: Path, remote_dir: str) -> str:
        """Into the EdgelabRunner app's Documents (``remote_dir`` is relative to it, e.g.
        ``/edgelab/models``); a directory arrives whole. The app must be installed."""
        from . import ios_files

        stats = self._files(ios_files.push(self.info.serial, self._address, Path(local),
                                           remote_dir))
        return stats["path"]

    def pull(self, remote: str, local: Path) -> Path:
        from . import ios_files

        return self._files(ios_files.pull(self.info.serial, self._address, remote, Path(local)))

    def prepare(self, conditions: dict[str, Any]):
        # iOS gives no governor or performance-mode control to a host: the record says so
        return no_preparation({"governor": "unavailable"})

    def sample(self) -> dict[str, Any]:
        """Battery temperature, voltage, instant current, charge and power from diagnostics_relay
        (ios_telemetry.py), with the same names Android samples use; {} with the reason in
        ``telemetry_error`` when the phone does not answer (a sample never fails a cell)."""
        from . import ios_telemetry

        try:
            return self._files(ios_telemetry.battery(self.info.serial, self._address))
        except (InfraError, Unsupported) as exc:
            return {"telemetry_error": str(exc)}

    def run_engine(self, engine, artifact, spec, settings):
        if engine.name != "coreml":
            raise Unsupported(f"{engine.name} does not run on iPhones in edgelab: iOS cells "
                              f"measure Core ML through the EdgelabRunner app")
        from ..engines.coreml_ios import check_deployment

        check_deployment(artifact.path, self.info.details.get("product_version"))
        self.ensure_runner()
        from .ios_run import run_coreml

        return run_coreml(self, artifact, settings)

    def ensure_runner(self) -> str:
        """The runner app on this phone: already there ("installed"), or installed now from
        the registered .ipa ("installed now"); RunnerMissing (Unsupported) with the steps when
        neither. Checked once per process."""
        from . import ios_app, ios_files

        if self._runner:
            return self._runner
        try:
            self._files(ios_files.runner_installed(self.info.serial, self._address))
            self._runner = "installed"
        except ios_files.RunnerMissing as missing:
            found = ios_app.registered()
            if found is None:
                raise ios_files.RunnerMissing(
                    f"{missing.reason}, then register the .ipa with `python -m harness "
                    f"ios-runner add EdgelabRunner.ipa`") from None
            self._files(ios_app.install(self.info.serial, self._address, found[0],
                                        self.info.details.get("product_version")))
            self._files(ios_files.runner_installed(self.info.serial, self._address))
            self._runner = "installed now"
        return self._runner
