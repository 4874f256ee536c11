"""`python -m harness tools fetch`: a real HTTP download from a server on 127.0.0.1 serving
fixture ELF files, checked (HTTP status, sha256 pin, ELF vs ABI) and registered as `tools add`
registers a file."""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from android_elf_factory import make_elf

from harness import cli
from harness.engines.tools import ToolCache, add_hint

ARM64 = make_elf("arm64-v8a")
ARMV7 = make_elf("armeabi-v7a")
BIG = make_elf("arm64-v8a") + b"\0" * (3 << 20)  # 3 MB: big enough for progress lines


@pytest.fixture
def server():
    """A loopback HTTP server: path -> bytes, 404 for the rest; stopped when the test ends
    (and by a timer, should a test hang)."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep the test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    guard = threading.Timer(120, httpd.shutdown)
    guard.daemon = True
    guard.start()
    httpd.files = files
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    guard.cancel()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _manifest(tmp_path: Path, url: str, sha256: str = "", engine: str = "tflite",
              how: str = "prebuilt") -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(f'[{engine}]\ntool = "x"\nhow = "{how}"\ndocs = "https://example.invalid/docs"\n'
                    f'[{engine}.abi.arm64-v8a]\nurl = "{url}"\nsha256 = "{sha256}"\n')
    return path


def _fetch(tmp_path: Path, manifest: Path, *args: str) -> int:
    return cli.main(["tools", "--tools-dir", str(tmp_path / "tools"), "--manifest", str(manifest),
                     "fetch", *args])


def test_fetch_unpinned_downloads_checks_and_registers(server, tmp_path, capsys):
    server.files["/android_aarch64_benchmark_model"] = BIG
    url = server.url + "/android_aarch64_benchmark_model"
    assert _fetch(tmp_path, _manifest(tmp_path, url), "tflite") == 0  # ABI: the manifest's first
    out, err = capsys.readouterr()
    digest = hashlib.sha256(BIG).hexdigest()
    assert f"no sha256 pinned for tflite arm64-v8a" in out and f'sha256 = "{digest}"' in out
    assert "registered tflite arm64-v8a" in out and url in out
    lines = [line for line in err.splitlines() if line.startswith("downloading tflite arm64-v8a")]
    assert lines and lines[-1].split(" MB (")[1].startswith("100%"), err  # progress to 100%
    tool = ToolCache(tmp_path / "tools").get("tflite", "arm64-v8a")
    assert tool.path.read_bytes() == BIG and tool.sha256 == digest and not tool.virtual
    assert tool.source == url and tool.path.name == "benchmark_model"
    assert not list((tmp_path / "tools").glob(".fetch-*"))  # the temp download is gone


def test_fetch_with_the_pinned_sha256_and_a_wrong_one(server, tmp_path, capsys):
    server.files["/bm"] = ARM64
    good = hashlib.sha256(ARM64).hexdigest()
    assert _fetch(tmp_path, _manifest(tmp_path, server.url + "/bm", good), "tflite", "arm64-v8a") == 0
    assert "not pinned" not in capsys.readouterr().out
    server.files["/bm"] = ARM64 + b"changed"
    assert _fetch(tmp_path, _manifest(tmp_path, server.url + "/bm", good), "tflite") == 2
    err = capsys.readouterr().err
    assert "differs from the one pinned" in err and good in err and "pin the new sha256" in err
    assert ToolCache(tmp_path / "tools").get("tflite", "arm64-v8a").sha256 == good  # kept


def test_fetch_errors_name_the_problem_and_the_fix(server, tmp_path, capsys):
    assert _fetch(tmp_path, _manifest(tmp_path, server.url + "/gone"), "tflite") == 2
    err = capsys.readouterr().err
    assert "HTTP 404 Not Found" in err and "fix it" in err and "tools add" in err

    server.files["/armv7"] = ARMV7  # the url points at the 32-bit build
    assert _fetch(tmp_path, _manifest(tmp_path, server.url + "/armv7"), "tflite") == 2
    err = capsys.readouterr().err
    assert "is not an Android arm64-v8a executable: file is ELF32 arm" in err and "wrong file" in err

    server.files["/page"] = b"<html>releases</html>"
    assert _fetch(tmp_path, _manifest(tmp_path, server.url + "/page"), "tflite") == 2
    assert "not an ELF file" in capsys.readouterr().err

    src = _manifest(tmp_path, "https://github.com/microsoft/onnxruntime", engine="onnxruntime",
                    how="build-from-source")
    assert _fetch(tmp_path, src, "onnxruntime") == 2
    err = capsys.readouterr().err
    assert "publishes no prebuilt Android" in err
    assert "`python -m harness tools add onnxruntime arm64-v8a PATH`" in err
    assert _fetch(tmp_path, src, "onnxruntime", "x86") == 2
    assert "lists no onnxruntime build for ABI 'x86'" in capsys.readouterr().err
    assert ToolCache(tmp_path / "tools").tools() == []


def test_unreachable_server_is_one_clear_error(tmp_path, capsys):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _fetch(tmp_path, _manifest(tmp_path, f"http://127.0.0.1:{port}/x"), "tflite") == 2
    assert "could not download" in capsys.readouterr().err


def test_the_missing_tool_hint_follows_the_manifest(tmp_path, monkeypatch):
    """A lab hosting its own ncnn build (how = "prebuilt") gets `tools fetch` in the reason."""
    assert "tools add ncnn arm64-v8a PATH" in add_hint("ncnn", "arm64-v8a")
    monkeypatch.setenv("EDGELAB_TOOLS_MANIFEST",
                       str(_manifest(tmp_path, "https://lab.example/benchncnn", engine="ncnn")))
    assert add_hint("ncnn", "arm64-v8a") == "run `python -m harness tools fetch ncnn arm64-v8a`"
    monkeypatch.setenv("EDGELAB_TOOLS_MANIFEST", str(tmp_path / "missing.toml"))
    with pytest.raises(Exception, match="does not exist"):
        add_hint("ncnn", "arm64-v8a")


def test_the_checkouts_manifest_is_found_and_tflite_is_fetchable():
    from harness.engines.tools import MANIFEST, fetchable

    assert MANIFEST.is_file(), MANIFEST
    assert fetchable("tflite", "arm64-v8a") and not fetchable("mnn", "arm64-v8a")
