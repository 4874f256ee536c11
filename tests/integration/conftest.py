"""Fixtures for tests that drive the real adb server against virtual devices.

``adb_server``: one real adb server per test session (per xdist worker) on a free loopback port,
with its own HOME so its RSA key never touches the user's ~/.android; killed at teardown.
``virtual_phone``: a factory that starts ``VirtualDevice(profile, faults)`` on port 0 in this
process (threads) and stops it, and its adb transport, at teardown. Both skip only when the
``adb`` binary is missing (CI installs Debian's `adb`).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class AdbServer:
    port: int
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 20, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess:
        """``adb ARGS`` against this server; stdin is ``input``, else /dev/null as in CI."""
        return subprocess.run(["adb", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=check, input=input,
                              stdin=subprocess.DEVNULL if input is None else None)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(["adb", *args], env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def client(self):
        import adbutils

        return adbutils.AdbClient(host="127.0.0.1", port=self.port, socket_timeout=20)

    def state_of(self, serial: str) -> str | None:
        for line in self.run("devices").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == serial:
                return fields[1]
        return None

    def wait_for_state(self, serial: str, wanted: str, timeout: float = 5.0) -> str | None:
        deadline = time.monotonic() + timeout
        state = self.state_of(serial)
        while state != wanted and time.monotonic() < deadline:
            time.sleep(0.05)
            state = self.state_of(serial)
        return state


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory):
    if shutil.which("adb") is None:
        pytest.skip("the `adb` binary is not installed (apt-get install -y adb); CI installs it")
    home = tmp_path_factory.mktemp("adb-home")
    port = _free_port()
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port),
           "ANDROID_SDK_HOME": str(home), "ANDROID_USER_HOME": str(home / ".android")}
    env.pop("ADB_VENDOR_KEYS", None)
    env.pop("ANDROID_SERIAL", None)
    server = AdbServer(port, env)
    started = server.run("-P", str(port), "start-server", timeout=30)
    if started.returncode != 0:
        pytest.fail(f"adb start-server on port {port} failed: {started.stderr}")
    yield server
    server.run("-P", str(port), "kill-server", timeout=10)


@pytest.fixture
def virtual_phone(adb_server):
    """``virtual_phone(profile="pixel8", faults=(), connect=True) -> VirtualDevice``."""
    from harness.virtual import VirtualDevice

    started: list = []

    def start(profile: str = "pixel8", faults=(), connect: bool = True, **options):
        device = VirtualDevice(profile, faults=faults, idle_timeout_s=120, max_lifetime_s=600,
                               **options).start()
        started.append(device)
        if connect:
            result = adb_server.run("connect", device.serial)
            assert "connected to" in result.stdout, result.stdout + result.stderr
            assert adb_server.wait_for_state(device.serial, "device") == "device"
        return device

    yield start
    for device in started:
        adb_server.run("disconnect", device.serial, timeout=10)
        device.stop()


@pytest.fixture(scope="session")
def stub_dir(tmp_path_factory) -> Path:
    """Virtual tool stubs on the host, named like the real tools, one directory per ABI."""
    from harness.virtual import make_tool_stub

    root = tmp_path_factory.mktemp("stubs")
    for abi in ("arm64-v8a", "armeabi-v7a", "x86_64"):
        (root / abi).mkdir()
        for tool in ("benchmark_model", "onnxruntime_perf_test"):
            (root / abi / tool).write_bytes(make_tool_stub(tool, abi))
            (root / abi / tool).chmod(0o755)  # adb push keeps the x bit, as with real tools
    return root
