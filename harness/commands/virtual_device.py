"""``python -m harness virtual-device``: serve a virtual Android phone for adb on 127.0.0.1, or
(``--usbmux HOST:PORT``) a virtual iPhone behind a usbmuxd stand-in (commands/virtual_iphone.py)."""
from __future__ import annotations

import argparse
import signal
import sys

HELP = "serve a virtual Android phone (adbd protocol, 127.0.0.1 only) built from a device profile"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"--port {text!r}: give 0..65535 (0 picks a free port)")
    return port


def add_arguments(parser) -> None:
    from ..virtual.device import FAULT_HELP

    parser.add_argument("--profile", default="pixel8",
                        help="device profile: a name from device_profiles/ (pixel8, nexus4, mate20, "
                             "pixel8_16k) or a path to a .toml file (default: pixel8)")
    parser.add_argument("--port", type=_port, default=0,
                        help="TCP port on 127.0.0.1; 0 picks a free one and prints it (default)")
    parser.add_argument("--serial", help="the phone's ro.serialno (adb itself lists 127.0.0.1:PORT)")
    parser.add_argument("--fault", action="append", default=[], metavar="FAULT",
                        help=f"inject a fault, repeatable: {FAULT_HELP}; with --usbmux (a "
                             f"virtual iPhone) one of runner-hang, runner-crash, runner-hot: what "
                             f"its EdgelabRunner does when launched")
    parser.add_argument("--page-size", type=int, choices=(4096, 16384),
                        help="override the profile's page size (getconf PAGESIZE)")
    parser.add_argument("--idle-timeout", type=float, default=0, metavar="SECONDS",
                        help="stop after this long without adb traffic (default 0: never)")
    parser.add_argument("--max-lifetime", type=float, default=0, metavar="SECONDS",
                        help="stop after this long in any case (default 0: never)")
    parser.add_argument("--compute-sleep-ms", type=float, default=None, metavar="MS",
                        help="BENCHMARK ONLY: tools compute nothing and sleep MS per iteration "
                             "(labelled: getprop ro.edgelab.simulated has compute_sleep), so "
                             "farm-scaling runs measure edgelab's orchestration, not host CPU; "
                             "with --usbmux the virtual EdgelabRunner's sleep per iteration "
                             "(default: the profile's [runner] iteration_ms)")
    parser.add_argument("--usbmux", metavar="HOST:PORT", default=None,
                        help="serve a virtual iPhone instead: a usbmuxd stand-in (plist protocol) "
                             "on this loopback address, for an iPhone profile from "
                             "device_profiles/ios/ (e.g. --profile iphone14promax); clients use "
                             "USBMUXD_SOCKET_ADDRESS=HOST:PORT (port 0 picks a free one)")
    parser.add_argument("--tunneld", metavar="HOST:PORT", default=None,
                        help="with --usbmux: serve a tunneld stand-in (pymobiledevice3's HTTP "
                             "API, GET /) on this loopback address; an iOS 17+ profile with "
                             "[state] tunnel = true gets one on a free port anyway, listing its "
                             "RemoteXPC tunnel (the address goes to stderr; edgelab reads "
                             "EDGELAB_TUNNELD=HOST:PORT)")
    parser.add_argument("--list-profiles", action="store_true", help="list the profiles and exit")


def _control(device) -> None:
    """Control lines on stdin while the phone runs: ``fault F [F...]`` replaces its faults,
    ``fault clear`` clears them; each answered on stdout (``faults: ...`` or ``error: ...``).
    End of stdin ends control, not the phone."""
    from ..errors import UsageError

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] != "fault":
            print(f"error: unknown control command {words[0]!r}; use: fault F [F...] | fault "
                  f"clear", flush=True)
            continue
        try:
            faults = device.set_faults([] if words[1:] == ["clear"] else words[1:])
        except UsageError as exc:
            print(f"error: {exc}", flush=True)
            continue
        active = {k: v for k, v in vars(faults).items() if v not in (None, False, 0, 0.0)}
        print(f"faults: {active or 'none'}", flush=True)


def run(args) -> int:
    from ..virtual import VirtualDevice, available_profiles, load_profile

    if args.list_profiles:
        for name in available_profiles():
            profile = load_profile(name)
            print(f"{name:<12} {profile.model:<10} {','.join(profile.abis):<32} {profile.description}")
        from ..virtual.ios import available_ios_profiles, load_ios_profile

        for name in available_ios_profiles():  # served with --usbmux
            ios = load_ios_profile(name)
            print(f"{name:<12} {ios.values.get('ProductType', ''):<10} {'usbmux':<32} "
                  f"{ios.description}")
        return 0
    if args.usbmux is not None:
        from .virtual_iphone import serve

        return serve(args)
    if getattr(args, "tunneld", None) is not None:
        from ..errors import UsageError

        raise UsageError("--tunneld serves a virtual iPhone's tunnel: give --usbmux HOST:PORT "
                         "and an iPhone profile too")
    device = VirtualDevice(args.profile, port=args.port, serial=args.serial, faults=args.fault,
                           page_size=args.page_size, idle_timeout_s=args.idle_timeout or None,
                           max_lifetime_s=args.max_lifetime or None,
                           compute_sleep_ms=args.compute_sleep_ms)
    device.start()
    # the first stdout line is the contract scripts and tests read the port from
    print(f"listening on 127.0.0.1:{device.port}", flush=True)
    profile = device.profile
    print(f"virtual {profile.model} ({profile.name}, {','.join(profile.abis)}); connect with: "
          f"adb connect {device.serial}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: device.stop())
    import threading

    threading.Thread(target=_control, args=(device,), name="control", daemon=True).start()
    try:
        while not device.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        device.stop()
    return 0
