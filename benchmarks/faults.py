"""Farm reliability: faults injected across 9 virtual phones during one `-n auto` suite run.

Each phone is a `python -m harness virtual-device` process behind one real adb server on a free
loopback port (private HOME, private lease directory), with ``--compute-sleep-ms`` so that eight
phones fit on a small host (BENCHMARK ONLY, labelled on the phone). Faults present at start are
given with ``--fault``; mid-run faults are switched through the phone's control stdin (``fault
F...``) as soon as that phone has recorded its first cell. After the run every fault is checked
against what edgelab must do with it (below), and every planned cell must have its record.

| phone | fault | handled when |
| --- | --- | --- |
| 1 | disconnect mid-run, for good | its cells after the drop are infra_error, one reconnect attempt, then quarantined |
| 2 | disconnect mid-run for 1.5 s | one infra_error says the reconnect brought it back, a later cell is ok |
| 3 | storage-full mid-run | an infra_error names the storage (free vs needed) |
| 4 | hang=tools mid-run | the on-device timeout kills the tool: failed, reason "timeout: ...", the run goes on |
| 5 | unauthorized at start | every cell infra_error with the "allow USB debugging" fix |
| 6 | offline at start | every cell infra_error with the reconnect fix |
| 7 | latency=30 loss=0.05 (slow, jittery link dropping 5% of packets) | every cell ends ok/unsupported |
| 8 | loss=0.5 mid-run (a link losing half its packets: resets) | every cell after it ok or an infra_error naming the link |
| 9 | none (control) | every cell ends ok/unsupported |

A phone that dropped off is awaited ``--reboot-wait`` (15 s here: virtual phones come back in
seconds; edgelab's default, 120 s, is for real phones' reboots), so the phone that is gone for
good is quarantined 15 s after its drop.

    python benchmarks/faults.py [--iterations 100] [--timeout 20] [--reboot-wait 15]

Last line: ``faults_injected=N faults_handled=N records_lost=N``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import virtual_farm  # noqa: E402 (benchmarks/, beside this script)
from virtual_farm import complete_records, farm_env, free_port  # noqa: E402


def _ok_or_unsupported(rows) -> bool:
    return bool(rows) and all(r["status"] in ("ok", "unsupported") for r in rows)


def _infra(rows, *words) -> list[dict]:
    return [r for r in rows if r["status"] == "infra_error"
            and all(w in (r.get("reason") or "") for w in words)]


def _after(rows, first) -> list[dict]:
    return rows[rows.index(first) + 1:] if first in rows else []


def _link_lost(rows) -> bool:
    """A link losing half its packets: some cells cut, each cut one an infra_error that names
    the link (it dropped, came back or not, or went silent: a hung phone and a link that loses
    everything look alike to adb, and the reason says both); the rest measured."""
    cut = [r for r in rows if r["status"] not in ("ok", "unsupported")]
    return bool(cut) and all(r["status"] == "infra_error" and
                             ("adb link" in r["reason"] or "dropped off adb" in r["reason"] or
                              "a link that loses packets" in r["reason"])
                             for r in cut)


# name, --fault at start, control line mid-run (then a second line after 1.5 s), check(rows)
SCENARIOS = [
    ("disconnect", [], ["fault disconnect"],
     lambda rows: bool(_infra(rows, "did not bring it back", "quarantined"))),
    ("disconnect-blip", [], ["fault disconnect", "fault clear"],
     lambda rows: any(r["status"] == "ok" for r in _after(rows, (_infra(rows, "brought it back")
                                                                 or [None])[0]))),
    ("storage-full", [], ["fault storage-full"],
     lambda rows: bool(_infra(rows, "storage full", "bytes", "MB free"))),
    ("hang=tools", [], ["fault hang=tools"],
     lambda rows: any(r["status"] == "failed" and (r.get("reason") or "").startswith("timeout: ")
                      and "rc 124" in r["reason"] for r in rows)),
    ("unauthorized", ["unauthorized"], [],
     lambda rows: bool(rows) and len(_infra(rows, "unauthorized", "Allow USB debugging")) == len(rows)),
    ("offline", ["offline"], [],
     lambda rows: bool(rows) and len(_infra(rows, "offline", "reconnect")) == len(rows)),
    ("latency=30 loss=0.05", ["latency=30", "loss=0.05"], [], _ok_or_unsupported),
    ("loss=0.5", [], ["fault loss=0.5"], _link_lost),
    ("none", [], [], _ok_or_unsupported),
]


def start_phone(sleep_ms: float, faults: list[str]) -> tuple[subprocess.Popen, str]:
    return virtual_farm.start_phone(sleep_ms, faults, controlled=True)


def control(phone: subprocess.Popen, line: str) -> str:
    phone.stdin.write(line + "\n")
    phone.stdin.flush()
    return phone.stdout.readline().strip()  # "faults: {...}"


def records_of(report_dir: Path) -> list[dict]:
    found = [p for p in report_dir.glob("*/results.jsonl") if not p.parent.is_symlink()]
    if not found:
        return []
    return complete_records(found[0].read_text())


def injector(report_dir: Path, serial: str, phone, lines: list[str], done: threading.Event,
             injected: list[str]) -> None:
    """Switch the phone's fault once it has recorded its first cell (mid-run)."""
    while not done.is_set():
        if any(r["device"]["serial"] == serial for r in records_of(report_dir)):
            for number, line in enumerate(lines):
                if number:
                    time.sleep(1.5)
                answer = control(phone, line)
                if not answer.startswith("faults:"):
                    raise SystemExit(f"{serial}: control {line!r} answered {answer!r}")
            injected.append(serial)
            return
        time.sleep(0.05)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--sleep-ms", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=20.0, help="--edgelab-timeout")
    parser.add_argument("--reboot-wait", type=float, default=15.0, help="--reboot-wait")
    args = parser.parse_args(argv)
    if shutil.which("adb") is None:
        raise SystemExit("faults: the `adb` binary is missing (apt-get install -y adb)")
    port = free_port()
    work, env = farm_env("edgelab-faults-", port, private_leases=True)
    subprocess.run(["adb", "-P", str(port), "start-server"], env=env, check=True,
                   capture_output=True, timeout=60)
    phones: list[tuple[subprocess.Popen, str]] = []
    done = threading.Event()
    injected: list[str] = []
    report_dir = work / "reports"
    try:
        for _name, at_start, _mid, _check in SCENARIOS:
            phones.append(start_phone(args.sleep_ms, at_start))
        serials = [serial for _, serial in phones]
        threads = [threading.Thread(target=injector, args=(report_dir, serial, process, mid,
                                                           done, injected), daemon=True)
                   for (process, serial), (_n, _s, mid, _c) in zip(phones, SCENARIOS) if mid]
        for thread in threads:
            thread.start()
        print(f"# {os.cpu_count()} host cores, load average {os.getloadavg()[0]:.2f} at start",
              flush=True)
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "suites/", "-n", "auto", "-q", "-p",
             "no:cacheprovider", "--device=" + ",".join(serials), "--model=ppocr_cls,face_landmark",
             "--variant=fp32", "--engine=onnxruntime,tflite", f"--iterations={args.iterations}",
             "--warmup=1", "--cooldown=off", "--edgelab-idle-window=0",
             "--edgelab-history=off", f"--edgelab-timeout={args.timeout:g}",
             f"--reboot-wait={args.reboot_wait:g}",
             "--report-dir", str(report_dir)],
            cwd=REPO, env={**env, "EDGELAB_ADB_CONNECT": ",".join(serials)},
            capture_output=True, text=True, timeout=3600)
        wall = time.perf_counter() - start
        done.set()
        run_dirs = [p.parent for p in report_dir.glob("*/run.json") if not p.parent.is_symlink()]
        if len(run_dirs) != 1:
            raise SystemExit(f"expected one run directory, found {run_dirs}:\n{run.stdout[-3000:]}"
                             f"\n{run.stderr[-3000:]}")
        info = json.loads((run_dirs[0] / "run.json").read_text())
        planned = info.get("planned", {}).get("cells", 0)
        records = records_of(report_dir)
        lost = planned - len(records)
        handled = 0
        injected_count = 0
        for (process, serial), (name, at_start, mid, check) in zip(phones, SCENARIOS):
            rows = [r for r in records if r["device"]["serial"] == serial]
            if not (at_start or mid):
                ok = check(rows)
                print(f"{name:<20} {serial:<16} control phone: {'ok' if ok else 'NOT OK'} "
                      f"({len(rows)} records)")
                handled_control = ok
                continue
            injected_count += 1 if (at_start or serial in injected) else 0
            ok = check(rows)
            handled += ok
            statuses: dict[str, int] = {}
            for row in rows:
                statuses[row["status"]] = statuses.get(row["status"], 0) + 1
            print(f"{name:<20} {serial:<16} {'handled' if ok else 'NOT HANDLED'} {statuses}")
            if not ok:
                for row in rows:
                    print(f"    {row['suite']} {row['model']['name']} {row['engine']['name']}: "
                          f"{row['status']} {(row.get('reason') or '')[:200]}")
        report = (run_dirs[0] / "report.html").is_file()
        print(f"# pytest exit {run.returncode}, {wall:.1f} s, {len(records)}/{planned} records, "
              f"report {'written' if report else 'MISSING'}, control phone "
              f"{'ok' if handled_control else 'NOT OK'}, load average "
              f"{os.getloadavg()[0]:.2f}")
        print(f"faults_injected={injected_count} faults_handled={handled} records_lost={lost}")
    finally:
        done.set()
        virtual_farm.stop_farm([process for process, _ in phones], port, env, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
