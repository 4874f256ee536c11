"""Helpers the virtual-iPhone tests share (test_ios_standin.py, test_ios_sampler_standin.py,
test_ios_tunnel.py): a Core ML package laid out as edgelab's variants are, and an IOSDevice
opened on an in-process VirtualIPhone through the real discovery."""
from __future__ import annotations

import hashlib
import types
from pathlib import Path


def mlpackage(tmp_path: Path):
    """A Core ML package as edgelab's variants are laid out (the virtual runner reads no
    weights: it sleeps per iteration and says so in its results)."""
    package = tmp_path / "m.mlpackage"
    (package / "Data" / "com.apple.CoreML").mkdir(parents=True)
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"\0" * 4096)
    return types.SimpleNamespace(path=package, sha256=hashlib.sha256(b"m").hexdigest(),
                                 format="coreml", model="m", variant="fp32")


def opened(phone, monkeypatch):
    """The phone as discovery finds it (its usbmuxd, and its tunneld when it serves one: iOS
    17+ profiles with a tunnel), opened as a run opens it."""
    from harness.devices import ios

    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", phone.address)
    if phone.tunneld_address:
        monkeypatch.setenv("EDGELAB_TUNNELD", phone.tunneld_address)
    (info,) = ios.discover(notes=[])
    return ios.IOSDevice(info, timeout_s=60)
