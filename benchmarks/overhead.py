"""Harness overhead: the same model and engine timed in a bare loop and through the harness.

Both sides run in fresh processes with the same thread count and the same input array, in
alternating rounds (bare, harness, bare, harness, ...) so that drifting machine state hits both
equally. The headline is the median over rounds of the paired ratio harness/bare (a round's two
runs are seconds apart, so slow drift of a shared machine cancels out of each pair); 1.00 means
no overhead. The ratio of the two medians-of-medians is printed too.

    python benchmarks/overhead.py [--engine onnxruntime|tflite] [--rounds 5] [--iterations 200]

Last line: ``overhead_ratio=<paired median> ratio_of_medians=<..> bare_median_ms=<..>
harness_median_ms=<..>``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Written the way a user would time it by hand: load, warm up, perf_counter_ns around run().
BARE_ONNXRUNTIME = """
import sys, time, numpy as np, onnxruntime as ort
model, feed_path, warmup, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
o.add_session_config_entry("session.intra_op.allow_spinning", "0")
s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
x = dict(np.load(feed_path))
for _ in range(warmup): s.run(None, x)
t = []
for _ in range(iters):
    a = time.perf_counter_ns(); s.run(None, x); t.append(time.perf_counter_ns() - a)
print(sorted(t)[len(t) // 2] / 1e6)
"""

BARE_TFLITE = """
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
model, feed_path, warmup, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
it = Interpreter(model_path=model, num_threads=1); it.allocate_tensors()
x = dict(np.load(feed_path))
for d in it.get_input_details(): it.set_tensor(d["index"], x[d["name"]])
for _ in range(warmup): it.invoke()
t = []
for _ in range(iters):
    a = time.perf_counter_ns(); it.invoke(); t.append(time.perf_counter_ns() - a)
print(sorted(t)[len(t) // 2] / 1e6)
"""

MODEL_FOR = {"onnxruntime": "ppocr_cls", "tflite": "face_landmark"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(MODEL_FOR), default="onnxruntime")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()

    from harness.engines import get_engine
    from harness.engines.base import RunSettings
    from harness.engines.hostrun import run_on_host
    from harness.models.fetch import default_cache_dir, fetch
    from harness.models.inputs import make_feed
    from harness.models.manifest import load_manifest

    import numpy as np

    spec = load_manifest(REPO / "models" / "manifest.toml")[MODEL_FOR[args.engine]]
    model_path = fetch(spec, default_cache_dir())
    engine = get_engine(args.engine)
    feed, _ = make_feed(engine.load(str(model_path), 1).inputs, spec.input)
    bare_code = BARE_ONNXRUNTIME if args.engine == "onnxruntime" else BARE_TFLITE
    settings = RunSettings(warmup=args.warmup, iterations=args.iterations, threads=1)
    bare, harness = [], []
    with tempfile.TemporaryDirectory() as tmp:
        feed_path = Path(tmp) / "feed.npz"
        np.savez(feed_path, **feed)
        for round_no in range(1, args.rounds + 1):
            # same environment as the harness child (it pins OMP_NUM_THREADS=1)
            out = subprocess.run([sys.executable, "-c", bare_code, str(model_path), str(feed_path),
                                  str(args.warmup), str(args.iterations)],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
            bare.append(float(out.stdout.strip().splitlines()[-1]))
            raw = run_on_host(engine, model_path, spec.input, settings)
            harness.append(statistics.median(raw.samples_ms))
            print(f"round {round_no}: bare {bare[-1]:.4f} ms  harness {harness[-1]:.4f} ms",
                  flush=True)
    bare_median, harness_median = statistics.median(bare), statistics.median(harness)
    paired = statistics.median(h / b for h, b in zip(harness, bare))
    print(json.dumps({"engine": args.engine, "model": spec.name, "bare_ms": bare,
                      "harness_ms": harness}))
    print(f"overhead_ratio={paired:.4f} ratio_of_medians={harness_median / bare_median:.4f} "
          f"bare_median_ms={bare_median:.4f} harness_median_ms={harness_median:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
