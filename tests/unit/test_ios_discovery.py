"""iOS pieces without a socket: states and their fixes, the chip table, iPhone profiles, the
lockdownd answers the stand-in gives, and what a ready iPhone does with a cell today."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from harness.devices import ios, ios_states
from harness.devices.base import DeviceInfo
from harness.devices.ios_chips import chip_of
from harness.errors import Unsupported, UsageError
from harness.virtual.ios.lockdownd import Lockdownd
from harness.virtual.ios.profile import load_ios_profile


@pytest.mark.parametrize("version, developer_mode, tunnel, mounted, state", [
    ("17.0", False, False, False, ios_states.DEVELOPER_MODE_OFF),  # first step first
    ("17.0", True, False, False, ios_states.TUNNEL_NOT_RUNNING),
    ("17.4", True, True, False, ios_states.DDI_NOT_MOUNTED),
    ("17.4", True, True, True, ios_states.READY),
    ("16.7", True, False, True, ios_states.READY),                 # no tunnel before iOS 17
    ("15.4", False, None, True, ios_states.READY),                 # no Developer Mode before 16
    ("16.0", None, None, None, ios_states.READY),                  # could not tell: not held
])
def test_the_first_missing_step_is_the_state(version, developer_mode, tunnel, mounted, state):
    assert ios_states.trusted_state(version, developer_mode, tunnel, mounted) == state


def test_every_state_needing_a_person_has_a_fix_naming_the_action():
    needs_person = [ios_states.NOT_PAIRED, ios_states.LOCKED, ios_states.TRUST_DENIED,
                    ios_states.DEVELOPER_MODE_OFF, ios_states.TUNNEL_NOT_RUNNING,
                    ios_states.DDI_NOT_MOUNTED, ios_states.NOT_ANSWERING]
    assert all(ios_states.fix_for(s) for s in needs_person)
    assert ios_states.fix_for(ios_states.READY) is None
    assert "unlock the device" in ios_states.fix_for(ios_states.LOCKED)
    assert "remote tunneld" in ios_states.fix_for(ios_states.TUNNEL_NOT_RUNNING)
    assert "Developer Mode" in ios_states.fix_for(ios_states.DEVELOPER_MODE_OFF)
    assert "mounter auto-mount" in ios_states.fix_for(ios_states.DDI_NOT_MOUNTED)


@pytest.mark.parametrize("value, address", [
    (None, ("127.0.0.1", 49151)),           # pymobiledevice3's own default
    ("127.0.0.1:5000", ("127.0.0.1", 5000)),
    ("[::1]:5000", ("::1", 5000)),
    ("localhost", None), (":5000", None), ("127.0.0.1:99999", None),
])
def test_edgelab_tunneld_names_where_tunneld_is(value, address, monkeypatch):
    from harness.devices.ios_process import tunneld_address

    if value is None:
        monkeypatch.delenv("EDGELAB_TUNNELD", raising=False)
    else:
        monkeypatch.setenv("EDGELAB_TUNNELD", value)
    if address is None:
        with pytest.raises(UsageError, match="EDGELAB_TUNNELD=.*give HOST:PORT"):
            tunneld_address()
    else:
        assert tunneld_address() == address


def test_a_tunnel_needs_an_ios17_paired_profile_with_the_trusted_handshake(tmp_path):
    ready = load_ios_profile("iphone14promax_ready")
    assert ready.tunnel and "com.apple.instruments.dtservicehub" in \
        ready.trusted_handshake["Services"]
    assert not load_ios_profile("iphone14promax_paired").tunnel
    profiles = Path(ios.__file__).parents[2] / "device_profiles" / "ios"
    for name in ("iphone14promax", "iphone14promax_ios16_ready"):  # parents, beside the variants
        (tmp_path / f"{name}.toml").write_text((profiles / f"{name}.toml").read_text())
    for base, pairing in (("iphone14promax", "untrusted"), ("iphone14promax_ios16_ready",
                                                            "trusted")):
        path = tmp_path / f"{base}_tunnel.toml"
        path.write_text(f'extends = "{base}"\n[state]\npairing = "{pairing}"\ntunnel = true\n')
        with pytest.raises(UsageError, match="tunnel = true: only an iOS 17"):
            load_ios_profile(str(path))


def test_pair_refusals_name_real_pymobiledevice3_exceptions():
    """The mapping goes by class name (no import at discovery's top): each must exist and be the
    one lockdown.py raises for lockdownd's error string."""
    exceptions = pytest.importorskip("pymobiledevice3.exceptions")
    for name in ios_states.PAIR_REFUSALS:
        assert issubclass(getattr(exceptions, name), Exception), name


def test_chip_table():
    assert chip_of("iPhone15,3") == {"chip": "A16 Bionic", "arch": "arm64e"}
    assert chip_of("iPhone10,3") == {"chip": "A11 Bionic", "arch": "arm64"}
    unknown = chip_of("iPhone99,1")
    assert unknown["arch"] is None and "device_profiles/ios/chips.toml" in unknown["chip"]


def test_profiles_from_captures():
    xs = load_ios_profile("iphone14promax")
    # OSVersion of the RSD handshake is lockdownd's ProductVersion; the UDID is rebuilt from the
    # capture's ChipID (0x8120) and ECID (111111 = 0x1B207)
    assert xs.values["ProductVersion"] == "17.0" and xs.udid == "00008120-000000000001B207"
    assert xs.values["HardwareModel"] == "D74AP" and "ThinningProductType" not in xs.values
    assert set(xs.configured) == {"DeviceName", "ProtocolVersion", "WiFiAddress"}
    xr = load_ios_profile("iphonexr")
    assert (xr.values["ProductType"], xr.values["ProductVersion"], xr.pairing) == (
        "iPhone11,8", "13.3.1", "locked")
    assert "CPUArchitecture" not in xr.values  # not captured, not invented


def test_bad_profiles_say_what_to_fix(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[captures]\nideviceinfo = "ios/ideviceinfo_partial_iphone11_8_ios13_3_1_'
                   'rusty_libimobiledevice6.txt"\n[lockdown]\nUniqueDeviceID = "x"\n'
                   '[state]\npairing = "paired"\n')
    with pytest.raises(UsageError, match="pairing = 'paired': use one of untrusted, locked"):
        load_ios_profile(str(bad))
    bad.write_text('[captures]\nideviceinfo = "ios/ideviceinfo_partial_iphone11_8_ios13_3_1_'
                   'rusty_libimobiledevice6.txt"\n')
    with pytest.raises(UsageError, match="no UniqueDeviceID in the capture; set one in"):
        load_ios_profile(str(bad))
    with pytest.raises(UsageError, match="unknown iPhone profile 'pixel8'"):
        load_ios_profile("pixel8")


def test_lockdownd_answers_an_untrusted_host():
    daemon = Lockdownd({"ProductType": "iPhone15,3", "UniqueDeviceID": "u"}, "untrusted")
    assert daemon.answer("QueryType", {})["Type"] == "com.apple.mobile.lockdown"
    assert daemon.answer("GetValue", {"Key": "ProductType"}) == {
        "Request": "GetValue", "Key": "ProductType", "Value": "iPhone15,3"}
    assert daemon.answer("GetValue", {"Key": "BatteryCurrentCapacity"})["Error"] == "MissingValue"
    assert daemon.answer("GetValue", {"Domain": "com.apple.security.mac.amfi",
                                      "Key": "DeveloperModeStatus"})["Error"] == "MissingValue"
    assert daemon.answer("StartSession", {"HostID": "h"})["Error"] == "InvalidHostID"
    assert daemon.answer("Pair", {})["Error"] == "PairingDialogResponsePending"
    assert Lockdownd({}, "locked").answer("Pair", {})["Error"] == "PasswordProtected"
    assert Lockdownd({}, "denied").answer("Pair", {})["Error"] == "UserDeniedPairing"


def test_discovery_without_the_extra_or_without_usbmuxd_is_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymobiledevice3", None)  # import fails as if not installed
    notes: list[str] = []
    assert ios.discover(notes=notes) == []
    assert notes == ["ios: pymobiledevice3 is not installed, iPhones are not looked for "
                     "(pip install 'edgelab[ios]')"]
    monkeypatch.setitem(sys.modules, "pymobiledevice3", types.ModuleType("pymobiledevice3"))
    monkeypatch.delenv("USBMUXD_SOCKET_ADDRESS", raising=False)
    monkeypatch.setattr(ios, "DEFAULT_USBMUXD", "/nonexistent/usbmuxd")
    notes = []
    assert ios.discover(notes=notes) == []
    assert "no usbmuxd at /nonexistent/usbmuxd" in notes[0] and "USBMUXD_SOCKET_ADDRESS" in notes[0]


def test_a_silent_usbmuxd_is_bounded(monkeypatch):
    """A usbmuxd that accepts and never answers: discovery gives up within its bound."""
    import socket
    import time

    pytest.importorskip("pymobiledevice3")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", f"127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(ios, "LIST_TIMEOUT_S", 0.5)
    notes: list[str] = []
    started = time.monotonic()
    try:
        assert ios.discover(notes=notes) == []
    finally:
        listener.close()
    assert time.monotonic() - started < 5
    assert notes and notes[0].startswith("ios: usbmuxd at 127.0.0.1:"), notes


def _ready_iphone() -> ios.IOSDevice:
    return ios.IOSDevice(DeviceInfo(id="u", kind="ios", serial="u", model="iPhone15,3", details={
        "product_type": "iPhone15,3", "product_version": "17.0", "cpu_architecture": "arm64e",
        "chip": "A16 Bionic"}))


def test_a_ready_iphone_profile_lets_core_ml_through_and_says_why_a_cell_cannot_run(tmp_path):
    from harness.engines import get_engine

    device = _ready_iphone()
    profile = device.profile()
    assert (profile["os"], profile["soc"], profile["abis"]) == ("iOS 17.0", "A16 Bionic", ["arm64e"])
    assert get_engine("coreml").supports("coreml", profile).ok  # Core ML is an iPhone engine
    with pytest.raises(Unsupported, match="onnxruntime does not run on iPhones in edgelab"):
        device.run_engine(types.SimpleNamespace(name="onnxruntime"), None, None, None)
    # Core ML cells go on to the runner app (tests/integration/test_ios_standin.py)


def test_the_core_plugin_import_stays_free_of_pymobiledevice3():
    import subprocess

    code = ("import sys, harness.plugin, harness.devices.discovery, harness.devices.ios; "
            "print('pymobiledevice3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_variant_profiles_extend_their_phone_and_check_their_state(tmp_path):
    paired = load_ios_profile("iphonexr_paired")
    base = load_ios_profile("iphonexr")
    assert paired.values == base.values and paired.udid == base.udid  # the same phone
    assert (paired.pairing, paired.ddi_mounted, paired.developer_mode) == ("trusted", False, True)
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "nosuch"\n')
    with pytest.raises(UsageError, match="extends = 'nosuch', but there is no"):
        load_ios_profile(str(bad))
    from harness.virtual.ios.profile import IOS_PROFILE_DIR

    (tmp_path / "iphonexr.toml").write_text((IOS_PROFILE_DIR / "iphonexr.toml").read_text())
    variant = tmp_path / "variant.toml"
    variant.write_text('extends = "iphonexr"\n[state]\npairing = "trusted"\n'
                       'developer_mode = "off"\n')
    with pytest.raises(UsageError, match="developer_mode = 'off': use true or false"):
        load_ios_profile(str(variant))


def test_battery_entry_maps_to_android_sample_names():
    from harness.parsers import ios_battery

    sample = ios_battery.parse({"Temperature": 3125, "Voltage": 3980, "InstantAmperage": -500,
                                "CurrentCapacity": 64, "IsCharging": False,
                                "ExternalConnected": False})
    assert sample == {"temp_c": 31.25, "battery_temp_c": 31.25, "battery_voltage_mv": 3980.0,
                      "battery_current_ma": -500.0, "battery_power_w": 1.99, "charging": False,
                      "external_power": False, "battery_pct": 64.0}
    charging = ios_battery.parse({"Voltage": 4300, "InstantAmperage": 1000, "IsCharging": True})
    assert charging["battery_power_w"] == -4.3 and charging["temp_c"] is None  # into the battery
    assert ios_battery.parse(None)["battery_pct"] is None
    assert ios_battery.parse({"Temperature": "hot"})["temp_c"] is None


def test_a_service_refused_for_a_passcode_is_a_locked_infra_error():
    """pymobiledevice3 raises PasswordRequiredError when lockdownd answers StartService with
    PasswordProtected: the phone is locked now, which is the person's fix, not a failure."""
    exceptions = pytest.importorskip("pymobiledevice3.exceptions")
    from harness.errors import InfraError

    async def refused():
        raise exceptions.PasswordRequiredError("The device is protected with a passcode.")

    with pytest.raises(InfraError, match=r"is locked \(fix: unlock the device"):
        _ready_iphone()._files(refused())


def test_usbmuxd_gone_mid_run_is_an_infra_error_with_the_fix():
    exceptions = pytest.importorskip("pymobiledevice3.exceptions")
    from harness.errors import InfraError

    async def gone():
        raise exceptions.ConnectionFailedToUsbmuxdError()

    with pytest.raises(InfraError, match=r"ConnectionFailedToUsbmuxdError.*start usbmuxd"):
        _ready_iphone()._files(gone())


def test_a_malformed_tunneld_address_is_said_once_at_discovery(monkeypatch):
    pytest.importorskip("pymobiledevice3")
    from harness.devices import ios

    monkeypatch.setenv("EDGELAB_TUNNELD", "localhost")      # no port
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", "127.0.0.1:1")  # nothing listens: no phones
    notes: list[str] = []
    assert ios.discover(notes=notes) == []
    assert any("EDGELAB_TUNNELD='localhost': give HOST:PORT" in n and "tunnel not running" in n
               for n in notes), notes
