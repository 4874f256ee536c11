"""The virtual iPhone: a usbmuxd stand-in (plist protocol) with lockdownd behind it, fed by
captures of real iPhones (device_profiles/ios/); for iOS 17+ with ``[state] tunnel`` also a
tunneld stand-in and the tunnel's RSD (tunnel.py, rsd.py). A test double at the far side of a
real protocol: the real pymobiledevice3 client lists and queries it unchanged. See docs/ios.md."""
from __future__ import annotations

from .phone import VIRTUAL_KEY, VirtualIPhone, parse_loopback
from .profile import IOSProfile, available_ios_profiles, is_ios_profile, load_ios_profile

__all__ = ["IOSProfile", "VIRTUAL_KEY", "VirtualIPhone", "available_ios_profiles",
           "is_ios_profile", "load_ios_profile", "parse_loopback"]
