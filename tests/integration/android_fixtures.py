"""Fixtures for the Android backend tests: three virtual phones behind the real adb server, a
tool cache with virtual stand-ins, and the models in a private cache.

Import the fixtures into a test module (``from android_fixtures import ...``); they build on
``adb_server`` and ``virtual_phone`` from this directory's conftest.py.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PHONES = ("pixel8", "nexus4", "mate20")


@pytest.fixture
def adb_env(adb_server, monkeypatch):
    """Point this process's discovery at the test adb server (and nowhere else)."""
    monkeypatch.setenv("EDGELAB_ADB_SERVER", f"127.0.0.1:{adb_server.port}")
    monkeypatch.delenv("EDGELAB_ADB_CONNECT", raising=False)
    monkeypatch.delenv("EDGELAB_ADB_START", raising=False)
    return adb_server


@pytest.fixture
def three_phones(virtual_phone, adb_env) -> dict:
    """pixel8 (arm64 only), nexus4 (ARMv7 only), mate20 (both), connected and in state device."""
    return {name: virtual_phone(name) for name in PHONES}


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """A private EDGELAB_CACHE holding the fetched models, copied from the cache `make test` filled
    (tests never download), so tool registrations of a test stay out of the user's cache."""
    from harness.models.fetch import default_cache_dir

    cache = tmp_path_factory.mktemp("edgelab-cache")
    if (default_cache_dir() / "models").is_dir():
        shutil.copytree(default_cache_dir() / "models", cache / "models")
    return cache


@pytest.fixture(scope="session")
def models(model_cache) -> dict:
    """name -> (ModelSpec, local path) for the two default models (one ONNX, one TFLite)."""
    from harness.models.fetch import fetch
    from harness.models.manifest import load_manifest

    manifest = load_manifest(Path(__file__).resolve().parents[2] / "models" / "manifest.toml")
    try:
        return {name: (manifest[name], fetch(manifest[name], model_cache, log=lambda _: None))
                for name in ("ppocr_cls", "face_landmark")}
    except Exception as exc:  # not fetched: say how to fix it rather than skipping silently
        pytest.fail(f"models unavailable ({exc}); run `python -m harness models fetch` once")


@pytest.fixture
def virtual_tools(tmp_path):
    """A tool cache: tflite stand-in for arm64-v8a only, onnxruntime for both ARM ABIs."""
    from harness.engines.tools import ToolCache

    cache = ToolCache(tmp_path / "tools")
    cache.add_virtual(("tflite",), ("arm64-v8a",))
    cache.add_virtual(("onnxruntime",), ("arm64-v8a", "armeabi-v7a"))
    return cache


def discovered(serials) -> dict:
    """Discovery restricted to these serials (the test adb server may hold others)."""
    from harness.devices.android import discover

    notes: list[str] = []
    found = {info.serial: info for info in discover(notes=notes)}
    missing = [s for s in serials if s not in found]
    assert not missing, f"not discovered: {missing}; notes: {notes}"
    return {serial: found[serial] for serial in serials}
