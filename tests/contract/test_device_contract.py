"""What every device kind promises the rest of the harness: the host and an Android phone (a
virtual one, through the real adb server) must pass the same checks."""
from __future__ import annotations

import pytest

from harness.devices.base import Device, ExecResult

REQUIRED_PROFILE_KEYS = {"kind", "abis", "os", "model"}


@pytest.fixture(params=["host", pytest.param("virtual-android", marks=pytest.mark.integration)])
def contract_device(request, monkeypatch):
    if request.param == "host":
        from harness.devices.host import HostDevice

        return HostDevice()
    from harness.devices.android import AndroidDevice, discover

    adb_server = request.getfixturevalue("adb_server")
    phone = request.getfixturevalue("virtual_phone")("nexus4")
    monkeypatch.setenv("EDGELAB_ADB_SERVER", f"127.0.0.1:{adb_server.port}")
    (info,) = [d for d in discover() if d.serial == phone.serial]
    return AndroidDevice(info)


def test_is_a_device(contract_device):
    assert isinstance(contract_device, Device)
    assert contract_device.info.id and contract_device.info.kind


def test_profile_has_identity_and_says_unavailable_instead_of_guessing(contract_device):
    profile = contract_device.profile()
    assert REQUIRED_PROFILE_KEYS <= set(profile)
    assert isinstance(profile["abis"], list) and profile["abis"]
    governors = profile.get("governors")
    assert governors == "unavailable" or isinstance(governors, dict)
    assert profile == contract_device.profile()  # probed once, stable


def test_exec_reports_exit_codes_and_output(contract_device):
    ok = contract_device.exec(["echo", "a b;c 'd'"], timeout=10)
    assert isinstance(ok, ExecResult) and ok.rc == 0 and ok.stdout.strip() == "a b;c 'd'"
    bad = contract_device.exec(["sh", "-c", "exit 3"], timeout=10)
    assert bad.rc == 3 and not bad.ok


def test_push_and_pull_round_trip(contract_device, tmp_path):
    local = tmp_path / "blob.bin"
    local.write_bytes(b"\x00edgelab\xff" * 1000)
    remote = contract_device.push(local, "/data/local/tmp/edgelab")
    back = contract_device.pull(remote, tmp_path / "back.bin")
    assert back.read_bytes() == local.read_bytes()


def test_prepare_yields_conditions_and_sample_has_known_keys(contract_device):
    with contract_device.prepare({}) as conditions:
        assert "governor" in conditions
    sample = contract_device.sample()
    assert {"governor", "temp_c", "charging"} <= set(sample)
