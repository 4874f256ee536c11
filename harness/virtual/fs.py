"""The virtual phone's filesystem: a temp dir per device holding the device paths.

File contents live on the host under ``root`` (``/data/local/tmp/x`` -> ``root/data/local/tmp/x``);
modes and owners live in a dict, so a pushed file's mode never depends on the host's umask and the
read-only sysfs files stay read-only even for root. /proc/cpuinfo and the cpufreq/thermal sysfs
files are filled from the profile's captures. Errors are ``OSError`` with the errno the kernel
would give, so the shell can print the real ``strerror`` text.
"""
from __future__ import annotations

import errno
import os
import posixpath
import re
import shutil
import stat
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from .profile import Profile

SHELL_UID = 2000
_GOVERNOR_FILE = re.compile(r"^/sys/devices/system/cpu/cpu(\d+)/cpufreq/"
                            r"(scaling_governor|scaling_min_freq|scaling_max_freq|scaling_setspeed)$")
_SHELL_WRITABLE = ("/data/local/tmp", "/sdcard", "/storage/emulated/0")
_ON_DATA = ("/data", "/sdcard", "/storage/emulated")  # paths whose bytes count against storage
_HAL_THERMAL_TYPES = {"0", "1", "2", "3", "9"}  # CPU, GPU, BATTERY, SKIN, NPU: real temperatures
_HAL_LINE = re.compile(r"Temperature\{mValue=([-\d.]+), mType=(-?\d+), mName=([^,]+),")


def _error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


@dataclass(frozen=True)
class Stat:
    mode: int
    size: int
    mtime: int
    uid: int
    gid: int
    ino: int
    nlink: int
    atime: int
    ctime: int


class VirtualFS:
    def __init__(self, profile: Profile, storage_full: bool = False):
        self.profile = profile
        self.root_user = profile.root
        self.storage_full = storage_full
        self.root = Path(tempfile.mkdtemp(prefix=f"edgelab-virtual-{profile.name}-"))
        # removed on close(), or at interpreter exit when a caller forgot to stop the device
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.root), ignore_errors=True)
        self._meta: dict[str, tuple[int, int, int]] = {}  # path -> (st_mode, uid, gid)
        self._lock = threading.RLock()
        owner = 0 if self.root_user else SHELL_UID
        for path in ("/", "/data", "/data/local", "/system", "/system/bin", "/proc", "/sys",
                     "/storage", "/storage/emulated", "/dev"):
            self._mkdir_meta(path, 0o755, 0)
        self._mkdir_meta("/data/local/tmp", 0o771, SHELL_UID)
        self._mkdir_meta("/storage/emulated/0", 0o770, SHELL_UID)
        self._mkdir_meta("/sdcard", 0o770, SHELL_UID)  # a symlink on phones; a dir is enough here
        self._owner = owner
        self.dynamic = None  # path -> bytes | None: files a model computes when read (physics.py)
        self._populate()

    # -- paths -------------------------------------------------------------------------------
    @staticmethod
    def normalize(path: str, cwd: str = "/") -> str:
        joined = posixpath.join(cwd, path) if not path.startswith("/") else path
        normal = posixpath.normpath(joined)
        return "/" + normal.lstrip("/") if normal != "/" else "/"

    def host_path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def exists(self, path: str) -> bool:
        return path == "/dev/null" or self.host_path(path).exists()

    def is_dir(self, path: str) -> bool:
        return self.host_path(path).is_dir()

    def is_file(self, path: str) -> bool:
        return self.host_path(path).is_file()

    # -- metadata ----------------------------------------------------------------------------
    def stat(self, path: str) -> Stat:
        if path == "/dev/null":
            return Stat(stat.S_IFCHR | 0o666, 0, 0, 0, 0, 3, 1, 0, 0)
        try:
            host = os.stat(self.host_path(path))
        except FileNotFoundError:
            raise _error(errno.ENOENT, path) from None
        except NotADirectoryError:
            raise _error(errno.ENOTDIR, path) from None
        default_type = stat.S_IFDIR if stat.S_ISDIR(host.st_mode) else stat.S_IFREG
        mode, uid, gid = self._meta.get(path, (default_type | 0o644, 0, 0))
        return Stat(mode=mode, size=0 if stat.S_ISDIR(mode) else host.st_size,
                    mtime=int(host.st_mtime), uid=uid, gid=gid, ino=host.st_ino,
                    nlink=host.st_nlink, atime=int(host.st_atime), ctime=int(host.st_ctime))

    def chmod(self, path: str, mode: int) -> None:
        st = self.stat(path)
        if not self.root_user and st.uid != SHELL_UID:
            raise _error(errno.EPERM, path)
        with self._lock:
            self._meta[path] = (stat.S_IFMT(st.mode) | (mode & 0o7777), st.uid, st.gid)

    def set_mtime(self, path: str, mtime: int) -> None:
        os.utime(self.host_path(path), (mtime, mtime))

    # -- reading -----------------------------------------------------------------------------
    def listdir(self, path: str) -> list[str]:
        host = self.host_path(path)
        if not host.exists():
            raise _error(errno.ENOENT, path)
        if not host.is_dir():
            raise _error(errno.ENOTDIR, path)
        return sorted(os.listdir(host))

    def read_bytes(self, path: str) -> bytes:
        if path == "/dev/null":
            return b""
        if self.dynamic is not None and (computed := self.dynamic(path)) is not None:
            return computed
        host = self.host_path(path)
        if host.is_dir():
            raise _error(errno.EISDIR, path)
        try:
            return host.read_bytes()
        except FileNotFoundError:
            raise _error(errno.ENOENT, path) from None
        except NotADirectoryError:
            raise _error(errno.ENOTDIR, path) from None

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode(errors="replace")

    # -- writing -----------------------------------------------------------------------------
    def check_writable(self, path: str, size: int = 0) -> None:
        """Raise the errno a write of ``size`` bytes to ``path`` would get on the phone."""
        if path == "/dev/null":
            return
        if self.is_dir(path):
            raise _error(errno.EISDIR, path)
        if path.startswith(("/proc/", "/sys/")):
            if not (_GOVERNOR_FILE.match(path) and self.exists(path) and self.root_user):
                raise _error(errno.EACCES, path)
            return
        if path.startswith(("/system/", "/vendor/")) or path.count("/") == 1:
            raise _error(errno.EROFS if self.root_user else errno.EACCES, path)
        if not self.root_user and not _under(path, _SHELL_WRITABLE):
            raise _error(errno.EACCES, path)
        parent = posixpath.dirname(path)
        if not self.is_dir(parent):
            raise _error(errno.ENOENT if not self.exists(parent) else errno.ENOTDIR, path)
        if _under(path, _ON_DATA) and size > 0 and size > self.free_bytes():
            raise _error(errno.ENOSPC, path)

    def write_bytes(self, path: str, data: bytes, append: bool = False, mode: int = 0o644) -> None:
        if path == "/dev/null":
            return
        self.check_writable(path, len(data))
        if _GOVERNOR_FILE.match(path):
            self._write_cpufreq(path, data.decode(errors="replace").strip())
            return
        with self._lock:
            with open(self.host_path(path), "ab" if append else "wb") as fh:
                fh.write(data)
            if path not in self._meta:
                self._meta[path] = (stat.S_IFREG | mode, self._owner, self._owner)

    def open_push(self, path: str, mode: int) -> "PushWriter":
        """A streaming writer for sync SEND: checks space per chunk like a real full disk does."""
        try:
            self.check_writable(path)
        except FileNotFoundError:
            self.make_dirs(posixpath.dirname(path))  # adbd's secure_mkdirs, then it retries
            self.check_writable(path)
        return PushWriter(self, path, mode)

    def make_dirs(self, path: str, mode: int = 0o771) -> None:
        parts = [p for p in path.split("/") if p]
        current = ""
        for part in parts:
            current += "/" + part
            if self.is_dir(current):
                continue
            if self.exists(current):
                raise _error(errno.ENOTDIR, current)
            self.mkdir(current, mode)

    def mkdir(self, path: str, mode: int = 0o771) -> None:
        if self.exists(path):
            raise _error(errno.EEXIST, path)
        self.check_writable(path)
        with self._lock:
            self.host_path(path).mkdir()
            self._meta[path] = (stat.S_IFDIR | mode, self._owner, self._owner)

    def remove(self, path: str, recursive: bool = False) -> None:
        host = self.host_path(path)
        if not host.exists():
            raise _error(errno.ENOENT, path)
        self.check_writable(path if not host.is_dir() else path + "/.x")
        with self._lock:
            if host.is_dir():
                if not recursive:
                    raise _error(errno.EISDIR, path)
                shutil.rmtree(host)
                for key in [k for k in self._meta if k == path or k.startswith(path + "/")]:
                    del self._meta[key]
            else:
                host.unlink()
                self._meta.pop(path, None)

    # -- storage -----------------------------------------------------------------------------
    def used_bytes(self) -> int:
        total = 0
        for top in ("data", "storage", "sdcard"):
            for dirpath, _, files in os.walk(self.root / top):
                total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        return total

    def free_bytes(self) -> int:
        if self.storage_full:
            return 0
        return max(0, self.profile.storage_free_bytes - self.used_bytes())

    def close(self) -> None:
        self._cleanup()

    # -- captures -> files -------------------------------------------------------------------
    def _mkdir_meta(self, path: str, mode: int, uid: int) -> None:
        self.host_path(path).mkdir(parents=True, exist_ok=True)
        self._meta[path] = (stat.S_IFDIR | mode, uid, uid)

    def _put(self, path: str, text: str, mode: int = 0o444) -> None:
        host = self.host_path(path)
        parent = posixpath.dirname(path)
        if not host.parent.exists():
            host.parent.mkdir(parents=True)
            for ancestor in _ancestors(parent):
                self._meta.setdefault(ancestor, (stat.S_IFDIR | 0o755, 0, 0))
        host.write_text(text)
        self._meta[path] = (stat.S_IFREG | mode, 0, 0)

    def _populate(self) -> None:
        captures = self.profile.captures
        self._put("/proc/cpuinfo", captures["cpuinfo"])
        self._put("/proc/sys/kernel/osrelease", (self.profile.kernel_release or "unknown") + "\n")
        for line in captures["cpufreq"].splitlines():
            path, sep, value = line.partition(": ")
            if sep and path.startswith("/sys/"):
                writable = bool(_GOVERNOR_FILE.match(path))
                self._put(path, value + "\n", 0o644 if writable else 0o444)
        if self.profile.default_governor:  # captures without scaling_governor (see mate20.toml)
            for cpufreq in self.host_path("/sys/devices/system/cpu").glob("cpu*/cpufreq"):
                governor = cpufreq / "scaling_governor"
                if not governor.exists():
                    device_path = "/" + str(governor.relative_to(self.root))
                    self._put(device_path, self.profile.default_governor + "\n", 0o644)
        for number, (kind, temp) in enumerate(self._thermal_zones()):
            zone = f"/sys/class/thermal/thermal_zone{number}"
            self._put(f"{zone}/type", kind + "\n")
            self._put(f"{zone}/temp", temp + "\n")

    def _thermal_zones(self) -> list[tuple[str, str]]:
        captures = self.profile.captures
        if "thermal_sysfs" in captures:
            return sysfs_zones_from_capture(captures["thermal_sysfs"])
        if "thermalservice" in captures:
            return zones_from_thermalservice(captures["thermalservice"])
        return []

    def _write_cpufreq(self, path: str, value: str) -> None:
        """A write to a cpufreq policy file: validated like the kernel, shared by the policy."""
        cpu_dir = posixpath.dirname(path)
        attribute = posixpath.basename(path)
        if attribute == "scaling_governor":
            available = self._read_opt(f"{cpu_dir}/scaling_available_governors").split()
            if value not in available:
                raise _error(errno.EINVAL, path)
        else:
            if not value.isdigit():
                raise _error(errno.EINVAL, path)
            low = int(self._read_opt(f"{cpu_dir}/cpuinfo_min_freq") or 0)
            high = int(self._read_opt(f"{cpu_dir}/cpuinfo_max_freq") or 1 << 31)
            value = str(min(max(int(value), low), high))
        related = self._read_opt(f"{cpu_dir}/related_cpus").split() or [cpu_dir.split("/")[-2][3:]]
        with self._lock:
            for cpu in related:
                target = f"/sys/devices/system/cpu/cpu{cpu}/cpufreq"
                if self.is_dir(target):
                    self.host_path(f"{target}/{attribute}").write_text(value + "\n")
                    self._meta.setdefault(f"{target}/{attribute}", (stat.S_IFREG | 0o644, 0, 0))
                    self._follow_governor(target, attribute, value)

    def _follow_governor(self, cpufreq: str, attribute: str, value: str) -> None:
        # performance/powersave pin the clock; other governors leave it where it was
        if attribute != "scaling_governor" or value not in ("performance", "powersave"):
            return
        edge = "max" if value == "performance" else "min"
        freq = (self._read_opt(f"{cpufreq}/scaling_{edge}_freq")
                or self._read_opt(f"{cpufreq}/cpuinfo_{edge}_freq"))
        if freq and self.exists(f"{cpufreq}/scaling_cur_freq"):
            self.host_path(f"{cpufreq}/scaling_cur_freq").write_text(freq.strip() + "\n")

    def _read_opt(self, path: str) -> str:
        try:
            return self.host_path(path).read_text().strip()
        except OSError:
            return ""


class PushWriter:
    """Receives sync DATA chunks; a chunk that does not fit fails with ENOSPC mid-transfer."""

    def __init__(self, fs: VirtualFS, path: str, mode: int):
        self.fs, self.path = fs, path
        self._free = fs.free_bytes()
        self._fh = open(fs.host_path(path), "wb")
        self.written = 0
        with fs._lock:
            fs._meta[path] = (stat.S_IFREG | (mode & 0o7777), fs._owner, fs._owner)

    def write(self, chunk: bytes) -> None:
        if self.written + len(chunk) > self._free:
            raise _error(errno.ENOSPC, self.path)
        self._fh.write(chunk)
        self.written += len(chunk)

    def close(self, mtime: int | None = None) -> None:
        self._fh.close()
        if mtime:
            self.fs.set_mtime(self.path, mtime)

    def abort(self) -> None:
        self._fh.close()
        try:
            self.fs.remove(self.path)
        except OSError:
            pass


def sysfs_zones_from_capture(text: str) -> list[tuple[str, str]]:
    """Pair ``cat */temp`` with ``cat */type`` lines; both list zones in glob (string) order."""
    temps, types, current = [], [], None
    for line in text.splitlines():
        if "cat */temp" in line:
            current = temps
        elif "cat */type" in line:
            current = types
        elif "#" in line or "$" in line:
            current = None
        elif current is not None and line.strip():
            current.append(line.strip())
    temps = [t for t in temps if re.fullmatch(r"-?\d+", t)]
    count = min(len(temps), len(types))
    glob_order = sorted(range(count), key=lambda n: f"thermal_zone{n}")
    zones: list[tuple[str, str]] = [("", "")] * count
    for position, zone in enumerate(glob_order):
        zones[zone] = (types[position], temps[position])
    return zones


def zones_from_thermalservice(text: str) -> list[tuple[str, str]]:
    """Zones from the HAL's current temperatures (CPU/GPU/battery/skin/NPU), in millidegrees."""
    section = text.split("Current temperatures from HAL:")[-1]
    zones = []
    for value, kind, name in _HAL_LINE.findall(section):
        if kind in _HAL_THERMAL_TYPES:
            zones.append((name, str(round(float(value) * 1000))))
    return zones


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _ancestors(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]

