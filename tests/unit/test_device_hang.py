"""The hang breaker and the timeouts of adb calls, without adb: a TCP listener that accepts and
never answers stands in for a wedged adb server/adbd, and stand-in devices record what they get."""
from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest

from harness.devices.adb_transport import AdbTransport, bounded, make_client
from harness.devices.hang import DeviceHung, DeviceTimeout, Hang, HangGuard
from harness.errors import InfraError, ToolTimeout


class SilentServer:
    """Accepts connections, reads what comes, answers nothing: the socket stays open."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


# -- the breaker ---------------------------------------------------------------------------
def test_guard_lets_calls_through_until_the_first_timeout_then_refuses_them():
    guard = HangGuard("SERIAL1")
    guard.check("getprop")  # nothing known: the call may go ahead
    error = guard.trip("getprop", 3.0, "adb read timeout")
    assert isinstance(error, DeviceTimeout) and isinstance(error, InfraError)
    text = str(error)
    assert "device SERIAL1 stopped answering at " in text
    assert "during getprop: no answer within 3 s" in text and "will not be attempted" in text
    assert "adb -s SERIAL1 reboot" in error.fix and "--edgelab-timeout" in error.fix
    with pytest.raises(DeviceHung, match="its remaining cells were not attempted") as refused:
        guard.check("cat")
    assert refused.value.serial == "SERIAL1" and refused.value.fix == error.fix
    assert "during getprop" in str(refused.value)  # the first hang is what it reports


def test_forgive_lets_the_next_call_decide():
    guard = HangGuard("S")
    guard.trip("benchmark_model", 605.0)
    guard.forgive()
    guard.check("pkill")


def test_hang_seen_at_discovery_travels_as_a_dict():
    guard = HangGuard("S")
    guard.trip("getprop", 10.0, during="discovery")
    again = HangGuard("S", Hang.from_dict(guard.hang.as_dict()))
    with pytest.raises(DeviceHung, match=r"during getprop \(discovery\): no answer within 10 s"):
        again.check("getprop")


# -- timeouts: which bound each call gets ---------------------------------------------------
class RecordingDevice:
    """adbutils' AdbDevice as far as AdbTransport uses it; records each shell's timeout."""

    def __init__(self, hang_on: tuple[str, ...] = ()):
        self.calls: list[tuple[str, float]] = []
        self.hang_on = hang_on

    def get_features(self):
        return "shell_v2"

    def shell2(self, command, timeout=None, encoding="utf-8", v2=True):
        import adbutils

        self.calls.append((command, timeout))
        if any(word in command for word in self.hang_on):
            raise adbutils.AdbTimeout("adb read timeout")
        return SimpleNamespace(returncode=0, stdout="", stderr="", output="")


def _transport(device, timeout_s: float, has_timeout: bool = True) -> AdbTransport:
    transport = AdbTransport("S", ("127.0.0.1", 1), timeout_s=timeout_s)
    transport._device = device
    transport.has_timeout = has_timeout
    return transport


@pytest.mark.parametrize("configured, quick", [(600.0, 10.0), (3.0, 3.0)])
def test_housekeeping_waits_the_smaller_bound_tools_the_configured_timeout(configured, quick):
    device = RecordingDevice()
    transport = _transport(device, configured)
    transport.shell(["getprop"])
    transport.run_killable(["/data/local/tmp/edgelab/benchmark_model"], configured)
    (_, getprop), (tool_line, tool) = device.calls
    assert getprop == quick
    assert tool == configured + 5 and tool_line.startswith("timeout -k 2 ")


def test_a_device_that_enforces_its_own_timeout_and_still_does_not_answer_is_hung():
    device = RecordingDevice(hang_on=("benchmark_model",))
    transport = _transport(device, 3.0, has_timeout=True)
    with pytest.raises(DeviceTimeout, match="during benchmark_model: no answer within 8 s"):
        transport.run_killable(["/t/benchmark_model"], 3.0)
    assert not any("pkill" in line for line, _ in device.calls)  # nothing more is asked
    with pytest.raises(DeviceHung):
        transport.shell(["echo", "still there?"])
    assert len(device.calls) == 1


def test_without_a_device_timeout_a_kill_that_answers_means_only_the_tool_hung():
    device = RecordingDevice(hang_on=("benchmark_model --",))
    transport = _transport(device, 3.0, has_timeout=False)
    with pytest.raises(ToolTimeout, match=r"^timeout: benchmark_model did not finish within 3 s; "
                                          r"killed by the host on S") as info:
        transport.run_killable(["/t/benchmark_model", "--graph=m"], 3.0)
    assert not isinstance(info.value, InfraError)  # recorded failed: the tool, not the device
    assert any(line.startswith("pkill -9 -f") for line, _ in device.calls)
    transport.shell(["echo", "alive"])  # the device still answers: no breaker


def test_without_a_device_timeout_a_kill_that_hangs_too_means_the_device_hangs():
    device = RecordingDevice(hang_on=("benchmark_model",))  # the pkill names it as well
    transport = _transport(device, 3.0, has_timeout=False)
    with pytest.raises(DeviceTimeout, match="during pkill"):
        transport.run_killable(["/t/benchmark_model"], 3.0)
    with pytest.raises(DeviceHung):
        transport.shell(["echo"])


def test_pushes_take_the_configured_timeout_and_stat_the_small_one():
    seen = {}

    class Sync:
        def push(self, local, remote, mode):
            seen["push"] = client.call_timeout
            return 1

        def stat(self, remote):
            seen["stat"] = client.call_timeout
            return SimpleNamespace(size=1, mtime=1)

    device = RecordingDevice()
    device.sync = Sync()
    transport = _transport(device, 120.0)
    client = transport._client = SimpleNamespace(call_timeout=None)
    transport.push_file("/tmp/model.tflite", "/data/local/tmp/m/model.tflite")
    transport.size_of("/data/local/tmp/m/model.tflite")
    assert seen == {"push": 120.0, "stat": 10.0} and client.call_timeout is None
    assert device.calls[0] == ("mkdir -p /data/local/tmp/m", 10.0)


# -- against a server that never answers ----------------------------------------------------
def test_a_silent_server_costs_one_bound_then_nothing(silent):
    transport = AdbTransport("SERIAL1", ("127.0.0.1", silent.port), timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no answer within 1 s"):
        transport.shell(["getprop", "ro.product.model"])
    assert time.monotonic() - started < 3.0
    accepted = silent.accepted
    started = time.monotonic()
    for _ in range(20):  # the rest of the device's cells
        with pytest.raises(DeviceHung):
            transport.shell(["getprop"])
    assert time.monotonic() - started < 0.1
    assert silent.accepted == accepted  # not even a connection


def test_bounded_client_holds_adbutils_600s_default_to_the_call_bound(silent):
    # shell v1 waits for the server's OKAY with adbutils' own 600 s default, whatever the
    # shell timeout: bounded() is what keeps a wedged adbd from costing ten minutes
    client = make_client(("127.0.0.1", silent.port))
    device = client.device(serial="SERIAL1")
    started = time.monotonic()
    with pytest.raises(Exception) as info, bounded(client, 0.5):
        device.shell("getprop", timeout=0.5)
    assert "timeout" in type(info.value).__name__.lower() + str(info.value).lower()
    assert time.monotonic() - started < 2.5 and client.call_timeout is None


def test_a_device_silent_at_discovery_is_listed_hung_and_its_cells_ask_it_nothing():
    import adbutils

    from harness.devices.android import AndroidDevice, _device_info

    class SilentDevice:
        def shell(self, command, timeout=None):
            raise adbutils.AdbTimeout("adb read timeout")

        def get_features(self):  # the adb server answers from the device's connect banner
            return "shell_v2,edgelab_virtual"

    client = SimpleNamespace(call_timeout=None, device=lambda serial: SilentDevice())
    entry = SimpleNamespace(serial="127.0.0.1:5555", state="device", tags={"model": "Pixel_8"})
    notes: list[str] = []
    info = _device_info(client, entry, "127.0.0.1:5037", notes, 3.0)
    assert info.state == "device" and info.details["hung"]["during"] == "discovery"
    assert info.virtual and info.kind == "virtual-android"  # labelled without an answer
    assert "device 127.0.0.1:5555 stopped answering" in notes[0] and "its cells" in notes[0]
    device = AndroidDevice(info, timeout_s=3.0)
    with pytest.raises(DeviceHung, match=r"during getprop \(discovery\)"):
        device.profile()
    assert device.transport._device is None  # not even a connection to the adb server
