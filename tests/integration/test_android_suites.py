"""End to end: `pytest suites/ --device=all` with three virtual phones behind the real adb server.

The lab's own suites run in a subprocess, exactly as a user runs them; discovery reaches the
phones only through EDGELAB_ADB_SERVER / EDGELAB_ADB_CONNECT, and the tool cache holds virtual
stand-ins (tflite for arm64-v8a only, onnxruntime for both ARM ABIs) in a private EDGELAB_CACHE.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from android_fixtures import PHONES, model_cache, models  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def rows_of(report: dict, name: str, **match) -> list[dict]:
    """Rows of a report table as dicts, those matching ``match``."""
    spec = report["tables"][name]
    keys = [c["key"] for c in spec["columns"]]
    found = [dict(zip(keys, row)) for row in spec["rows"]]
    return [r for r in found if all(r.get(k) == v for k, v in match.items())]


def _compat_matrix(records: list[dict]) -> dict[tuple[str, str, str], tuple[str, str]]:
    return {(r["device"].get("profile") or r["device"]["id"], r["model"]["name"],
             r["engine"]["name"]): (r["status"], r.get("reason") or "")
            for r in records if r["suite"] == "compat"}


def test_suites_on_three_virtual_phones(virtual_phone, adb_server, model_cache, models, tmp_path,
                                        capsys):
    phones = {name: virtual_phone(name, connect=False) for name in PHONES}
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_ADB_CONNECT": ",".join(p.serial for p in phones.values()),
           "EDGELAB_CACHE": str(model_cache)}
    env.pop("EDGELAB_ADB_START", None)
    python = sys.executable
    for args in (["--engine", "tflite", "--abi", "arm64-v8a"], ["--engine", "onnxruntime"]):
        subprocess.run([python, "-m", "harness", "tools", "add-virtual", *args], env=env,
                       check=True, capture_output=True, cwd=REPO)
    report_dir = tmp_path / "reports"
    run = subprocess.run([python, "-m", "pytest", "suites/", "--device=all", "--variant=fp32", "--iterations", "5",
                          "--warmup", "1", "--report-dir", str(report_dir),
                          "-p", "no:cacheprovider", "-q"],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = next(report_dir.glob("*/results.jsonl"))
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]

    by_profile = {name: [r for r in records if r["device"].get("profile") == name] for name in PHONES}
    assert all(by_profile.values()), {k: len(v) for k, v in by_profile.items()}
    for name, rows in by_profile.items():
        assert all(r["device"]["virtual"] and r["conditions"]["virtual"] for r in rows)
        assert all(r["device"]["kind"] == "virtual-android" for r in rows)
        assert all(r["status"] != "failed" for r in rows), [r["reason"] for r in rows]

    latency = {(r["device"]["profile"], r["model"]["name"], r["engine"]["name"]): r
               for rows in by_profile.values() for r in rows if r["suite"] == "latency"}
    for phone in ("pixel8", "mate20"):  # arm64 phones: both engines measure
        for model, engine in (("face_landmark", "tflite"), ("ppocr_cls", "onnxruntime")):
            record = latency[(phone, model, engine)]
            assert record["status"] == "ok", record["reason"]
            assert record["latency"]["n"] == 5 and record["latency"]["summary_only"]
            assert record["latency"]["mean_ms"] > 0 and record["extra"]["abi"] == "arm64-v8a"
            assert "virtual stand-in" in record["engine"]["version"]
    armv7_tflite = latency[("nexus4", "face_landmark", "tflite")]
    assert armv7_tflite["status"] == "unsupported"
    assert ("ARMv7-only device (abis armeabi-v7a, armeabi); registered tflite tools: arm64-v8a"
            in armv7_tflite["reason"])
    armv7_onnx = latency[("nexus4", "ppocr_cls", "onnxruntime")]
    assert armv7_onnx["status"] == "ok" and armv7_onnx["extra"]["abi"] == "armeabi-v7a"
    assert armv7_onnx["device"]["abis"] == ["armeabi-v7a", "armeabi"]

    # compat ran first and deployed everything: the latency cells found it all on the phones
    assert all(r["extra"]["push"]["pushed_bytes"] == 0
               for r in latency.values() if r["status"] == "ok" and r["device"].get("virtual"))
    _phone_cells_in_every_table(results.parent, [r for r in latency.values() if r["status"] == "ok"
                                                 and r["device"]["kind"] != "host"], run.stdout)
    with capsys.disabled():
        print("\ncompat matrix (virtual phones):")
        for key, (status, reason) in sorted(_compat_matrix(records).items()):
            print(f"  {key[0]:<8} {key[1]:<14} {key[2]:<12} {status:<12} {reason[:90]}")


def _run_suites(env: dict, report_dir: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "suites/", "--iterations", "5",
                           "--warmup", "1", "--report-dir", str(report_dir), "-p", "no:cacheprovider",
                           "-q", *options], env=env, capture_output=True, text=True, cwd=REPO,
                          timeout=600)


def _phone_cells_in_every_table(run_dir: Path, phone_records: list[dict], terminal: str) -> None:
    """Each ok phone cell (a tool's summary, no samples) is in every report table and the
    terminal summary with the tool's own mean, labelled so, never as a median."""
    from harness.report.model import build_model

    model = build_model(run_dir)
    assert phone_records
    for record in phone_records:
        where = {"device": record["device"]["id"], "model": record["model"]["name"],
                 "engine": record["engine"]["name"]}
        mean_ms = pytest.approx(record["latency"]["mean_ms"], rel=1e-4)
        (cell,) = rows_of(model, "latency", **where)
        assert (cell["central_ms"], cell["central_kind"]) == (mean_ms, "tool mean"), cell
        assert cell["summary_by"] == f"summary of 5 iterations by {record['extra']['tool']['file']}"
        assert cell["ci95_low_ms"] is None and cell["box"][7] == 1  # min / mean / max, no box
        (variant,) = rows_of(model, "variants", **where)
        assert (variant["central_ms"], variant["central_kind"], variant["speedup"]) == (mean_ms, "tool mean", 1)
        assert variant["outputs"] in ("ok on host (same file)", "not checked")
        (side,) = rows_of(model, "engines", device=where["device"], model=where["model"])
        assert side[f"engine:{where['engine']}"] == mean_ms and side["central_kind"] == "tool mean"
        (best,) = rows_of(model, "best", device=where["device"], model=where["model"])
        assert best["central_kind"] == "tool mean" and best["engine"] == where["engine"]
        row = next(line for line in terminal.splitlines()
                   if line.startswith(where["device"]) and where["model"] in line and where["engine"] in line)
        assert f"{record['latency']['mean_ms']:.2f} (mean)" in row, row
    assert "(mean): the phone tool's own mean" in terminal


def test_phone_cells_show_the_hosts_output_check_of_the_same_file(
        virtual_phone, adb_server, model_cache, tmp_path, capsys):
    """MNN's int8 ppocr_cls drifts on the host (cosine ~0.95): the phone cell that ran the very
    same file must show that verdict, labelled as the host's, and never a plain ✓; without a
    host run of the file it is 'output not checked'; a failed cell is failed in the regressions."""
    from harness.report.model import build_model

    cache = tmp_path / "cache"  # own cache: the mnn tool and built variants stay in this test
    shutil.copytree(model_cache / "models", cache / "models")
    phone = virtual_phone("pixel8", connect=False)
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_ADB_CONNECT": phone.serial, "EDGELAB_CACHE": str(cache),
           "EDGELAB_BUILD": str(cache / "build")}
    env.pop("EDGELAB_ADB_START", None)
    plan = tmp_path / "variants.toml"
    plan.write_text('[default]\nvariants = ["fp32", "int8"]\nformats = ["mnn"]\n')
    for argv in (["models", "build", "--model", "ppocr_cls", "--plan", str(plan)],
                 ["tools", "add-virtual", "--engine", "mnn", "--abi", "arm64-v8a"]):
        subprocess.run([sys.executable, "-m", "harness", *argv], env=env, check=True,
                       capture_output=True, cwd=REPO)
    run = _run_suites(env, tmp_path / "reports", "--device=all", "--model=ppocr_cls",
                      "--engine=mnn", "--variant=fp32,int8")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]  # the host int8 drifts
    run_dir = (tmp_path / "reports" / "latest").resolve()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    host_int8 = next(r for r in records if r["device"]["kind"] == "host"
                     and r["variant"]["id"] == "int8" and r["suite"] == "latency")
    phone_int8 = next(r for r in records if r["device"].get("profile") == "pixel8"
                      and r["variant"]["id"] == "int8" and r["suite"] == "latency")
    assert host_int8["status"] == "failed" and host_int8["reason"].startswith("output drift")
    assert phone_int8["status"] == "ok" and phone_int8["fidelity"] is None
    sha = phone_int8["variant"]["sha256"]
    assert sha == host_int8["variant"]["sha256"]

    model = build_model(run_dir)
    cells = {(r["device"], c["status"], c["mark"]): c for m in model["compat"]["models"]
             for r in m["rows"] for c in r["cells"] if c and "int8" in c["text"]}
    phone_cell = next(c for (device, _, _), c in cells.items() if device == phone_int8["device"]["id"])
    assert (phone_cell["status"], phone_cell["symbol"], phone_cell["mark"]) == ("failed", "✗", "h")
    assert f"outputs checked on host (same file sha256 {sha[:12]}…) failed" in phone_cell["text"]
    assert "output drift" in phone_cell["text"]
    best = rows_of(model, "best", device=phone_int8["device"]["id"])
    assert [(b["variant"], b["fidelity"]) for b in best] == [("fp32", "ok on host (same file)")]

    # the same phone records without the host's: nothing checked the file in that run
    alone = tmp_path / "phone-only"
    alone.mkdir()
    (alone / "results.jsonl").write_text("".join(
        json.dumps(r) + "\n" for r in records if r["device"]["kind"] != "host"))
    unchecked = [c for m in build_model(alone)["compat"]["models"] for r in m["rows"]
                 for c in r["cells"] if c and c["status"] != "unsupported"]
    assert unchecked and all(c["symbol"] == "?" and "output not checked" in c["text"]
                             for c in unchecked)

    # against itself as the baseline: the drifted host cell is failed, never judged; the fp32
    # one is not a change, yet 5 iterations of one process cannot rule out a 5% one either
    again = build_model(run_dir, run_dir)
    verdicts = {(r["device"], r["variant"]): r["verdict"] for r in rows_of(again, "regressions")}
    assert verdicts[("host", "int8")] == "failed" and verdicts[("host", "fp32")] == "inconclusive"
    with capsys.disabled():
        print(f"\nphone mnn int8: {phone_int8['latency']['mean_ms']} ms (tool mean); "
              f"compat: {phone_cell['text']}")
