"""The adb side of an Android device: which server, shell with real exit codes, file transfer.

Everything adbutils raises is turned into ``InfraError`` here (serial, command, stderr tail and
a fix), so the rest of the harness sees one error tree. Every shell word is passed through
``shlex.quote``: callers hand over argv lists, never command strings, so a model file called
``x';rm -rf y.tflite`` reaches the device as one argument.

adbutils starts an adb server by itself (on the default port) whenever a connection fails. That
would change the machine's state behind the user's back, so ``_Client`` refuses to connect to a
server that is not listening; discovery starts one only when ``EDGELAB_ADB_START=1``.

Timeouts: every call has one, and it bounds silence at each stage: the adb server's OKAY (which
a wedged adbd never sends), then every read and write. adbutils' own defaults do not: shell v1
and `features` wait up to 600 s for the OKAY, sync connections take the client's socket
timeout. So ``_Client`` replaces them with the bound of the call under way. Short housekeeping
calls (getprop, cat, stat, chmod, mkdir) wait ``quick_timeout(timeout_s)``; tool runs, pushes
and hashes wait the configured ``timeout_s`` (``--edgelab-timeout``). A call that times out
marks the device hung for the rest of the run (``hang.HangGuard``).
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULTS
from ..errors import InfraError, ToolTimeout
from .base import ExecResult
from .hang import DeviceTimeout, Hang, HangGuard
from .link import LinkGuard, is_vanished

DEFAULT_SERVER = ("127.0.0.1", 5037)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAIL = 800  # characters of stderr kept in errors: enough for the failing line, not a log dump

SERVER_FIX = ("start it with `adb start-server` (or set EDGELAB_ADB_START=1), or point edgelab "
              "at a running one with EDGELAB_ADB_SERVER=host:port")
VANISHED_FIX = ("the device disconnected: check the cable / `adb devices`; for network devices "
                "run `adb connect HOST:PORT` again")

DEFAULT_TIMEOUT_S = float(DEFAULTS["timeout_s"])
DEFAULT_REBOOT_WAIT_S = float(DEFAULTS["reboot_wait_s"])
# getprop, cat, stat, chmod answer well within a second on a live phone, even a throttled one
# busy with a benchmark; waiting longer than this only delays finding out that it hangs
QUICK_CALL_S = 10.0
# the host waits this much longer than a device-side `timeout -k 2 N`, so that the device's own
# limit fires first and its rc 124 comes back: 2 s for the KILL plus adb's round trip
KILL_SLACK_S = 5.0


def quick_timeout(timeout_s: float) -> float:
    """The bound of a housekeeping call: a hung device shows in seconds, and a configured
    timeout below the bound (an impatient run, a test) is honoured as well."""
    return min(timeout_s, QUICK_CALL_S)


@dataclass(frozen=True)
class Call:
    """An adb call under way: what the progress line shows while a cell takes long."""
    serial: str
    label: str
    timeout_s: float
    started: float  # time.monotonic()


_IN_FLIGHT: dict[int, Call] = {}  # thread id -> its call; one writer per key, so no lock


def calls_in_flight() -> list[Call]:
    return list(_IN_FLIGHT.copy().values())


def server_addresses() -> list[tuple[str, int]]:
    """EDGELAB_ADB_SERVER=host:port[,host:port...] (one per lab host: each adb server is reached
    over the network, adb's own distributed design) wins over ANDROID_ADB_SERVER_HOST/PORT, then
    127.0.0.1:5037. Duplicates are dropped, the order is kept."""
    text = os.environ.get("EDGELAB_ADB_SERVER", "").strip()
    if text:
        found = [parse_address(t, "EDGELAB_ADB_SERVER") for t in text.split(",") if t.strip()]
        return list(dict.fromkeys(found))
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or DEFAULT_SERVER[0]
    port = os.environ.get("ANDROID_ADB_SERVER_PORT") or DEFAULT_SERVER[1]
    return [(host, int(port))]


def server_address() -> tuple[str, int]:
    """The first adb server (the one `--adb-connect` targets and serial-only calls use)."""
    return server_addresses()[0]


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
        """AdbClient that never starts a server implicitly and holds each connection to the
        bound of the call under way (see module docstring)."""

        call_timeout: float | None = None  # set by ``bounded`` around one call

        def make_connection(self, timeout=None):
            # one extra loopback connect per call: cheap next to an adb round trip, and the
            # only hook before adbutils' own fallback runs `adb start-server`
            if not server_listening(self.host, self.port):
                raise AdbConnectionError(
                    f"no adb server listening on {self.host}:{self.port}")
            return super().make_connection(self.call_timeout or timeout)

    return _Client


def make_client(address: tuple[str, int] | None = None, socket_timeout: float = 30.0):
    host, port = address or server_address()
    return _client_class()(host=host, port=port, socket_timeout=socket_timeout)


@contextlib.contextmanager
def bounded(client, seconds: float):
    """Every connection ``client`` opens inside waits at most ``seconds`` for each answer."""
    if client is None:  # a stand-in device (unit tests) opens no connections
        yield
        return
    previous, client.call_timeout = client.call_timeout, seconds
    try:
        yield
    finally:
        client.call_timeout = previous


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
    ``$(...)``, ``if``/``case`` or positional parameters, which Android's toolbox-era shells and
    the virtual device do not all handle alike. The one exception is toolmem.py's fixed watcher
    (``&``, ``$!``, ``wait``, ``while``/``for`` with ``read``), checked under real mksh and dash.
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
    """Shell, push and pull for one serial. Constructing it does not touch the device.

    ``timeout_s`` is the run's configured timeout; ``hang`` a hang discovery already saw;
    ``reboot_wait_s`` how long a phone that dropped off may take to come back (link.py).
    """

    def __init__(self, serial: str, address: tuple[str, int] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, hang: Hang | None = None,
                 reboot_wait_s: float = DEFAULT_REBOOT_WAIT_S):
        self.serial = serial
        self.address = address or server_address()
        self.timeout_s = timeout_s
        self.quick_s = quick_timeout(timeout_s)
        self.guard = HangGuard(serial, hang)
        self.link = LinkGuard(serial, self.address, self.quick_s,  # dropped off: link.py
                              reappear_s=reboot_wait_s)
        self._client = None
        self._device = None
        self._shell_v2: bool | None = None
        self.has_timeout: bool | None = None  # on-device `timeout` (toybox, Android 6+)

    # -- plumbing ---------------------------------------------------------------------
    def _adb(self):
        if self._device is None:
            self._client = make_client(self.address)
            self._device = self._client.device(serial=self.serial)
        return self._device

    def _call(self, command: str, fn, timeout: float, label: str | None = None):
        """``fn()`` with every adb connection bounded by ``timeout``; a device that hung
        earlier in the run is not asked at all."""
        import adbutils

        label = label or Path(command.split(" ", 1)[0]).name
        self.guard.check(label)
        self.link.check(label)
        self._adb()
        key = threading.get_ident()
        _IN_FLIGHT[key] = Call(self.serial, label, timeout, time.monotonic())
        try:
            with bounded(self._client, timeout):
                return fn()
        except (adbutils.AdbTimeout, TimeoutError) as exc:
            raise self.guard.trip(label, timeout, str(exc), note=self.link.unreliable()) from exc
        except (adbutils.AdbError, OSError, EOFError) as exc:
            error = wrap_adb_error(exc, self.serial, command)
            if is_vanished(exc):  # one bounded `adb reconnect offline`, then quarantine
                error = self.link.on_vanished(error)
            raise error from exc
        finally:
            _IN_FLIGHT.pop(key, None)

    @property
    def shell_v2(self) -> bool | None:
        """Whether the device speaks shell protocol v2 (None until the first command)."""
        return self._shell_v2

    def features(self) -> set[str]:
        text = self._call("features", lambda: self._adb().get_features(), self.quick_s)
        return {f for f in text.split(",") if f}

    # -- shell ------------------------------------------------------------------------
    def shell(self, argv: list[str], timeout: float | None = None) -> ExecResult:
        """Run ``argv`` (each word quoted) and return its real exit code."""
        return self.command(quote_argv(argv), timeout, label=Path(str(argv[0])).name)

    def command(self, command: str, timeout: float | None = None,
                label: str | None = None) -> ExecResult:
        """Run a command line made by ``quote_argv`` or ``compose`` (never by formatting data).

        ``timeout`` defaults to the housekeeping bound; ``label`` names the call in errors and
        progress lines (default: the first word). Shell protocol v2 carries the exit code and a
        separate stderr; devices without it (Android < 7) get the command followed by an
        exit-code marker, stderr merged.
        """
        timeout = self.quick_s if timeout is None else timeout
        if self._shell_v2 is None:
            self._shell_v2 = "shell_v2" in self.features()
        start = time.perf_counter()
        result = self._call(command, lambda: self._adb().shell2(
            command, timeout=timeout, encoding="utf-8", v2=self._shell_v2), timeout, label)
        return ExecResult(result.returncode, result.stdout if self._shell_v2 else result.output,
                          result.stderr if self._shell_v2 else "", time.perf_counter() - start)

    def run_killable(self, argv: list[str], timeout: float, cwd: str | None = None,
                     env: dict[str, str] | None = None, watch_memory: bool = False) -> ExecResult:
        """Run a long command so that it dies on the device when ``timeout`` passes.

        Where the device has `timeout` (toybox, Android 6+) the device enforces the limit
        itself, which still holds if the host goes away. Elsewhere the host kills the tool by
        name when its socket times out: closing an adb shell does not kill it on old devices.
        ``watch_memory``: the device also reads the command's VmHWM until it ends and prints it
        after its output (toolmem.py; ``toolmem.split_marker`` takes it back out).
        """
        if self.has_timeout is None:
            self.has_timeout = self.shell(["timeout", "5", "true"]).rc == 0
        limit = max(1, int(round(timeout)))
        parts: list = []
        if cwd:
            parts += [Raw("cd"), [cwd], Raw("&&")]
        for key, value in (env or {}).items():
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"bad environment variable name {key!r}")
            parts += [Raw("export"), [f"{key}={value}"], Raw("&&")]
        launch = [["timeout", "-k", "2", str(limit)]] if self.has_timeout else []
        launch.append(list(argv))
        if watch_memory:
            from .toolmem import watched_command

            command = watched_command(parts, launch, str(argv[0]), bool(self.has_timeout))
        else:
            command = compose(*parts, *launch)
        try:
            return self.command(command, timeout=timeout + KILL_SLACK_S,
                                label=Path(argv[0]).name)
        except DeviceTimeout as exc:
            if self.has_timeout:
                raise  # the device's own `timeout` would have answered by now: it hangs
            # no device-side limit: the socket timeout was the host's limit for the tool, and
            # only the kill tells whether the device itself still answers
            self.guard.forgive()
            self._kill_by_name(argv[0])
            # the device answered the kill: the tool, not the device, ran out of time
            raise ToolTimeout(Path(argv[0]).name, limit, f"killed by the host on {self.serial} "
                              f"(`pkill -9 -f`: the device has no `timeout`)") from exc

    def _kill_by_name(self, path: str) -> None:
        try:
            self.shell(["pkill", "-9", "-f", path])
        except DeviceTimeout:
            raise  # the kill went unanswered too: the device hangs, not only the tool
        except InfraError:
            pass  # the device is gone as well: nothing left to kill

    # -- files ------------------------------------------------------------------------
    def push_file(self, local: Path, remote: str) -> int:
        remote_dir = remote.rsplit("/", 1)[0] or "/"
        self.shell(["mkdir", "-p", remote_dir])
        return self._call(f"push {local} {remote}",
                          lambda: self._adb().sync.push(Path(local), remote, mode=0o755),
                          self.timeout_s, label=f"push {Path(local).name}")

    def pull_file(self, remote: str, local: Path) -> Path:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        self._call(f"pull {remote}", lambda: self._adb().sync.pull(remote, Path(local)),
                   self.timeout_s, label=f"pull {remote.rsplit('/', 1)[-1]}")
        return Path(local)

    def size_of(self, remote: str) -> int | None:
        info = self._call(f"stat {remote}", lambda: self._adb().sync.stat(remote), self.quick_s,
                          label="stat")
        return info.size if info.mtime is not None else None
