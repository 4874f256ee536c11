"""How long does building report.html take for a 100,000-record run, and how big is the page?

    .venv/bin/python benchmarks/report_scale.py [--records N] [--keep DIR]

The synthetic run has the shape of a large nightly farm run (see docs/report.md): 40 devices
(ARM64 and ARMv7 phones, iPhones, virtual devices, one host) x 6 models x 4 variants x 5 engines.
Each cell has one compat record and repeated latency records (ten devices sweep three governors
and carry power; a few records carry thermal traces). Records go through ``Measurement`` so they
are exactly what the harness writes. Only ``write_report`` is timed: the records file is written
before the clock starts, and parsing it is part of the timed build.

The run folder is what a session leaves: results.jsonl plus the columnar parts its writers keep
(harness/results/columnar.py); `--no-columnar` times decoding the JSON lines instead.

The LAST line printed is ``report_seconds=<s> report_bytes=<n>`` (CI greps it).
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.results.schema import Measurement  # noqa: E402
from harness.results.stats import LatencyStats  # noqa: E402
from harness.report.write import write_report  # noqa: E402
from harness.results.columnar import ColumnarJournal  # noqa: E402

MODELS = {"mobilenet_v2": 14.0, "ppocr_det": 31.0, "ppocr_cls": 2.1, "face_landmark": 1.8,
          "silero_vad": 0.9, "yolo_nano": 48.0}
VARIANTS = {"fp32": (1.0, 1.0), "fp16": (0.5, 0.85), "int8": (0.26, 0.55),
            "int8-dynamic": (0.27, 0.9)}  # (size factor, latency factor)
ENGINES = {"tflite": 1.0, "ncnn": 0.85, "mnn": 0.9, "onnxruntime": 1.1, "coreml": 0.6}
GOVERNORS = {"performance": (0.8, 1.35), "schedutil": (1.0, 1.0), "powersave": (1.9, 0.55)}
SAMPLES_PER_RECORD = 50
RUN_ID = "synthetic-100k"


def devices(count: int = 40) -> list[dict]:
    out = [{"id": "host", "kind": "host", "model": "AMD EPYC", "virtual": False,
            "abis": ["x86_64"], "arch": "x86_64", "os": "Linux-6.1"}]
    for i in range(1, count):
        if i % 10 == 0:
            out.append({"id": f"emu-{i}", "kind": "virtual-android", "model": "sdk_gphone64",
                        "virtual": True, "abis": ["arm64-v8a"], "arch": "arm64", "os": "Android 14"})
        elif i % 7 == 0:
            out.append({"id": f"iphone-{i}", "kind": "ios", "model": f"iPhone{12 + i % 4},2",
                        "virtual": False, "abis": ["arm64e"], "arch": "arm64", "os": "iOS 17.5",
                        "soc": "Apple A15"})
        else:
            abis = ["armeabi-v7a"] if i % 5 == 0 else ["arm64-v8a", "armeabi-v7a"]
            out.append({"id": f"R5CT{i:04d}", "kind": "android", "model": f"SM-A{100 + i}",
                        "virtual": False, "abis": abis, "arch": abis[0], "os": "Android 13",
                        "soc": f"Exynos {800 + i}"})
    return out


def support(device: dict, engine: str, variant: str) -> str | None:
    if engine == "coreml" and device["kind"] != "ios":
        return "Core ML runs only on Apple devices"
    if device["kind"] == "ios" and engine in ("ncnn", "onnxruntime"):
        return f"no {engine} build for iOS in this lab"
    if variant == "fp16" and device["abis"] == ["armeabi-v7a"]:
        return "armeabi-v7a has no FP16 arithmetic"
    return None


def trace(seconds: int, hot: bool) -> list[dict]:
    return [{"t_s": t * 0.5, "temp_c": 38 + (0.3 if hot else 0.08) * t,
             "freq_mhz": 2400 - (12 * t if hot else 0), "power_mw": 2100 + 40 * (t % 7)}
            for t in range(seconds * 2)]


def record(rng: random.Random, dev: dict, model: str, variant: str, engine: str, suite: str,
           governor: str, rep: int) -> dict:
    ident = {"device": dev, "model": {"name": model, "format": "onnx", "task": "classification"},
             "engine": {"name": engine, "version": "1.0", "backend": "cpu", "threads": 4}}
    size = int(4_000_000 * MODELS[model] ** 0.5 * VARIANTS[variant][0])
    ident["variant"] = {"id": variant, "format": engine, "bytes": size, "sha256": f"{size:064x}",
                        "converter": "synthetic"}
    base = dict(run_id=RUN_ID, test_id=f"suites/test_{suite}.py::{dev['id']}-{model}-{variant}-"
                f"{engine}-{governor}-{rep}", suite=suite, **ident)
    reason = support(dev, engine, variant)
    if reason:
        return Measurement(status="unsupported", reason=reason,
                           conditions={"virtual": dev["virtual"]}, **base).to_dict()
    slow, watts = GOVERNORS[governor]
    centre = MODELS[model] * VARIANTS[variant][1] * ENGINES[engine] * slow * (1 + zlib.crc32(dev["id"].encode()) % 50 / 50)
    samples = [round(centre * rng.lognormvariate(0, 0.05), 4) for _ in range(SAMPLES_PER_RECORD)]
    stats = LatencyStats.from_samples(samples)
    noisy = rng.random() < 0.03
    sweep = dev["kind"] == "android" and int(dev["id"][4:]) < 13
    extra = {"trace": trace(20, hot=rng.random() < 0.3)} if sweep and rep == 0 and rng.random() < 0.05 else {}
    return Measurement(
        status="ok", conditions={"governor": governor, "temp_c": 36 + rng.random() * 8,
                                 "charging": dev["kind"] == "android" and rng.random() < 0.02,
                                 "other_cpu_pct": rng.random() * 10, "noisy": noisy,
                                 "noise_reason": "cv 0.21" if noisy else None,
                                 "virtual": dev["virtual"], "threads": 4},
        latency={**stats.as_dict(), "load_ms": centre * 20, "first_ms": centre * 3},
        memory={"peak_rss_mb": 40 + MODELS[model] * VARIANTS[variant][0] * 3, "model_rss_mb": 20},
        power={"mean_mw": 2000 * watts} if sweep else None,
        fidelity=None if variant == "fp32" else {"cosine": 0.999 - VARIANTS[variant][1] / 100,
                                                 "max_abs": 0.02, "top1_agree": 0.99, "ok": True},
        samples_ms=samples, extra=extra, **base).to_dict()


def synthetic_records(total: int, seed: int = 7):
    rng = random.Random(seed)
    devs = devices()
    cells = [(d, m, v, e) for d in devs for m in MODELS for v in VARIANTS for e in ENGINES]
    count = 0
    for cell in cells:  # compat first, as a run does
        yield record(rng, *cell, "compat", "schedutil", 0)
        count += 1
        if count == total:
            return
    rep = 0
    while True:
        for dev, model, variant, engine in cells:
            sweep = dev["kind"] == "android" and int(dev["id"][4:]) < 13
            for governor in (GOVERNORS if sweep else ["schedutil"]):
                yield record(rng, dev, model, variant, engine, "latency", governor, rep)
                count += 1
                if count == total:
                    return
        rep += 1


def write_run(run_dir: Path, total: int, columnar: bool = True) -> float:
    """The run folder a session leaves: results.jsonl and (as RunStore.append keeps it while the
    run goes on) its columnar parts. Returns the seconds the columnar copy cost the writers."""
    run_dir.mkdir(parents=True, exist_ok=True)
    journal = ColumnarJournal(run_dir)
    spent = 0.0
    with open(run_dir / "results.jsonl", "wb") as fh:
        for data in synthetic_records(total):
            line = (json.dumps(data, separators=(",", ":")) + "\n").encode()
            offset = fh.tell()
            fh.write(line)
            if columnar:
                start = time.perf_counter()
                journal.add(line, offset)
                spent += time.perf_counter() - start
        fh.flush()
        start = time.perf_counter()
        journal.flush()
        spent += time.perf_counter() - start
    if journal.disabled:
        raise SystemExit(f"columnar copy not written: {journal.disabled}")
    info = {"run_id": RUN_ID, "started": "2026-01-01T00:00:00+00:00",
            "environment": {"python": sys.version.split()[0], "edgelab": "synthetic"},
            "engines": {name: "1.0" for name in ENGINES}, "notes": ["synthetic scale test"]}
    (run_dir / "run.json").write_text(json.dumps(info))
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the run here and keep it; reused if it already holds one")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-columnar", action="store_true",
                        help="no columnar copy: time the report decoding results.jsonl itself")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / RUN_ID
        if args.generate_only:
            spent = write_run(run_dir, args.records, columnar=not args.no_columnar)
            print(f"columnar_copy_seconds={spent:.2f} (spread over the run, in the writers: "
                  f"{spent / args.records * 1e6:.0f} us per record)")
            return 0
        if not (run_dir / "results.jsonl").is_file():
            # written by another process, as a session's writers are: the report is built by a
            # process that did not just hold 100,000 records' worth of objects
            subprocess.run([sys.executable, __file__, "--generate-only", "--keep", str(run_dir),
                            "--records", str(args.records)]
                           + (["--no-columnar"] if args.no_columnar else []), check=True)
        size_in = (run_dir / "results.jsonl").stat().st_size
        lines = sum(1 for _ in open(run_dir / "results.jsonl", "rb"))
        parts = sorted((run_dir / "columnar").glob("*.parquet"))
        print(f"records={lines} results_bytes={size_in} columnar_parts={len(parts)} "
              f"columnar_bytes={sum(p.stat().st_size for p in parts)}")
        start = time.perf_counter()
        out = write_report(run_dir)
        seconds = time.perf_counter() - start
        print(f"report_seconds={seconds:.2f} report_bytes={out.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
