"""Virtual phones for the farm benchmarks (farm_scale.py, faults.py): each a
`python -m harness virtual-device` process on a free loopback port, behind one real adb server."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def complete_records(text: str) -> list[dict]:
    """The records of a results.jsonl read while the run appends to it: the last line may be
    half written (a reader racing the writer), and is not a record yet."""
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_phone(sleep_ms: float, faults=(), nice: int = 0, lifetime_s: int = 3600,
                controlled: bool = False) -> tuple[subprocess.Popen, str]:
    """A virtual phone whose tools sleep ``sleep_ms`` per iteration (BENCHMARK ONLY, labelled on
    the phone); ``controlled``: its stdin takes `fault ...` lines. Returns (process, serial)."""
    command = [sys.executable, "-m", "harness", "virtual-device", "--port", "0",
               "--compute-sleep-ms", str(sleep_ms), "--idle-timeout", "900",
               "--max-lifetime", str(lifetime_s)]
    for fault in faults:
        command += ["--fault", fault]
    phone = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.PIPE if controlled else None, text=True, bufsize=1,
                             preexec_fn=(lambda: os.nice(nice)) if nice else None)
    line = phone.stdout.readline().strip()  # "listening on 127.0.0.1:PORT"
    if not line.startswith("listening on "):
        phone.kill()
        raise SystemExit(f"virtual phone did not start: {line!r}")
    return phone, line.rpartition(" ")[2]


def farm_env(prefix: str, port: int, private_leases: bool = False) -> tuple[Path, dict]:
    """A work folder and the environment of one benchmark farm: a private HOME and adb server
    port, an EDGELAB_CACHE holding the models `make` fetched (no download), no inherited adb
    settings. ``private_leases``: device leases in the work folder, not the host's."""
    from harness.models.fetch import default_cache_dir

    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = {**os.environ, "HOME": str(work / "home"), "ANDROID_ADB_SERVER_PORT": str(port),
           "ANDROID_USER_HOME": str(work / "home" / ".android"),
           "EDGELAB_ADB_SERVER": f"127.0.0.1:{port}", "EDGELAB_CACHE": str(work / "cache")}
    if private_leases:
        env["EDGELAB_LEASE_DIR"] = str(work / "leases")
    for name in ("EDGELAB_ADB_START", "ANDROID_SERIAL", "ADB_VENDOR_KEYS"):
        env.pop(name, None)
    (work / "home").mkdir()
    if (default_cache_dir() / "models").is_dir():
        shutil.copytree(default_cache_dir() / "models", work / "cache" / "models")
    return work, env


def stop_farm(phones: list[subprocess.Popen], port: int, env: dict, work: Path) -> None:
    """Phones terminated (killed after 10 s), the adb server stopped, the work folder removed."""
    for process in phones:
        process.terminate()
    for process in phones:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    subprocess.run(["adb", "-P", str(port), "kill-server"], env=env, capture_output=True,
                   timeout=30)
    shutil.rmtree(work, ignore_errors=True)
