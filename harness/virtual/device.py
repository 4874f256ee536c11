"""``VirtualDevice``: a virtual Android phone that the real adb server connects to on 127.0.0.1.

    with VirtualDevice("pixel8", faults=["storage-full"]) as phone:
        subprocess.run(["adb", "connect", phone.serial])

Threads, not asyncio: one accept loop, one reader per adb connection, one thread per open stream
(a running tool must not block the transport). It binds loopback only, and stops by itself after
``max_lifetime_s`` or ``idle_timeout_s`` without traffic, so a forgotten test server cannot linger.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from ..errors import UsageError
from .adbd import AdbConnection
from .fs import VirtualFS
from .lossylink import LossyDirection
from .physics import Physics
from .profile import Profile, load_profile
from .services import open_service

# what this adbd implements; "edgelab_virtual" marks the device as virtual in `adb features` too
FEATURES = ["shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir", "edgelab_virtual"]
# adbd grew delayed-ack flow control in Android 14 (SDK 34): older profiles' adbd lacks it
DELAYED_ACK_SDK = 34
PATH = ("/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:"
        "/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin")
FAULT_HELP = ("disconnect-after=N (drop the connection at the N+1th stream; the device stays gone), "
              "hang (shell commands are accepted, never answered), hang-after=N (from the N+1th "
              "stream on nothing is answered, not even the OPEN), hang=tools (tool binaries hang), "
              "storage-full (push fails, df shows 0 free), unauthorized (AUTH, never accepted), "
              "offline (TCP accepted, no handshake), disconnect (the cable pulled now: "
              "connections dropped and refused until the fault is cleared), latency=MS (a slow, "
              "jittery link: every message leaves 0.5-1.5 x MS late), loss=P (a link that drops "
              "packets: each message is lost with probability P and retransmitted after TCP's "
              "RTO, 200 ms doubling per loss in a row, everything behind it waiting; a message "
              "lost 5 times in a row resets the connection), reboot=S (now: connections "
              "dropped, tools killed, back after S seconds with sys.boot_completed 0 for one "
              "more second)")


@dataclass(frozen=True)
class Faults:
    disconnect_after: int | None = None
    hang_after: int | None = None
    hang_all: bool = False
    hang_tools: bool = False
    storage_full: bool = False
    unauthorized: bool = False
    offline: bool = False
    disconnect: bool = False
    latency_ms: float = 0.0
    loss: float = 0.0
    reboot_s: float | None = None

    @classmethod
    def parse(cls, items) -> "Faults":
        if isinstance(items, Faults):
            return items
        if isinstance(items, str):
            items = [items]
        values: dict = {}
        for item in items or ():
            name, _, value = str(item).partition("=")
            if name in ("disconnect-after", "hang-after") and value.isdigit():
                values[name.replace("-", "_")] = int(value)
            elif name == "latency" and value.replace(".", "", 1).isdigit():
                values["latency_ms"] = float(value)
            elif name == "loss" and _probability(value) is not None:
                values["loss"] = _probability(value)
            elif name == "reboot" and value.replace(".", "", 1).isdigit():
                values["reboot_s"] = float(value)
            elif name == "hang" and value in ("", "all", "tools"):
                values["hang_tools" if value == "tools" else "hang_all"] = True
            elif name in ("storage-full", "unauthorized", "offline", "disconnect") and not value:
                values[name.replace("-", "_")] = True
            else:
                raise UsageError(f"unknown fault {item!r}; valid: {FAULT_HELP}")
        return cls(**values)


def _probability(text: str) -> float | None:
    from .lossylink import parse_loss

    try:
        return parse_loss(text)
    except ValueError:
        return None


class DeviceState:
    """What every connection and stream of one virtual phone shares."""

    def __init__(self, profile: Profile, faults: Faults, serial: str, on_drop,
                 compute_sleep_ms: float | None = None):
        self.profile, self.faults = profile, faults
        self.compute_sleep_ms = compute_sleep_ms  # tools sleep instead of computing (labelled)
        self.fs = VirtualFS(profile, storage_full=faults.storage_full)
        self.physics = Physics(profile, self.fs)  # heat, throttling, battery: simulated
        self.fs.dynamic = self.physics.read
        self.props = {**profile.props, "ro.serialno": serial, "ro.boot.serialno": serial}
        if compute_sleep_ms is not None:
            from .computesleep import label_props

            label_props(self.props, compute_sleep_ms)
        self.last_activity = time.monotonic()
        self.gone = False
        self.stalled = False  # `hang-after=N` reached: OPENs are taken and never answered
        # `loss=P` (lossylink.py): each direction's losses and resets, over all connections
        self.lossy_out, self.lossy_in = LossyDirection(), LossyDirection()
        self.power_modes: dict[str, bool] = {}  # `cmd power` modes (powercmd.py) and their log
        self.power_log: list[tuple[str, bool]] = []
        self._opened = 0
        self._children: set = set()
        self._lock = threading.Lock()
        self._on_drop = on_drop

    @property
    def features(self) -> list[str]:
        sdk = self.props.get("ro.build.version.sdk", "0")
        modern = sdk.isdigit() and int(sdk) >= DELAYED_ACK_SDK
        return FEATURES + (["delayed_ack"] if modern else [])

    def banner(self) -> str:
        return self.profile.banner(self.features)

    def set_faults(self, faults: "Faults") -> None:
        """Switch faults while the phone runs (VirtualDevice.set_faults): every connection and
        stream reads ``self.faults`` when it acts, so the new set holds from the next message."""
        with self._lock:
            self.faults = faults
            self.fs.storage_full = faults.storage_full
            if faults.disconnect:
                self.gone = True
            elif self.faults.disconnect_after is None or self._opened <= faults.disconnect_after:
                self.gone = False  # the cable is back
            if faults.hang_after is None or self._opened <= faults.hang_after:
                self.stalled = False
        if faults.disconnect:
            self._on_drop()
        if faults.reboot_s is not None:
            self._reboot(faults.reboot_s)

    def _reboot(self, seconds: float) -> None:
        """``reboot=S``: down now (connections dropped, tools killed), up after S seconds, boot
        completed one second later; one-shot (the fault leaves the set once the phone is up)."""
        import dataclasses

        with self._lock:
            self.gone = True
            self.faults = dataclasses.replace(self.faults, reboot_s=None)
            self.props["sys.boot_completed"] = "0"
        self._on_drop()
        self.kill_children()

        def come_up() -> None:
            with self._lock:
                self.gone = self.faults.disconnect
            time.sleep(1.0)
            self.props["sys.boot_completed"] = "1"

        timer = threading.Timer(seconds, come_up)
        timer.daemon = True
        timer.start()

    def default_env(self) -> dict[str, str]:
        return {"PATH": PATH, "HOME": "/", "TMPDIR": "/data/local/tmp", "SHELL": "/system/bin/sh",
                "ANDROID_DATA": "/data", "ANDROID_ROOT": "/system", "HOSTNAME": "localhost"}

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def allow_stream(self) -> bool:
        with self._lock:
            self._opened += 1
            limit = self.faults.disconnect_after
            if limit is not None and self._opened > limit:
                self.gone = True
            stall = self.faults.hang_after
            if stall is not None and self._opened > stall:
                self.stalled = True
            return not self.gone

    def drop_connections(self) -> None:
        self._on_drop()

    def register_child(self, process) -> None:
        with self._lock:
            self._children.add(process)

    def unregister_child(self, process) -> None:
        with self._lock:
            self._children.discard(process)

    @property
    def busy(self) -> bool:
        return bool(self._children)

    def kill_children(self) -> None:
        with self._lock:
            children = list(self._children)
        for process in children:
            try:
                process.kill()
            except OSError:
                pass


class VirtualDevice:
    """A virtual phone on 127.0.0.1:``port`` (0 picks a free port; read ``.port`` after start)."""

    def __init__(self, profile: str | Profile = "pixel8", port: int = 0, serial: str | None = None,
                 faults=(), page_size: int | None = None, idle_timeout_s: float | None = 900.0,
                 max_lifetime_s: float | None = 3 * 3600.0, compute_sleep_ms: float | None = None):
        if isinstance(profile, str):
            profile = load_profile(profile, page_size=page_size)
        self.profile = profile
        self.faults = Faults.parse(faults)
        if compute_sleep_ms is not None and not compute_sleep_ms > 0:
            raise UsageError(f"compute_sleep_ms {compute_sleep_ms!r}: give a positive number of ms")
        self.compute_sleep_ms = compute_sleep_ms
        self.requested_port = port
        self.idle_timeout_s, self.max_lifetime_s = idle_timeout_s, max_lifetime_s
        self._serial = serial
        self.state: DeviceState | None = None
        self._listener: socket.socket | None = None
        self._port: int | None = None  # kept after stop: a phone that dropped off keeps its serial
        self._connections: list[AdbConnection] = []
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("VirtualDevice not started")
        return self._port

    @property
    def serial(self) -> str:
        """The serial the adb server lists the device under after `adb connect`."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> "VirtualDevice":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self.requested_port))  # loopback only, never 0.0.0.0
        except OSError as exc:
            listener.close()
            raise UsageError(f"cannot listen on 127.0.0.1:{self.requested_port}: {exc.strerror}; "
                             f"pick another --port or 0 for a free one") from None
        listener.listen(8)
        listener.settimeout(0.25)
        self._listener = listener
        self._port = listener.getsockname()[1]
        serial = self._serial or f"VIRTUAL-{self.profile.name.upper()}-{self.port}"
        self.state = DeviceState(self.profile, self.faults, serial, self._drop_connections,
                                 self.compute_sleep_ms)
        self._started = time.monotonic()
        for target, name in ((self._accept_loop, "accept"), (self._watchdog, "watchdog")):
            thread = threading.Thread(target=target, name=f"virtual-adbd-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        if self._listener is not None:
            self._listener.close()
        self._drop_connections()
        if self.state is not None:
            self.state.kill_children()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)
        if self.state is not None:
            self.state.fs.close()

    def wait(self, timeout: float | None = None) -> bool:
        return self.stopped.wait(timeout)

    def set_faults(self, faults=()) -> "Faults":
        """Replace the phone's faults while it runs (``[]`` clears them): ``disconnect`` pulls
        the cable now, ``storage-full`` fills the disk, ``hang=tools`` hangs the next tool run,
        ``latency=MS`` slows the link; ``python -m harness virtual-device`` takes the same as
        ``fault F...`` / ``fault clear`` lines on stdin."""
        parsed = Faults.parse(faults)
        self.faults = parsed
        if self.state is not None:
            self.state.set_faults(parsed)
        return parsed

    def __enter__(self) -> "VirtualDevice":
        return self.start() if self._listener is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.state.gone:  # unplugged for good (disconnect-after): refuse politely
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(None)
            connection = AdbConnection(sock, self.state, open_service)
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), name="virtual-adbd-conn",
                             daemon=True).start()

    def _serve(self, connection: AdbConnection) -> None:
        try:
            connection.serve()
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)

    def _drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    def _watchdog(self) -> None:
        while not self.stopped.wait(0.5):
            now = time.monotonic()
            expired = bool(self.max_lifetime_s) and now - self._started > self.max_lifetime_s
            idle = bool(self.idle_timeout_s) and not self.state.busy and \
                now - self.state.last_activity > self.idle_timeout_s
            if expired or idle:
                threading.Thread(target=self.stop, name="virtual-adbd-stop", daemon=True).start()
                return
