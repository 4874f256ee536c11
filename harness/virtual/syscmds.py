"""Device-information commands of the virtual phone: getprop, df, dumpsys, uname, getconf, nproc,
id/whoami. Their answers come from the profile's captures and configuration."""
from __future__ import annotations

import re

from .commands import _err, _flags, _out, command


@command("getprop")
def _getprop(shell, argv, io):
    props = shell.device.props
    if len(argv) == 1:
        _out(io, "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())))
        return 0
    default = argv[2] if len(argv) > 2 else ""
    _out(io, props.get(argv[1], default) + "\n")
    return 0


@command("df")
def _df(shell, argv, io):
    flags, operands = _flags(argv, "hkPa")
    fs, profile = shell.fs, shell.device.profile
    free = fs.free_bytes()
    total = profile.storage_total_bytes
    mounts = [("/dev/block/dm-48", "/data"), ("/dev/fuse", "/storage/emulated")]
    if operands:
        wanted = set()
        for operand in operands:
            path = fs.normalize(operand, shell.cwd)
            if path.startswith(("/sdcard", "/storage")):
                wanted.add("/storage/emulated")
            elif path.startswith("/data"):
                wanted.add("/data")
        mounts = [m for m in mounts if m[1] in wanted]
    size = (lambda b: _human(b)) if "h" in flags else (lambda b: str(b // 1024))
    head = "Size" if "h" in flags else "1K-blocks"
    _out(io, f"Filesystem       {head:>9} {'Used':>9} {'Available':>9} Use% Mounted on\n")
    for device, mount in mounts:
        used = total - free
        percent = -(-used * 100 // total) if total else 0
        _out(io, f"{device:<16} {size(total):>9} {size(used):>9} {size(free):>9} "
                 f"{percent:>3}% {mount}\n")
    return 0


def _human(count: int) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if count < 1024 or unit == "T":
            return f"{count:.1f}{unit}" if unit and count < 10 else f"{count:.0f}{unit}"
        count /= 1024
    return str(count)


@command("dumpsys")
def _dumpsys(shell, argv, io):
    service = argv[1] if len(argv) > 1 else ""
    capture = {"battery": "battery", "thermalservice": "thermalservice"}.get(service)
    text = shell.device.profile.captures.get(capture) if capture else None
    if text is None:
        _err(io, f"Can't find service: {service}")
        return 0
    text = shell.device.physics.dumpsys(service, text)  # simulated temperatures and battery
    _out(io, text if text.endswith("\n") else text + "\n")
    return 0


@command("uname")
def _uname(shell, argv, io):
    profile = shell.device.profile
    release = profile.kernel_release or "unknown"
    fields = {"s": "Linux", "n": "localhost", "r": release, "v": "#1 SMP PREEMPT",
              "m": profile.uname_machine}
    flags, _ = _flags(argv, "snrvmoa")
    if "a" in flags:
        _out(io, " ".join(fields[k] for k in "snrvm") + " Toybox\n")
    else:
        _out(io, " ".join(fields[k] for k in "snrvm" if k in flags or (not flags and k == "s")) + "\n")
    return 0


@command("getconf")
def _getconf(shell, argv, io):
    name = argv[1] if len(argv) > 1 else ""
    values = {"PAGESIZE": shell.device.profile.page_size, "PAGE_SIZE": shell.device.profile.page_size,
              "_NPROCESSORS_ONLN": _nproc(shell), "_NPROCESSORS_CONF": _nproc(shell)}
    if name not in values:
        _err(io, f"getconf: no '{name}'")
        return 1
    _out(io, f"{values[name]}\n")
    return 0


def _nproc(shell) -> int:
    return len(re.findall(r"^processor\s*:", shell.device.profile.captures["cpuinfo"], re.M)) or 1


@command("nproc")
def _nproc_command(shell, argv, io):
    _out(io, f"{_nproc(shell)}\n")
    return 0


@command("id", "whoami")
def _id(shell, argv, io):
    root = shell.device.profile.root
    if argv[0] == "whoami":
        _out(io, ("root" if root else "shell") + "\n")
    elif root:
        _out(io, "uid=0(root) gid=0(root) groups=0(root) context=u:r:su:s0\n")
    else:
        _out(io, "uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),"
                 "1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),"
                 "3003(inet),3006(net_bw_stats) context=u:r:shell:s0\n")
    return 0
