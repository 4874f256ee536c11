"""Farm scaling: the same suite on 1, 2, 4 and 8 virtual phones, one xdist worker per phone.

Each phone is a `python -m harness virtual-device` process behind one real adb server on a
free loopback port (private HOME), started with ``--compute-sleep-ms`` (BENCHMARK ONLY, labelled on
the phone: its tools sleep a fixed time per iteration instead of running an engine), because on a
2-core host eight phones running real engines would measure the host's two cores, not edgelab.
What is timed is one whole `pytest suites/ --device=<N phones> -n auto` run as a user starts it:
discovery, deploy, cells, telemetry, collection, one report.

The phone processes run niced (PHONE_NICE): their own work stands for the phones' CPUs.

Every phone runs the same cells, so N phones do N times the work of one: with perfect scaling
t_N = t_1. Printed per N: wall time, cells, ``speedup = t1*N/tN`` (how many one-phone runs' worth
of work per t_N) and ``efficiency = speedup / N``.

    python benchmarks/farm_scale.py [--phones 1,2,4,8] [--sleep-ms 20] [--iterations 500]

Last line: ``scaling_efficiency=<t1*N/tN / N for the largest N>``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A real phone's own work (its shell, its telemetry loop, adbd) runs on the phone's CPU; a virtual
# phone's runs on the host's. Niced, the eight phones take the host's cores only when edgelab
# (the thing measured) does not need them, as real phones would not take them at all.
PHONE_NICE = 10
sys.path.insert(0, str(REPO))

import virtual_farm  # noqa: E402 (benchmarks/, beside this script)
from virtual_farm import farm_env, free_port  # noqa: E402


def start_phone(sleep_ms: float) -> tuple[subprocess.Popen, str]:
    return virtual_farm.start_phone(sleep_ms, nice=PHONE_NICE, lifetime_s=7200)


def run_suite(serials: list[str], env: dict, report_dir: Path, args) -> tuple[float, int, dict]:
    command = [sys.executable, "-m", "pytest", "suites/", "-n", "auto", "-q",
               "-p", "no:cacheprovider", "--device=" + ",".join(serials),
               "--model=" + args.models, "--variant=fp32", "--engine=onnxruntime,tflite",
               f"--iterations={args.iterations}", "--warmup=5", "--cooldown=off",
               "--edgelab-idle-window=0", "--edgelab-history=off",
               "--report-dir", str(report_dir)]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(command, cwd=REPO, env={**env, "EDGELAB_ADB_CONNECT": ",".join(serials)},
                         capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the whole pytest tree (controller + xdist workers, reaped by the time run returns)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if run.returncode not in (0, 1):
        raise SystemExit(f"suite run on {len(serials)} phones exited {run.returncode}:\n"
                         f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    run_dir = (report_dir / "latest").resolve()
    records = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines() if x]
    planned = json.loads((run_dir / "run.json").read_text())["planned"]["cells"]
    statuses: dict[str, int] = {}
    for record in records:
        statuses[record["status"]] = statuses.get(record["status"], 0) + 1
    if len(records) != planned or {r["device"]["serial"] for r in records} != set(serials):
        raise SystemExit(f"{len(serials)} phones: {len(records)} records for {planned} planned cells")
    return wall, len(records), statuses, cpu


def phones_cpu(phones: list[subprocess.Popen]) -> float:
    """CPU seconds the phone processes have used so far (their shells, telemetry, adbd: work a
    real phone does on its own CPU, here on the host's)."""
    import psutil

    total = 0.0
    for phone in phones:
        try:
            times = psutil.Process(phone.pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phones", default="1,2,4,8")
    parser.add_argument("--sleep-ms", type=float, default=20.0,
                        help="the phones' fixed per-iteration tool time (default 20)")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--models", default="ppocr_cls,face_landmark")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.phones.split(",")]
    if shutil.which("adb") is None:
        raise SystemExit("farm_scale: the `adb` binary is missing (apt-get install -y adb)")
    port = free_port()
    work, env = farm_env("edgelab-farm-scale-", port)
    phones: list[subprocess.Popen] = []
    subprocess.run(["adb", "-P", str(port), "start-server"], env=env, check=True,
                   capture_output=True, timeout=60)
    try:
        print(f"# {os.cpu_count()} host cores, load average {os.getloadavg()[0]:.2f} at start; "
              f"phones sleep {args.sleep_ms:g} ms per tool iteration (compute_sleep)", flush=True)
        # Untimed warm-up on a phone of its own: the host's caches (models, derived files, the
        # models' declared inputs, tool binaries) are warm for every timed run, as on a lab host
        # that has run before; each timed run then gets phones that never saw edgelab, so deploy
        # is measured at every N alike.
        fresh = [start_phone(args.sleep_ms)]
        phones.extend(p for p, _ in fresh)
        wall, cells, _, cpu = run_suite([s for _, s in fresh], env, work / "reports-warmup", args)
        print(f"warm-up phones=1 wall_s={wall:.1f} cells={cells} edgelab_cpu_s={cpu:.1f}", flush=True)
        walls: dict[int, float] = {}
        for n in counts:
            fresh = [start_phone(args.sleep_ms) for _ in range(n)]
            phones.extend(p for p, _ in fresh)
            serials = [s for _, s in fresh]
            started = [p for p, _ in fresh]
            phone_cpu_before = phones_cpu(started)
            wall, cells, statuses, cpu = run_suite(serials, env, work / f"reports-{n}", args)
            phone_cpu = phones_cpu(started) - phone_cpu_before
            walls[n] = wall
            speedup = walls[counts[0]] * n / wall
            print(f"phones={n} wall_s={wall:.1f} cells={cells} statuses={statuses} "
                  f"speedup={speedup:.2f} efficiency={speedup / n:.2f} "
                  f"edgelab_cpu_s={cpu:.1f} phones_cpu_s={phone_cpu:.1f} "
                  f"load1={os.getloadavg()[0]:.2f}", flush=True)
            for process, serial in fresh:  # done: their Python stops taking the host's cores
                process.terminate()
                subprocess.run(["adb", "-P", str(port), "disconnect", serial], env=env,
                               capture_output=True, timeout=30)
        largest = counts[-1]
        print(f"scaling_efficiency={walls[counts[0]] * largest / walls[largest] / largest:.2f}")
    finally:
        virtual_farm.stop_farm(phones, port, env, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
