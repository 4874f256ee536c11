"""The adb side of an Android device: which server, shell with real exit codes, file transfer.

Everything adbutils raises is turned into ``InfraError`` here (serial, command, stderr tail and
a fix), so the rest of the harness sees one error tree. Every shell word is passed through
``shlex.quote``: callers hand over argv lists, never command strings, so a model file called
``x';rm -rf y.tflite`` reaches the device as one argument.

adbutils starts an adb server by itself (on the default port) whenever a connection fails. That
would change the machine's state behind the user's back, so ``_Client`` refuses to connect to a
server that is not listening; discovery starts one only when ``EDGELAB_ADB_START=1``.
"""
from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ..errors import InfraError
from .base import ExecResult

DEFAULT_SERVER = ("127.0.0.1", 5037)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAIL = 800  # characters of stderr kept in errors: enough for the failing line, not a log dump

SERVER_FIX = ("start it with `adb start-server` (or set EDGELAB_ADB_START=1), or point edgelab "
              "at a running one with EDGELAB_ADB_SERVER=host:port")
VANISHED_FIX = ("the device disconnected: check the cable / `adb devices`; for network devices "
                "run `adb connect HOST:PORT` again")

HANG_FIX = ("the device stopped answering: unlock it, check the cable, or raise "
            "--edgelab-timeout")


def server_address() -> tuple[str, int]:
    """EDGELAB_ADB_SERVER=host:port wins over ANDROID_ADB_SERVER_HOST/PORT, then 127.0.0.1:5037."""
    text = os.environ.get("EDGELAB_ADB_SERVER", "").strip()
    if text:
        return parse_address(text, "EDGELAB_ADB_SERVER")
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or DEFAULT_SERVER[0]
    port = os.environ.get("ANDROID_ADB_SERVER_PORT") or DEFAULT_SERVER[1]
    return host, int(port)


def parse_address(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise InfraError(f"{what}={text!r} is not host:port", fix="e.g. 127.0.0.1:5037")
    return host or DEFAULT_SERVER[0], int(port)


def server_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_server(host: str, port: int) -> None:
    """Start an adb server on ``port`` (only on request: EDGELAB_ADB_START=1)."""
    adb = shutil.which("adb")
    if adb is None:
        from adbutils import adb_path  # adbutils bundles an adb binary on some platforms

        adb = adb_path()
    subprocess.run([adb, "-P", str(port), "start-server"], timeout=30, check=False,
                   capture_output=True)
    if not server_listening(host, port, timeout=2.0):
        raise InfraError(f"could not start an adb server on port {port}", fix=SERVER_FIX)


@functools.lru_cache(maxsize=None)
def _client_class():
    import adbutils
    from adbutils.errors import AdbConnectionError

    class _Client(adbutils.AdbClient):
        """AdbClient that never starts a server implicitly (see module docstring)."""

        def make_connection(self, timeout=None):
            # one extra loopback connect per call: cheap next to an adb round trip, and the
            # only hook before adbutils' own fallback runs `adb start-server`
            if not server_listening(self.host, self.port):
                raise AdbConnectionError(
                    f"no adb server listening on {self.host}:{self.port}")
            return super().make_connection(timeout)

    return _Client


def make_client(address: tuple[str, int] | None = None, socket_timeout: float = 30.0):
    host, port = address or server_address()
    return _client_class()(host=host, port=port, socket_timeout=socket_timeout)


def wrap_adb_error(exc: BaseException, serial: str | None, command: str | None) -> InfraError:
    """One InfraError for anything adbutils or the socket raised, with the fix for its kind."""
    from ..parsers import exec_failure

    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "no adb server" in low or "connect to adb server" in low:
        return InfraError(f"adb server unavailable: {text}", serial=serial, command=command,
                          stderr_tail=text[-_TAIL:], fix=SERVER_FIX)
    found = exec_failure.classify(text)
    # a closed connection or an unknown adb error mid-run means the device went away
    fix = found["fix"] if found["kind"] not in ("unknown", "not_found") else VANISHED_FIX
    where = f"device {serial}: " if serial else ""
    verb = (command or "").split(" ")[0]
    return InfraError(f"{where}adb{' ' + verb if verb else ''}: {text}", serial=serial,
                      command=command, stderr_tail=text[-_TAIL:], fix=fix)


class DeviceTimeout(InfraError):
    """The device did not answer in time; ``run_killable`` catches it to kill what hangs."""


def quote_argv(argv: list[str]) -> str:
    return " ".join(shlex.quote(str(arg)) for arg in argv)


class Raw(str):
    """A fixed shell fragment written in this codebase: an operator, a redirection, a glob.

    Never build one from data (paths, names, device output): data goes in as argv lists,
    which ``compose`` quotes word by word.
    """


def compose(*parts: Raw | list[str] | tuple[str, ...]) -> str:
    """One shell command line from fixed fragments and quoted argv lists.

    Only plain sh is produced (words, ``;``, ``&&``, ``||``, ``|``, redirections, globs): no
    loops, ``$(...)`` or positional parameters, which Android's toolbox-era shells and the
    virtual device do not all handle alike.
    """
    words = []
    for part in parts:
        if isinstance(part, Raw):
            words.append(str(part))
        elif isinstance(part, (list, tuple)):
            words.append(quote_argv(list(part)))
        else:
            raise TypeError(f"compose takes Raw fragments or argv lists, not {type(part).__name__}")
    return " ".join(words)


class AdbTransport:
    """Shell, push and pull for one serial. Constructing it does not touch the device."""

    def __init__(self, serial: str, address: tuple[str, int] | None = None):
        self.serial = serial
        self.address = address or server_address()
        self._device = None
        self._shell_v2: bool | None = None
        self.has_timeout: bool | None = None  # on-device `timeout` (toybox, Android 6+)

    # -- plumbing ---------------------------------------------------------------------
    def _adb(self):
        if self._device is None:
            self._device = make_client(self.address).device(serial=self.serial)
        return self._device

    def _call(self, command: str, fn):
        import adbutils

        try:
            return fn()
        except (adbutils.AdbTimeout, TimeoutError) as exc:
            raise DeviceTimeout(f"no answer from {self.serial} within the timeout",
                                serial=self.serial, command=command, stderr_tail=str(exc),
                                fix=HANG_FIX) from exc
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise wrap_adb_error(exc, self.serial, command) from exc

    @property
    def shell_v2(self) -> bool | None:
        """Whether the device speaks shell protocol v2 (None until the first command)."""
        return self._shell_v2

    def features(self) -> set[str]:
        text = self._call("features", lambda: self._adb().get_features())
        return {f for f in text.split(",") if f}

    # -- shell ------------------------------------------------------------------------
    def shell(self, argv: list[str], timeout: float = 60.0) -> ExecResult:
        """Run ``argv`` (each word quoted) and return its real exit code."""
        return self.command(quote_argv(argv), timeout)

    def command(self, command: str, timeout: float = 60.0) -> ExecResult:
        """Run a command line made by ``quote_argv`` or ``compose`` (never by formatting data).

        Shell protocol v2 carries the exit code and a separate stderr; devices without it
        (Android < 7) get the command followed by an exit-code marker, stderr merged.
        """
        if self._shell_v2 is None:
            self._shell_v2 = "shell_v2" in self.features()
        start = time.perf_counter()
        result = self._call(command, lambda: self._adb().shell2(
            command, timeout=timeout, encoding="utf-8", v2=self._shell_v2))
        return ExecResult(result.returncode, result.stdout if self._shell_v2 else result.output,
                          result.stderr if self._shell_v2 else "", time.perf_counter() - start)

    def run_killable(self, argv: list[str], timeout: float, cwd: str | None = None,
                     env: dict[str, str] | None = None) -> ExecResult:
        """Run a long command so that it dies on the device when ``timeout`` passes.

        Where the device has `timeout` (toybox, Android 6+) the device enforces the limit
        itself, which still holds if the host goes away. Elsewhere the host kills the tool by
        name when its socket times out: closing an adb shell does not kill it on old devices.
        """
        if self.has_timeout is None:
            self.has_timeout = self.shell(["timeout", "5", "true"], timeout=15).rc == 0
        limit = max(1, int(round(timeout)))
        parts: list = []
        if cwd:
            parts += [Raw("cd"), [cwd], Raw("&&")]
        for key, value in (env or {}).items():
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"bad environment variable name {key!r}")
            parts += [Raw("export"), [f"{key}={value}"], Raw("&&")]
        if self.has_timeout:
            parts.append(["timeout", "-k", "2", str(limit)])
        parts.append(list(argv))
        try:
            # the socket waits longer than the device-side limit so that `timeout` fires first
            return self.command(compose(*parts), timeout=timeout + 30)
        except DeviceTimeout as exc:
            self._kill_by_name(argv[0])
            raise InfraError(f"{Path(argv[0]).name} hung for over {limit}s on {self.serial}; "
                             f"killed", serial=self.serial, command=quote_argv(argv),
                             stderr_tail=exc.stderr_tail,
                             fix="raise --edgelab-timeout or use fewer iterations") from exc

    def _kill_by_name(self, path: str) -> None:
        try:
            self.shell(["pkill", "-9", "-f", path], timeout=15)
        except InfraError:
            pass  # the device is gone as well: nothing left to kill

    # -- files ------------------------------------------------------------------------
    def push_file(self, local: Path, remote: str) -> int:
        remote_dir = remote.rsplit("/", 1)[0] or "/"
        self.shell(["mkdir", "-p", remote_dir], timeout=30)
        return self._call(f"push {local} {remote}",
                          lambda: self._adb().sync.push(Path(local), remote, mode=0o755))

    def pull_file(self, remote: str, local: Path) -> Path:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        self._call(f"pull {remote}", lambda: self._adb().sync.pull(remote, Path(local)))
        return Path(local)

    def size_of(self, remote: str) -> int | None:
        info = self._call(f"stat {remote}", lambda: self._adb().sync.stat(remote))
        return info.size if info.mtime is not None else None
