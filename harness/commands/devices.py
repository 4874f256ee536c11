from __future__ import annotations

import json
import os

from ..config import export_adb_environment, parse_csv, parse_host_port
from ..devices import journal
from ..devices.discovery import discover_all, open_device

HELP = ("list the devices `--device=all` would use, with their profiles and which engines' "
        "benchmark tools each can run; --restore puts back what a killed run changed on a device")


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not probe devices for their profile (faster)")
    parser.add_argument("--adb-server", type=parse_host_port, action="append", default=None,
                        metavar="HOST:PORT",
                        help="adb server to ask for phones, repeatable (one per lab host), as "
                             "pytest's --adb-server (default: ANDROID_ADB_SERVER_HOST/PORT, else "
                             "127.0.0.1:5037)")
    parser.add_argument("--adb-connect", type=parse_csv, default=None, metavar="HOST:PORT,...",
                        help="`adb connect` these first (network or virtual devices), as pytest's")
    parser.add_argument("--usbmux", default=None, metavar="HOST:PORT|PATH",
                        help="usbmuxd to ask for iPhones (sets USBMUXD_SOCKET_ADDRESS, which "
                             "pymobiledevice3 and pytest runs read; default /var/run/usbmuxd)")
    parser.add_argument("--tunneld", default=None, metavar="HOST:PORT",
                        help="pymobiledevice3's tunneld, through which iOS 17+ iPhones are reached "
                             "(sets EDGELAB_TUNNELD, which pytest runs read; default "
                             "127.0.0.1:49151)")
    parser.add_argument("--restore", nargs="?", const="", default=None, metavar="ID",
                        help="restore the governors (and fixed-performance mode) a run that was "
                             "killed left changed, from its journal in "
                             f"{journal.journal_dir()}: every device with a journal, or only ID")


def run(args) -> int:
    export_adb_environment(args.adb_server, args.adb_connect)
    if args.usbmux:
        os.environ["USBMUXD_SOCKET_ADDRESS"] = args.usbmux
    if args.tunneld:
        os.environ["EDGELAB_TUNNELD"] = args.tunneld
    if args.restore is not None:
        return restore(args.restore or None)
    notes: list[str] = []
    entries = []
    for info in discover_all(notes=notes):
        entry = info.as_dict()
        if not args.no_probe and info.state == "device":
            try:
                entry["profile"] = open_device(info).profile()
            except Exception as exc:  # one broken device must not hide the others
                entry["profile_error"] = f"{type(exc).__name__}: {exc}"
        if "android" in info.kind and isinstance(entry.get("profile", {}).get("abis"), list):
            entry["engines"] = engine_readiness(entry["profile"]["abis"], info.virtual)
        entries.append(entry)
    pending = journal.pending()
    from ..devices import lease

    held = {h.get("device"): h for h in lease.holders()}  # who uses which phone right now
    for entry in entries:
        if entry["id"] in held:
            entry["lease"] = held[entry["id"]]
    if args.json:
        print(json.dumps({"devices": entries, "notes": notes, "leases": list(held.values()),
                          "journals": [{"path": str(p), **data} for p, data in pending]},
                         indent=2, default=str))
        return 0
    for e in entries:
        tag = " (virtual)" if e.get("virtual") else ""
        profile = e.get("profile", {})
        abis = ",".join(profile.get("abis", [])) if isinstance(profile.get("abis"), list) else ""
        matched = f"  profile {profile['profile']}" if profile.get("profile") else ""
        print(f"{e['id']:<24} {e['kind']:<16} {e['state']:<13} {e.get('model', '')}{tag}"
              f"{'  [' + abis + ']' if abis else ''}{matched}")
        if e["kind"] == "ios":
            print(f"{'':<24} {_ios_line(e.get('details', {}))}")
        if e.get("profile_error"):
            print(f"{'':<24} probe failed: {e['profile_error']}")
        if e.get("lease"):
            print(f"{'':<24} in use by {lease.describe(e['lease'])}")
        for engine, ready in e.get("engines", {}).items():
            where = f" {ready['abi']}" if ready.get("abi") else ""
            print(f"{'':<24} {engine:<12} {ready['state']}{where}: {ready['detail']}")
    for note in notes:
        print(f"note: {note}")
    for path, data in pending:
        device = (data.get("device") or {}).get("id", "?")
        print(f"restore journal: {device}: {journal.describe(data)} ({path}); repair with "
              f"`python -m harness devices --restore {device}`")
    return 0


def _ios_line(details: dict) -> str:
    """ProductType, iOS version, CPU architecture, chip; and the fix when a person must act."""
    parts = [details.get("product_type") or "?", f"iOS {details.get('product_version') or '?'}",
             details.get("cpu_architecture") or "arch unknown", details.get("chip") or "chip unknown"]
    line = " · ".join(parts)
    return f"{line}\n{'':<24} fix: {details['fix']}" if details.get("fix") else line


def engine_readiness(abis: list[str], virtual: bool) -> dict:
    """Which engines' benchmark tools this phone can run now (the run's own choice, see
    engines/tools.readiness); imported here so a plain `devices` stays light."""
    from ..engines.tools import ToolCache, readiness

    return readiness(abis, virtual, ToolCache())


def restore(wanted: str | None) -> int:
    """Restore every journaled device (or ``wanted``); 0 when all are back, else 1."""
    from ..devices.base import DeviceInfo
    from ..devices.operations import repair_stale

    pending = [(p, d) for p, d in journal.pending()
               if wanted is None or (d.get("device") or {}).get("id") == wanted]
    if not pending:
        print(f"nothing to restore: no journal{' for ' + wanted if wanted else ''} in "
              f"{journal.journal_dir()}")
        return 0 if wanted is None else 1
    failed = 0
    for path, data in pending:
        if not data.get("device"):
            print(f"{path}: unreadable journal: remove it after checking the device by hand")
            failed += 1
            continue
        info = DeviceInfo.from_dict(data["device"])
        log = journal.Journal(info.as_dict())
        log.path = path
        try:
            device = open_device(info)
            done = repair_stale(device.operations(), log, f"python -m harness devices --restore {info.id}")
        except Exception as exc:  # one device that cannot be reached must not stop the others
            print(f"{info.id}: not restored: {exc}")
            failed += 1
            continue
        print(f"{info.id}: {done}")
    return 1 if failed else 0
