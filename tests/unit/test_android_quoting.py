"""Every word that reaches an adb shell is quoted: checked by running the exact command string
that would go over the wire in a real POSIX shell on the host (no adb needed)."""
from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

from harness.devices.adb_transport import AdbTransport, quote_argv, server_address
from harness.errors import InfraError

WEIRD = "we ird 'name';rm -rf x.tflite"


class HostShellDevice:
    """Stands in for adbutils' AdbDevice: runs the command string in /bin/sh."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.commands: list[str] = []

    def get_features(self) -> str:
        return "shell_v2,cmd"

    def shell2(self, command, timeout=None, encoding="utf-8", v2=True):
        self.commands.append(command)
        proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                              cwd=self.tmp_path, timeout=timeout)
        return SimpleNamespace(returncode=proc.returncode, stdout=proc.stdout,
                               stderr=proc.stderr, output=proc.stdout + proc.stderr)


@pytest.fixture
def transport(tmp_path, monkeypatch):
    t = AdbTransport("SERIAL0000000001", ("127.0.0.1", 1))
    t._device = HostShellDevice(tmp_path)
    return t


@pytest.mark.parametrize("word", [WEIRD, "$(touch pwned)", "`touch pwned`", "a\nb", "*", "",
                                  "--graph=x y", "\\", '"', "é ü 模型"])
def test_words_arrive_intact(transport, tmp_path, word):
    result = transport.shell(["printf", "%s", word])
    assert result.rc == 0 and result.stdout == word
    assert not (tmp_path / "pwned").exists()


def test_weird_file_name_is_created_and_listed_exactly(transport, tmp_path):
    assert transport.shell(["touch", str(tmp_path / WEIRD)]).rc == 0
    assert (tmp_path / WEIRD).is_file() and not (tmp_path / "x.tflite").exists()
    assert transport.shell(["ls", str(tmp_path)]).stdout.splitlines() == [WEIRD]


def test_real_exit_codes_and_separate_stderr(transport):
    result = transport.shell(["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.rc, result.stdout, result.stderr) == (7, "out\n", "err\n")


def test_run_killable_quotes_cwd_env_and_argv(transport, tmp_path):
    cwd = tmp_path / "dir with 'quote'"
    cwd.mkdir()
    result = transport.run_killable(["sh", "-c", 'pwd; echo "$LD_LIBRARY_PATH"; echo "$1"', "sh",
                                     WEIRD], timeout=20, cwd=str(cwd),
                                    env={"LD_LIBRARY_PATH": "/lib dir;x"})
    assert result.rc == 0
    assert result.stdout.splitlines() == [str(cwd), "/lib dir;x", WEIRD]


def test_run_killable_uses_the_device_timeout_when_there_is_one(transport):
    transport.has_timeout = True
    transport.run_killable(["true"], timeout=12.4)
    assert transport._device.commands[-1] == "timeout -k 2 12 true"


def test_compose_quotes_lists_and_keeps_only_raw_fragments():
    from harness.devices.adb_transport import Raw, compose

    line = compose(["echo", WEIRD], Raw(">"), ["/data/local/tmp/a b"])
    assert line == "echo 'we ird '\"'\"'name'\"'\"';rm -rf x.tflite' > '/data/local/tmp/a b'"
    with pytest.raises(TypeError):
        compose("rm -rf /")  # a bare string is neither a fragment nor an argv


def test_run_killable_refuses_odd_environment_names(transport):
    with pytest.raises(ValueError):
        transport.run_killable(["true"], timeout=5, env={"A;rm": "x"})


def test_quote_argv_is_one_word_per_argument():
    import shlex

    argv = ["benchmark_model", f"--graph=/data/local/tmp/edgelab/{WEIRD}", "--num_threads=1"]
    assert shlex.split(quote_argv(argv)) == argv


def test_server_address_order(monkeypatch):
    for name in ("EDGELAB_ADB_SERVER", "ANDROID_ADB_SERVER_HOST", "ANDROID_ADB_SERVER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert server_address() == ("127.0.0.1", 5037)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5999")
    assert server_address() == ("127.0.0.1", 5999)
    monkeypatch.setenv("EDGELAB_ADB_SERVER", "10.0.0.2:6000")
    assert server_address() == ("10.0.0.2", 6000)
    monkeypatch.setenv("EDGELAB_ADB_SERVER", "nonsense")
    with pytest.raises(InfraError, match="not host:port"):
        server_address()


def test_no_server_is_an_infra_error_and_no_server_is_started(monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: nothing answers there
        transport = AdbTransport("SERIAL", ("127.0.0.1", port))
        started = []
        monkeypatch.setattr("subprocess.run", lambda *a, **k: started.append(a))
        with pytest.raises(InfraError) as info:
            transport.shell(["true"])
    assert "adb server" in str(info.value) and "EDGELAB_ADB_SERVER" in info.value.fix
    assert started == []
