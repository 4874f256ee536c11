"""The virtual adbd negotiates like a real adbd with clients that speak its protocol themselves.

No adb server in between: `adbwire.WireClient` (written here from AOSP's protocol notes) and the
PyPI `adb-shell` library each open a TCP connection to the virtual phone, do the CNXN handshake and
run shell, push and pull. What is checked is what adbd decides from the host's CNXN: the max
payload it answers with, whether flow control is one-WRTE-at-a-time or delayed ack with windows,
its CLSE answering a host's CLSE, and a 3 MB file arriving intact both ways.
"""
from __future__ import annotations

import hashlib
import os
import socket

import pytest

from harness.virtual import VirtualDevice

from adbwire import Refused, WireClient, pull, push, shell_v1, shell_v2

pytestmark = pytest.mark.integration
BIG = 3 * 1024 * 1024 + 123  # not a multiple of any chunk size


@pytest.fixture
def phone():
    with VirtualDevice("pixel8", port=0, idle_timeout_s=120, max_lifetime_s=600) as device:
        yield device


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_delayed_ack_client_shells_pushes_and_pulls_3mb(phone):
    payload = os.urandom(BIG)
    with WireClient(phone.port) as client:
        assert client.delayed_ack, client.banner  # an Android 14 adbd offers delayed_ack
        assert client.max_payload == 1 << 20
        out, err, rc = shell_v2(client, "getprop ro.product.model; echo oops >&2; exit 4")
        assert (out, err, rc) == (b"Pixel 8\n", b"oops\n", 4)
        push(client, payload, "/data/local/tmp/big.bin", mode=0o644, mtime=1_700_000_000)
        out, _, rc = shell_v2(client, "sha256sum /data/local/tmp/big.bin; stat -c %s "
                                      "/data/local/tmp/big.bin")
        assert rc == 0 and out.split() == [_sha(payload).encode(), b"/data/local/tmp/big.bin",
                                          str(BIG).encode()]
        assert pull(client, "/data/local/tmp/big.bin") == payload
        assert shell_v1(client, "echo v1 works") == b"v1 works\n"


def test_legacy_client_gets_its_own_max_payload_and_one_write_in_flight(phone):
    """Version 0x01000000, 4 KiB payloads, no delayed_ack: an old host (adb before Android 9)."""
    payload = os.urandom(200_000)
    with WireClient(phone.port, version=0x01000000, max_payload=4096,
                    features=("shell_v2",)) as client:
        assert not client.delayed_ack
        assert client.max_payload == 4096  # adbd answers the negotiated maximum, not its own
        push(client, payload, "/data/local/tmp/legacy.bin")
        assert pull(client, "/data/local/tmp/legacy.bin") == payload
        writes = [r for r in client.received if r[0] == "WRTE"]
        assert writes and max(r[3] for r in writes) <= 4096
        # withhold the OKAY: adbd must not send a second WRTE on the stream before it
        client.ack = False
        stream = client.open("shell:cat /data/local/tmp/legacy.bin")
        stream.pump()
        assert len(stream.buffer) == 4096
        with pytest.raises(socket.timeout):
            stream.pump(timeout=0.5)
        stream.acknowledge(4096)
        stream.pump()
        assert len(stream.buffer) == 8192
        stream.close()


def test_delayed_ack_window_granted_by_the_host_is_respected(phone):
    window = 64 * 1024
    payload = os.urandom(1024 * 1024)
    with WireClient(phone.port, max_payload=4096, window=window) as client:
        push(client, payload, "/data/local/tmp/w.bin")
        client.ack = False
        stream = client.open("exec:cat /data/local/tmp/w.bin")
        with pytest.raises(socket.timeout):
            while True:
                stream.pump(timeout=0.5)
        # adbd may overshoot by one packet (it sends while its window is above zero)
        assert window <= len(stream.buffer) < window + 4096
        got = len(stream.buffer)
        stream.acknowledge(got)  # reopen the window: the rest follows
        client.ack = True
        data = stream.read_all()
        assert _sha(data) == _sha(payload)


def test_open_whose_flow_control_was_not_negotiated_is_refused(phone):
    with WireClient(phone.port) as client:  # delayed_ack negotiated: arg1 must be non-zero
        client.window = 0
        with pytest.raises(Refused, match=r"CLSE\(0, "):
            client.open("shell:true")
        client.window = 1 << 20
        assert shell_v1(client, "echo still online") == b"still online\n"
    old = VirtualDevice("nexus4", port=0, idle_timeout_s=60, max_lifetime_s=120).start()
    try:  # Android 5's adbd has no delayed_ack: a host asking for a window is refused
        with WireClient(old.port) as client:
            assert "delayed_ack" not in client.device_features and not client.delayed_ack
            client.delayed_ack = True
            with pytest.raises(Refused):
                client.open("shell:true")
    finally:
        old.stop()


def test_host_close_is_answered_with_close(phone):
    with WireClient(phone.port) as client:
        stream = client.open("shell:sleep 30")
        stream.close()  # asserts adbd's CLSE came back
        assert [r for r in client.received if r[0] == "CLSE"][-1][1:3] == (stream.remote,
                                                                           stream.local)


def test_adb_shell_library_shell_push_pull_3mb(phone, tmp_path):
    adb_device = pytest.importorskip("adb_shell.adb_device", reason="pip install adb-shell")
    payload = os.urandom(BIG)
    (tmp_path / "up.bin").write_bytes(payload)
    device = adb_device.AdbDeviceTcp("127.0.0.1", phone.port, default_transport_timeout_s=10)
    try:
        assert device.connect(rsa_keys=None, auth_timeout_s=2, transport_timeout_s=10)
        assert device.shell("getprop ro.product.model", read_timeout_s=10) == "Pixel 8\n"
        device.push(str(tmp_path / "up.bin"), "/data/local/tmp/up.bin", read_timeout_s=30)
        digest = device.shell("sha256sum /data/local/tmp/up.bin", read_timeout_s=10).split()[0]
        assert digest == _sha(payload)
        device.pull("/data/local/tmp/up.bin", str(tmp_path / "down.bin"), read_timeout_s=30)
        assert (tmp_path / "down.bin").read_bytes() == payload
    finally:
        device.close()
