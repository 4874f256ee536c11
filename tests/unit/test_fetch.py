"""Model fetching without a network: local wheels, hash checks, offline errors."""
import hashlib
import zipfile

import pytest

from harness.errors import UsageError
from harness.models.fetch import cached_path, fetch
from harness.models.manifest import ModelSpec

PAYLOAD = b"\x08\x07fake-onnx-bytes" * 100


def spec(sha=None, package="demo-models==1.0"):
    return ModelSpec(name="demo", format="onnx", package=package, member="demo_models/m.onnx",
                     sha256=sha or hashlib.sha256(PAYLOAD).hexdigest())


def make_wheel(cache, payload=PAYLOAD):
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels / "demo_models-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("demo_models/m.onnx", payload)


def test_fetch_extracts_verifies_and_is_idempotent(tmp_path):
    make_wheel(tmp_path)
    path = fetch(spec(), tmp_path, log=lambda m: None)
    assert path.read_bytes() == PAYLOAD
    mtime = path.stat().st_mtime_ns
    assert fetch(spec(), tmp_path, log=lambda m: None) == path
    assert path.stat().st_mtime_ns == mtime  # nothing rewritten


def test_hash_mismatch_in_wheel_writes_nothing(tmp_path):
    make_wheel(tmp_path, payload=b"tampered")
    with pytest.raises(UsageError, match="sha256 mismatch.*Nothing was written"):
        fetch(spec(), tmp_path, log=lambda m: None)
    assert not cached_path(spec(), tmp_path).exists()


def test_damaged_cache_file_is_refused_and_removed(tmp_path):
    make_wheel(tmp_path)
    path = fetch(spec(), tmp_path, log=lambda m: None)
    path.write_bytes(b"bit rot")
    with pytest.raises(UsageError, match="sha256 mismatch.*Nothing was run"):
        fetch(spec(), tmp_path, log=lambda m: None)
    assert not path.exists()


def test_member_missing_from_wheel(tmp_path):
    make_wheel(tmp_path)
    bad = ModelSpec(name="demo", format="onnx", package="demo-models==1.0",
                    member="demo_models/other.onnx", sha256="0" * 64)
    with pytest.raises(UsageError, match="not in demo_models-1.0"):
        fetch(bad, tmp_path, log=lambda m: None)


def test_offline_download_is_a_clear_error(tmp_path, monkeypatch):
    # pip with no index and no find-links behaves exactly as offline, without touching a network
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="could not download demo-models==1.0 from PyPI"):
        fetch(spec(), tmp_path / "cache", log=lambda m: None)
