"""Telemetry sampling rate and cost: a virtual phone and the host, sampled for a fixed window.

Starts a virtual phone (in this process) and a real adb server on a free loopback port with its
own HOME, streams the phone's sampler (harness/telemetry/android.py) and runs the host sampler
(harness/telemetry/host.py) side by side for ``--seconds``. With ``--load-cores N`` the phone
also carries a simulated load of N busy cores (no host CPU: physics.py only), to show the
temperature rise its first-order model gives over the window.

    python benchmarks/sampler.py [--seconds 5] [--profile pixel8] [--load-cores 0]

The rate is the phone sampler's (samples per second of the phone's own clock). The overhead is
the host sampler thread's CPU time over the window, in % of one core; the phone sampler's host
side (the thread reading its adb stream) is printed on the line before. Targets: >= 20 Hz, <= 2%.
Last line: ``sampler_hz=<..> overhead_pct=<..>``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _adb_server(home: str) -> tuple[int, dict]:
    port = _free_port()
    env = {**os.environ, "HOME": home, "ANDROID_ADB_SERVER_PORT": str(port),
           "ANDROID_SDK_HOME": home, "ANDROID_USER_HOME": os.path.join(home, ".android")}
    env.pop("ADB_VENDOR_KEYS", None)
    subprocess.run(["adb", "-P", str(port), "start-server"], env=env, capture_output=True,
                   timeout=30, check=True)
    return port, env


def measure(args) -> dict:
    from harness.devices.adb_transport import AdbTransport
    from harness.telemetry import HostSampler, StreamingSampler, summarize
    from harness.virtual import VirtualDevice

    home = tempfile.mkdtemp(prefix="edgelab-bench-adb-")
    port, env = _adb_server(home)
    try:
        with VirtualDevice(args.profile, idle_timeout_s=120, max_lifetime_s=600) as phone:
            subprocess.run(["adb", "connect", phone.serial], env=env, capture_output=True,
                           timeout=30, check=True)
            time.sleep(0.3)
            transport = AdbTransport(phone.serial, address=("127.0.0.1", port))
            phone_sampler = StreamingSampler(transport).start()
            host_sampler = HostSampler().start()
            load = phone.state.physics.start_tool(os.getpid(), "simulated-load", args.load_cores) \
                if args.load_cores else None
            with phone_sampler.window("bench") as on_phone, host_sampler.window("bench") as on_host:
                time.sleep(args.seconds)
            if load is not None:
                phone.state.physics.end_tool(load)
            phone_sampler.stop()
            host_sampler.stop()
            subprocess.run(["adb", "disconnect", phone.serial], env=env, capture_output=True)
    finally:
        subprocess.run(["adb", "-P", str(port), "kill-server"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    return {"phone": summarize(on_phone), "phone_window": on_phone, "host_window": on_host,
            "host_cpu_s": host_sampler.cpu_s, "host_wall_s": host_sampler.wall_s,
            "reader_cpu_s": phone_sampler.cpu_s, "lost": phone_sampler.lost,
            "rapl": host_sampler.rapl_unavailable}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--profile", default="pixel8")
    parser.add_argument("--load-cores", type=int, default=0)
    args = parser.parse_args()
    if shutil.which("adb") is None:
        print("error: the adb binary is missing (apt-get install adb)", file=sys.stderr)
        return 2
    result = measure(args)
    phone, temps = result["phone_window"], result["phone"]["temps"]
    overhead = 100.0 * result["host_cpu_s"] / max(result["host_wall_s"], 1e-9)
    reader = 100.0 * result["reader_cpu_s"] / max(phone.duration_s or 1e-9, 1e-9)
    print(f"phone: {len(phone.samples)} samples in {phone.duration_s:.2f} s, lost={result['lost']}")
    print(f"phone temperature (simulated, {args.load_cores} busy cores): {temps['start_c']} -> "
          f"{temps['end_c']} degC over {phone.duration_s:.1f} s (hottest zone)")
    throttle = result["phone"]["throttle"]
    print(f"phone throttling (simulated): {'; '.join(throttle['changes']) or 'none'}")
    print(f"host: {len(result['host_window'].samples)} samples; RAPL: "
          f"{result['rapl'] or 'readable'}")
    print(f"phone stream reader on the host: {reader:.2f}% of one core")
    print(f"sampler_hz={phone.rate_hz or 0:.1f} overhead_pct={overhead:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
