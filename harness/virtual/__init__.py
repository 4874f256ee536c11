"""Virtual devices: an adbd-protocol server fed by captures of real phones.

A test double at the far side of a real protocol: the real adb server and adbutils talk to it
unchanged. Everything it reports comes from ``device_profiles/*.toml`` captures, and it always
identifies itself as virtual (``ro.edgelab.virtual=1``, adb feature ``edgelab_virtual``).
See docs/virtual-device.md.
"""
from __future__ import annotations

from .device import FEATURES, Faults, VirtualDevice
from .profile import Profile, available_profiles, load_profile
from .tools import elf_info, make_tool_stub, stub_tool_name

__all__ = ["FEATURES", "Faults", "Profile", "VirtualDevice", "available_profiles", "elf_info",
           "load_profile", "make_tool_stub", "stub_tool_name"]
