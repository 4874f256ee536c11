"""End to end: `pytest suites/ --device=all` with three virtual phones behind the real adb server.

The lab's own suites run in a subprocess, exactly as a user runs them; discovery reaches the
phones only through EDGELAB_ADB_SERVER / EDGELAB_ADB_CONNECT, and the tool cache holds virtual
stand-ins (tflite for arm64-v8a only, onnxruntime for both ARM ABIs) in a private EDGELAB_CACHE.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from android_fixtures import PHONES, model_cache, models  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


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
    with capsys.disabled():
        print("\ncompat matrix (virtual phones):")
        for key, (status, reason) in sorted(_compat_matrix(records).items()):
            print(f"  {key[0]:<8} {key[1]:<14} {key[2]:<12} {status:<12} {reason[:90]}")
