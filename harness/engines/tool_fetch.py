"""``python -m harness tools fetch ENGINE [ABI]``: download an engine's official benchmark tool.

The source is the url pinned in tools/manifest.toml for that engine and ABI (only entries with
``how = "prebuilt"``: ONNX Runtime, ncnn and MNN publish no Android benchmark binary, so for them
the error says how to build and register one). The download is streamed to a temp file beside
the cache while its sha256 is computed, then checked in this order, each failure one message
naming the fix: the HTTP status, the pinned sha256 (unpinned: said, and the sha256 received is
printed so a lab can pin it), the ELF header against the ABI. Only then is it stored exactly as
``tools add`` stores a file (``ToolCache.add``), with the url as its source.
"""
from __future__ import annotations

import hashlib
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from .elf import ElfError, abi_mismatch, read_elf_file
from .tools import ABI_PREFERENCE, Tool, ToolCache, fetchable, manifest_path, official_sources, \
    spec_for

CHUNK = 1 << 16
PROGRESS_MIN_BYTES = 1 << 20  # smaller downloads finish before a progress line would help
TIMEOUT_S = 60.0              # per read: a stalled server is an error, not a hang


def fetch_tool(engine: str, abi: str | None, cache: ToolCache, *, manifest: Path | None = None,
               log: Callable[[str], None] = print, progress=None) -> Tool:
    spec = spec_for(engine)
    manifest = manifest or manifest_path()
    section = official_sources(manifest).get(engine)
    if not section:
        raise UsageError(f"{manifest} has no [{engine}] entry; add its official source there")
    entries = section.get("abi", {})
    abi = abi or _default_abi(engine, entries, manifest)
    if abi not in entries:
        raise UsageError(f"{manifest} lists no {engine} build for ABI {abi!r}; it has: "
                         f"{', '.join(entries) or 'none'}")
    url = str(entries[abi].get("url", ""))
    if not fetchable(engine, abi, manifest):
        raise UsageError(
            f"{engine} publishes no prebuilt Android {spec.file} to fetch ({manifest}: "
            f"how = {section.get('how', '?')!r}, source {url or '?'}): build it as "
            f"{section.get('docs', 'the manifest')} describes, then run `python -m harness tools "
            f"add {engine} {abi} PATH`; a lab that hosts its own build can give it a url and "
            f'how = "prebuilt" under [{engine}.abi.{abi}]')
    pinned = (entries[abi].get("sha256") or "").lower() or None
    cache.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache.root) as tmp:
        path = Path(tmp) / spec.file
        digest = _download(url, path, progress or sys.stderr, f"{engine} {abi}")
        where = f"[{engine}.abi.{abi}] in {manifest}"
        if pinned and digest != pinned:
            raise UsageError(f"{url}: the download's sha256 {digest} differs from the one pinned "
                             f"in {where} ({pinned}): the file there changed (a nightly url "
                             f"moves daily) or the download was altered; pin the new sha256 if "
                             f"the new build is intended, else point url at the pinned build")
        if not pinned:
            log(f"note: no sha256 pinned for {engine} {abi} in {manifest}; received sha256 "
                f"{digest} (pin it there as sha256 = \"{digest}\" so every machine runs this "
                f"build)")
        _check_elf(path, abi, url, where)
        tool = cache.add(engine, abi, path, source=url)
    return tool


def _default_abi(engine: str, entries: dict, manifest: Path) -> str:
    for abi in ABI_PREFERENCE:
        if abi in entries:
            return abi
    raise UsageError(f"{manifest} lists no ABI for {engine}")


def _download(url: str, path: Path, progress, label: str) -> str:
    """Stream ``url`` into ``path``; the sha256 of what arrived."""
    request = urllib.request.Request(url, headers={"User-Agent": "edgelab-tools-fetch"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, \
                open(path, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            meter = _Progress(progress, label, total)
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                meter.update(len(chunk))
            meter.done()
            if total is not None and meter.received != total:
                raise UsageError(f"{url}: the download ended after {meter.received:,} of "
                                 f"{total:,} bytes; run the same command again")
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{url}: HTTP {exc.code} {exc.reason}; the url in tools/manifest.toml "
                         f"(or {manifest_path()}) is wrong or gone: fix it, or download the "
                         f"tool yourself and run `python -m harness tools add ...`") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"{url}: could not download ({reason}); check the network or proxy "
                         f"(HTTPS_PROXY), or download the tool yourself and run `python -m "
                         f"harness tools add ...`") from None
    return digest.hexdigest()


def _check_elf(path: Path, abi: str, url: str, where: str) -> None:
    try:
        problem = abi_mismatch(read_elf_file(path), abi)
    except ElfError as exc:
        problem = str(exc)
    if problem:
        raise UsageError(f"{url} is not an Android {abi} executable: {problem}; the url in "
                         f"{where} points at the wrong file or build: fix it")


class _Progress:
    """Progress for big downloads: one line redrawn on a terminal, a line per 10% otherwise
    (CI logs)."""

    def __init__(self, stream, label: str, total: int | None):
        self.stream, self.label, self.total = stream, label, total
        self.received = 0
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = -1
        self.started = time.monotonic()
        self.active = total is None or total >= PROGRESS_MIN_BYTES

    def update(self, size: int) -> None:
        self.received += size
        if not self.active:
            return
        if self.total:
            step = self.received * 100 // self.total
            if not self.tty:
                step -= step % 10
        else:
            step = self.received >> 20  # a line per MiB when the size is unknown
        if step != self.shown:
            self.shown = step
            self._write()

    def done(self) -> None:
        if self.active and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self) -> None:
        mb = self.received / 1e6
        rate = mb / max(time.monotonic() - self.started, 1e-3)
        of = f" of {self.total / 1e6:.1f} MB ({self.shown}%)" if self.total else " MB"
        text = f"downloading {self.label}: {mb:.1f}{of}, {rate:.1f} MB/s"
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()
