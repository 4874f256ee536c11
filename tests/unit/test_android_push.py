"""Content-hash push dedupe: a file already on the device (same sha256) is never re-sent."""
from __future__ import annotations

import hashlib
import shlex
import shutil
from pathlib import Path

import pytest

from harness.devices.base import ExecResult
from harness.devices.pushcache import PushCache


class DirTransport:
    """A device whose /data/local/tmp is a host directory; with or without sha256sum."""

    timeout_s = 600.0  # the run's configured timeout, as AdbTransport has it

    def __init__(self, root: Path):
        self.root = root
        self.pushes: list[str] = []

    def _local(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def push_file(self, local: Path, remote: str) -> int:
        self.pushes.append(remote)
        self._local(remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, self._local(remote))
        return local.stat().st_size

    def size_of(self, remote: str):
        path = self._local(remote)
        return path.stat().st_size if path.exists() else None

    def shell(self, argv, timeout=60.0) -> ExecResult:
        if argv[0] == "sha256sum":
            path = self._local(argv[1])
            if not path.exists():
                return ExecResult(1, "", "No such file", 0)
            return ExecResult(0, f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {argv[1]}\n", "", 0)
        if argv[0] == "cat":
            path = self._local(argv[1])
            return ExecResult(0, path.read_text(), "", 0) if path.exists() else ExecResult(1, "", "", 0)
        raise AssertionError(argv)

    def command(self, line: str, timeout=60.0) -> ExecResult:
        words = shlex.split(line)  # echo DIGEST > PATH: the sidecar of devices without sha256sum
        assert words[0] == "echo" and words[2] == ">", line
        self._local(words[3]).write_text(words[1] + "\n")
        return ExecResult(0, "", "", 0)


@pytest.mark.parametrize("has_sha256sum", [True, False])
def test_second_session_pushes_zero_bytes(tmp_path, has_sha256sum):
    device = DirTransport(tmp_path / "device")
    model = tmp_path / "model.tflite"
    model.write_bytes(b"m" * 5000)
    first = PushCache(device, lambda: has_sha256sum)
    remote = first.push(model, "/data/local/tmp/edgelab/models")
    first.push(model, "/data/local/tmp/edgelab/models")  # same session: known, no round trip
    assert remote == "/data/local/tmp/edgelab/models/model.tflite"
    assert first.stats() == {"pushed_bytes": 5000, "skipped_bytes": 5000, "pushed_files": 1,
                             "skipped_files": 1}
    second = PushCache(device, lambda: has_sha256sum)  # a new run: asks the device
    second.push(model, "/data/local/tmp/edgelab/models")
    assert second.stats()["pushed_bytes"] == 0 and second.stats()["skipped_bytes"] == 5000
    assert len(device.pushes) == 1


def test_changed_content_with_the_same_name_is_pushed_again(tmp_path):
    device = DirTransport(tmp_path / "device")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a" * 100)
    PushCache(device, lambda: True).push(model, "/d")
    model.write_bytes(b"b" * 100)
    cache = PushCache(device, lambda: True)
    cache.push(model, "/d")
    assert cache.stats()["pushed_bytes"] == 100
    assert (tmp_path / "device" / "d" / "model.onnx").read_bytes() == b"b" * 100


def test_truncated_file_on_an_old_device_is_pushed_again(tmp_path):
    device = DirTransport(tmp_path / "device")
    model = tmp_path / "m.bin"
    model.write_bytes(b"x" * 300)
    PushCache(device, lambda: False).push(model, "/d")
    (tmp_path / "device" / "d" / "m.bin").write_bytes(b"x" * 10)  # sidecar still says ok
    cache = PushCache(device, lambda: False)
    cache.push(model, "/d")
    assert cache.stats()["pushed_files"] == 1


def test_a_directory_is_pushed_file_by_file_and_deduplicated(tmp_path):
    """Core ML packages are directories: the tree arrives whole, under the package's name, and
    a second push of an unchanged package sends nothing; a changed file alone is sent again."""
    device = DirTransport(tmp_path / "device")
    package = tmp_path / "model.mlpackage"
    (package / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec" * 10)
    (package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(b"w" * 4000)
    cache = PushCache(device, lambda: True)
    remote = cache.push(package, "/data/local/tmp/edgelab/models/abc")
    assert remote == "/data/local/tmp/edgelab/models/abc/model.mlpackage"
    copy = tmp_path / "device" / remote.lstrip("/")
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == [
        "Data/com.apple.CoreML/model.mlmodel", "Data/com.apple.CoreML/weights/weight.bin",
        "Manifest.json"]
    assert (copy / "Data/com.apple.CoreML/weights/weight.bin").read_bytes() == b"w" * 4000
    assert cache.stats()["pushed_files"] == 3
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.1"}')
    again = PushCache(device, lambda: True)
    again.push(package, "/data/local/tmp/edgelab/models/abc")
    assert again.stats()["pushed_files"] == 1 and again.stats()["skipped_files"] == 2


def test_an_empty_directory_is_refused_with_the_fix(tmp_path):
    from harness.errors import InfraError

    (tmp_path / "empty.mlmodelc").mkdir()
    with pytest.raises(InfraError, match="holds no files.*models build"):
        PushCache(DirTransport(tmp_path / "device"), lambda: True).push(tmp_path / "empty.mlmodelc",
                                                                        "/d")
