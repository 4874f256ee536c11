"""The iOS 17+ path (developer services through the RemoteXPC tunnel) against the virtual iPhone,
with the REAL pymobiledevice3 client: its tunneld API (``get_tunneld_tunnels``,
``get_tunneld_device_by_udid``) reads the stand-in's tunneld, its RemoteServiceDiscoveryService
does the HTTP/2 + XPC handshake with the stand-in's RSD (the phone's captured trusted handshake)
and the RSDCheckin of the remote lockdown, and its DvtProvider reaches process control and
sysmontap through ``com.apple.instruments.dtservicehub`` in plain TCP.

Not checked here (no stand-in plays it): the tunnel itself (QUIC or CoreDeviceProxy, made by
``pymobiledevice3 remote tunneld`` as root). Loopback only; every server stops at the end of its
test (the VirtualIPhone context, --max-lifetime for the subprocess).
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ios_fixtures import mlpackage, opened

pytest.importorskip("pymobiledevice3", reason="the ios extra: pip install -e '.[ios]'")
pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
UDID = "00008120-000000000001B207"  # iPhone15,3: ChipID 0x8120, ECID 111111 of the capture
DTSERVICEHUB = "com.apple.instruments.dtservicehub"


def _address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def _wait(condition, timeout_s: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_the_real_tunneld_api_finds_the_ios17_iphone_and_its_rsd(monkeypatch, tmp_path):
    """tunneld lists the phone's tunnel; the RSD handshake gives the captured iOS 17.0 identity
    and Services table (cut to what the stand-in serves, on its ports); the remote lockdown
    answers after the RSDCheckin; DvtProvider picks dtservicehub for it."""
    from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
    from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid, get_tunneld_tunnels

    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))  # pymobiledevice3 keeps its records under HOME

    async def scenario(phone):
        where = _address(phone.tunneld_address)
        tunnels = await get_tunneld_tunnels(where)
        assert list(tunnels) == [UDID]
        (entry,) = tunnels[UDID]
        assert (entry["tunnel-address"], entry["tunnel-port"]) == ("127.0.0.1",
                                                                  phone.tunnel.rsd_port)
        assert await get_tunneld_device_by_udid("00008030-0000000000000000", where) is None
        rsd = await get_tunneld_device_by_udid(UDID, where)
        try:
            properties = rsd.peer_info["Properties"]
            assert (rsd.udid, rsd.product_type, rsd.product_version, rsd.product_build_version) \
                == (UDID, "iPhone15,3", "17.0", "21A5277j")
            assert (properties["HWModel"], properties["EdgelabVirtual"]) == ("D74AP", True)
            services = rsd.peer_info["Services"]
            assert set(services) == {DTSERVICEHUB, "com.apple.mobile.lockdown.remote.trusted"}
            # the capture's entry (entitlement, features), on the stand-in's port
            assert services[DTSERVICEHUB]["Entitlement"] == \
                "com.apple.private.dt.instruments.dtservicehub.client"
            assert rsd.get_service_port(DTSERVICEHUB) == phone.tunnel.ports[DTSERVICEHUB]
            assert type(rsd.lockdown).__name__ == "RemoteLockdownClient"
            assert rsd.all_values["ProductVersion"] == "17.0"
            assert DvtProvider.service_name_for(rsd) == DTSERVICEHUB
        finally:
            await rsd.close()

    with VirtualIPhone("iphone14promax_ready", "127.0.0.1:0", max_lifetime_s=60) as phone:
        asyncio.run(asyncio.wait_for(scenario(phone), 30))
        (peer,) = phone.tunnel.rsd.peers  # the host's own Handshake message
        assert peer["MessageType"] == "Handshake" and "RemoteXPCVersionFlags" in peer["Properties"]
        (checkin,) = phone.tunnel.services["com.apple.mobile.lockdown.remote.trusted"].checkins
        assert (checkin["Request"], checkin["Label"]) == ("RSDCheckin", "pymobiledevice3")
        assert phone.tunneld.requests == ["/", "/", "/"]


def test_harness_devices_lists_the_ios17_iphone_ready(tmp_path):
    """``python -m harness devices`` with the stand-in's usbmuxd and tunneld: ready."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "virtual-device", "--profile",
                             "iphone14promax_ready", "--usbmux", "127.0.0.1:0",
                             "--max-lifetime", "120"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), line + proc.stderr.read()
        usbmux = line.split()[-1]
        told = proc.stderr.readline()
        assert told.startswith("tunneld listening on 127.0.0.1:"), told
        tunneld = told.split()[3]
        env = {**os.environ, "HOME": str(tmp_path), "EDGELAB_ADB_SERVER": "127.0.0.1:1"}
        for name in ("EDGELAB_ADB_START", "USBMUXD_SOCKET_ADDRESS", "EDGELAB_TUNNELD"):
            env.pop(name, None)
        run = subprocess.run([sys.executable, "-m", "harness", "devices", "--json", "--usbmux",
                              usbmux, "--tunneld", tunneld], env=env,
                             capture_output=True, text=True, timeout=120, cwd=REPO)
    finally:
        proc.terminate()
        proc.wait(10)
    assert run.returncode == 0, run.stderr[-2000:]
    (iphone,) = [d for d in json.loads(run.stdout)["devices"] if d["kind"] == "ios"]
    assert (iphone["id"], iphone["state"], iphone["virtual"]) == (UDID, "device", True)
    assert iphone["details"]["product_version"] == "17.0" and "fix" not in iphone["details"]


@pytest.mark.parametrize("tunneld", ["stand-in", "nothing there"])
def test_without_the_tunnel_discovery_says_tunnel_not_running(tunneld, monkeypatch, tmp_path):
    """A paired iOS 17 phone whose tunnel does not run: tunneld answers but lists no tunnel for
    it, or nothing answers at EDGELAB_TUNNELD; either way "tunnel not running" with the fix."""
    import socket

    from harness.devices import ios
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    with VirtualIPhone("iphone14promax_paired", "127.0.0.1:0", max_lifetime_s=60,
                       tunneld="127.0.0.1:0") as phone:
        if tunneld == "stand-in":
            monkeypatch.setenv("EDGELAB_TUNNELD", phone.tunneld_address)
        else:
            with socket.socket() as probe:  # a port nobody listens on
                probe.bind(("127.0.0.1", 0))
                monkeypatch.setenv("EDGELAB_TUNNELD", f"127.0.0.1:{probe.getsockname()[1]}")
        monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", phone.address)
        notes: list[str] = []
        (info,) = ios.discover(notes=notes)
        assert phone.tunnel is None
        assert phone.tunneld.requests == (["/"] if tunneld == "stand-in" else [])
    assert (info.state, info.virtual, notes) == ("tunnel not running", True, [])
    assert "remote tunneld" in info.details["fix"] and "EDGELAB_TUNNELD" in info.details["fix"]


@pytest.mark.parametrize("play, outcome", [
    ("ok", None),
    ("hang", r"^timeout: EdgelabRunner did not finish within 3 s; no results.json in its "
             r"Documents; killed \(pid \d+\) through process control"),
])
def test_a_core_ml_cell_is_launched_through_the_tunnels_process_control(
        play, outcome, monkeypatch, tmp_path):
    """iOS 17: model and job over AFC (lockdown over usbmux, as before), the runner launched
    (and, hanging, killed) by the real ProcessControl through DvtProvider over the tunnel's RSD
    (dtservicehub), its results collected; lockdownd over usbmux started no developer service."""
    import types

    from harness.engines.base import RunSettings
    from harness.errors import ToolTimeout
    from harness.virtual.ios import VirtualIPhone, instruments

    monkeypatch.setenv("HOME", str(tmp_path))
    coreml = types.SimpleNamespace(name="coreml")
    artifact = mlpackage(tmp_path)
    settings = RunSettings(warmup=2, iterations=5, timeout_s=3, compute_units="cpuOnly")
    with VirtualIPhone("iphone14promax_ready", "127.0.0.1:0", max_lifetime_s=120,
                       runner_play=play) as phone:
        device = opened(phone, monkeypatch)
        assert device.info.state == "device", device.info
        if outcome is None:
            raw = device.run_engine(coreml, artifact, None, settings)
            assert len(raw.samples_ms) == 5 and all(v > 0 for v in raw.samples_ms)
            assert raw.engine_version.startswith("virtual stand-in of EdgelabRunner on iOS 17.0")
            assert raw.extra["tool"]["virtual"] is True
            assert raw.extra["launch"]["service"] == DTSERVICEHUB
            assert raw.extra["launch"]["pid"] == phone.processes.launches[0]["pid"]
        else:
            with pytest.raises(ToolTimeout, match=outcome):
                device.run_engine(coreml, artifact, None, settings)
            assert not phone.processes.running and len(phone.processes.kills) == 1
        assert len(phone.processes.launches) == 1
        assert len(phone.tunnel.rsd.peers) == 1  # one RSD handshake for the launch
        assert not [h for h in phone.lockdownd.started.values()
                    if isinstance(h, instruments.Instruments)]
        # every connection through the tunnel has ended (the RSD was closed after the run)
        assert _wait(lambda: not phone.tunnel._connections, 5), phone.tunnel._connections


def test_sysmontap_runs_over_the_tunnel(monkeypatch, tmp_path):
    """SysmonStream on iOS 17 (ios_process._provider_source: the tunnel's RSD) reads CPU load
    from the stand-in's sysmontap through dtservicehub and stops cleanly."""
    from harness.devices.ios_sysmontap import SysmonStream
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    readings: list[dict] = []
    with VirtualIPhone("iphone14promax_ready", "127.0.0.1:0", max_lifetime_s=60) as phone:
        monkeypatch.setenv("EDGELAB_TUNNELD", phone.tunneld_address)
        stream = SysmonStream(UDID, phone.address, 17, 0.05,
                              lambda t, r: readings.append(r)).start()
        try:
            assert _wait(lambda: len(readings) >= 3 or not stream.running), stream.lost
        finally:
            stream.stop()
        assert not stream.running and stream.lost is None, stream.lost
        server = phone.tunnel.services[DTSERVICEHUB]
        assert [s for _, s in server.sysmon] == ["setConfig:", "start", "stop"]
        assert _wait(lambda: not phone.tunnel._connections, 5)
    assert all(r["source"] == "sysmontap" and 0 <= r["cpu_pct"] <= 100 for r in readings)
