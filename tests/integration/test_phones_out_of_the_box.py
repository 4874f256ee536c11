"""Issue 19 item 3, as a new user meets it: virtual phones started as the README says, behind the
real adb server, and a fresh tool cache with nothing registered. `python -m harness devices`
says every engine is ready on them (built-in stand-ins), and `pytest suites/ --device=all`
measures ok phone records with no `tools add-virtual` step, labelled as built-in stand-ins."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
ENGINES = ("tflite", "onnxruntime", "ncnn", "mnn")


def test_virtual_phones_measure_with_no_registration(virtual_phone, adb_server, model_cache,
                                                     models, tmp_path):
    phones = {name: virtual_phone(name, connect=False) for name in ("pixel8", "nexus4")}
    cache = tmp_path / "cache"  # fresh: models only, no tools/ at all
    (cache / "models").parent.mkdir(parents=True, exist_ok=True)
    os.symlink(model_cache / "models", cache / "models")
    env = {**os.environ, "EDGELAB_ADB_SERVER": f"127.0.0.1:{adb_server.port}",
           "EDGELAB_ADB_CONNECT": ",".join(p.serial for p in phones.values()),
           "EDGELAB_CACHE": str(cache)}
    env.pop("EDGELAB_ADB_START", None)

    listing = subprocess.run([sys.executable, "-m", "harness", "devices", "--json"], env=env,
                             capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    by_serial = {d["id"]: d for d in json.loads(listing.stdout)["devices"]}
    for name, phone in phones.items():
        ready = by_serial[phone.serial]["engines"]
        want_abi = "arm64-v8a" if name == "pixel8" else "armeabi-v7a"
        assert {e: (r["state"], r.get("abi")) for e, r in ready.items()} == \
            {e: ("stand-in", want_abi) for e in ENGINES}, ready
    text = subprocess.run([sys.executable, "-m", "harness", "devices"], env=env,
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=True).stdout
    assert text.count("stand-in armeabi-v7a: built-in virtual stand-in") == len(ENGINES), text

    reports = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/", "--device=all",
                          "--engine=tflite,onnxruntime", "--variant=fp32", "--iterations", "5",
                          "--warmup", "1", "--report-dir", str(reports), "-p", "no:cacheprovider",
                          "-q"], env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    run_dir = (reports / "latest").resolve()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    phone_latency = {(r["device"]["profile"], r["model"]["name"], r["engine"]["name"]): r
                     for r in records if r["device"]["kind"] == "virtual-android"
                     and r["suite"] == "latency"}
    for name in phones:  # nexus4 (ARMv7 only) too: its stand-in is the armeabi-v7a one
        for model, engine in (("face_landmark", "tflite"), ("ppocr_cls", "onnxruntime")):
            record = phone_latency[(name, model, engine)]
            assert record["status"] == "ok", record["reason"]
            assert record["latency"]["mean_ms"] > 0 and record["latency"]["summary_only"]
            tool = record["extra"]["tool"]
            assert tool["origin"] == "built-in stand-in (virtual device, no registration)"
            assert tool["virtual"] and record["device"]["virtual"]
            assert record["engine"]["version"].startswith("built-in virtual stand-in of ")
    assert not (cache / "tools" / "tflite").exists()  # nothing was registered on the way
    assert "Engines side by side" in run.stdout and "(mean): the phone tool's own mean" in run.stdout
    html = (run_dir / "report.html").read_text()
    titles = html.count('<text class="chart-title" x="8" y="16">latency by variant and engine: ')
    assert titles == 6, titles  # 2 models x (host + 2 phones)
