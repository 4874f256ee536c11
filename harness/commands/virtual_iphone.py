"""``python -m harness virtual-device --usbmux HOST:PORT --profile IPHONE``: a virtual iPhone.

Kept apart from virtual_device.py (the Android phone's options mostly do not apply). The first
stdout line is the address, as for the Android phone, so scripts and tests can read it.
"""
from __future__ import annotations

import signal
import sys

ANDROID_ONLY = ("page_size", "serial")
# --fault for a virtual iPhone: what its EdgelabRunner does when launched (virtual/ios/runner.py)
IOS_FAULTS = ("runner-hang", "runner-crash", "runner-hot")


def serve(args) -> int:
    from ..errors import UsageError
    from ..virtual.ios import VirtualIPhone, is_ios_profile

    given = [name for name in ANDROID_ONLY if getattr(args, name, None) not in (None, [], False)]
    if given:
        raise UsageError(f"--usbmux serves a virtual iPhone: --{given[0].replace('_', '-')} is "
                         f"for virtual Android phones only")
    if not is_ios_profile(args.profile):
        from ..virtual.ios import available_ios_profiles

        raise UsageError(f"--usbmux needs an iPhone profile, not {args.profile!r}; use one of "
                         f"{', '.join(available_ios_profiles())} (device_profiles/ios/)")
    faults = list(getattr(args, "fault", None) or [])
    wrong = [f for f in faults if f not in IOS_FAULTS]
    if wrong or len(faults) > 1:
        raise UsageError(f"--fault {(wrong or faults)[0]!r} with --usbmux: give at most one of "
                         f"{', '.join(IOS_FAULTS)}")
    phone = VirtualIPhone(args.profile, args.usbmux, max_lifetime_s=args.max_lifetime or None,
                          idle_timeout_s=args.idle_timeout or None,
                          runner_play=faults[0].removeprefix("runner-") if faults else None,
                          iteration_ms=getattr(args, "compute_sleep_ms", None),
                          tunneld=getattr(args, "tunneld", None)).start()
    print(f"listening on {phone.address}", flush=True)
    if phone.tunneld_address:  # iOS 17+: where edgelab and pymobiledevice3 find the tunnel
        listed = "lists its tunnel" if phone.tunnel is not None else "lists no tunnel ([state] " \
                                                                      "tunnel = false)"
        print(f"tunneld listening on {phone.tunneld_address} ({listed}); use it with: "
              f"EDGELAB_TUNNELD={phone.tunneld_address}", file=sys.stderr, flush=True)
    profile = phone.profile
    print(f"virtual {profile.values.get('ProductType')} ({profile.name}, iOS "
          f"{profile.values.get('ProductVersion')}, pairing: {profile.pairing}); use it with: "
          f"USBMUXD_SOCKET_ADDRESS={phone.address} pymobiledevice3 usbmux list",
          file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: phone.stop())
    try:
        while not phone.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        phone.stop()
    return 0
