"""Run folders for gate tests, written through the real RunStore with Measurement records shaped
as CellRunner writes them (host cells with per-iteration samples, phone cells with a tool's
summary only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.results.schema import Measurement
from harness.results.stats import LatencyStats
from harness.results.store import RunStore

PIXEL = {"id": "R5CT01", "kind": "android", "serial": "R5CT01", "model": "Pixel 8",
         "profile": "pixel8", "virtual": False, "abis": ["arm64-v8a"]}
HOST = {"id": "host", "kind": "host", "serial": "box-1", "model": "Intel(R) Xeon(R) CPU",
        "virtual": False, "abis": ["x86_64"], "arch": "x86_64"}


def samples(median: float, n: int = 50, cv: float = 0.02, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return (median * rng.lognormal(0.0, cv, n)).round(5).tolist()


def record(run_id: str, device: dict = HOST, model: str = "ppocr_cls", variant: str = "fp32",
           engine: str = "onnxruntime", values: list[float] | None = None, status: str = "ok",
           reason: str | None = None, threads: int = 1, governor: str = "default",
           sha: str = "a" * 64, tool_mean: float | None = None, peak_mb: float = 80.0,
           suite: str = "latency", **conditions) -> Measurement:
    abi = device["abis"][0]
    ident = {"device": dict(device), "model": {"name": model, "task": "classification"},
             "variant": {"id": variant, "format": "onnx", "sha256": sha, "bytes": 1000},
             "engine": {"name": engine, "version": "1.0", "threads": threads, "abi": abi}}
    cond = {"threads": threads, "governor": governor, "governor_requested": governor,
            "virtual": device.get("virtual", False), **conditions}
    if status != "ok":
        return Measurement(run_id=run_id, test_id=f"{suite}[{model}-{variant}-{engine}]",
                           suite=suite, status=status, reason=reason or status, conditions=cond,
                           **ident)
    if tool_mean is not None:  # a phone tool's summary: its mean, no samples (summary_only)
        latency = {"n": 50, "mean_ms": tool_mean, "min_ms": tool_mean * 0.9,
                   "max_ms": tool_mean * 1.2, "std_ms": tool_mean * 0.03, "summary_only": True,
                   "median_ms": None}
        values = [tool_mean]
    else:
        values = values if values is not None else samples(10.0)
        latency = LatencyStats.from_samples(values).as_dict()
    return Measurement(run_id=run_id, test_id=f"{suite}[{model}-{variant}-{engine}]",
                       suite=suite, status="ok", conditions=cond, latency=latency,
                       memory={"peak_rss_mb": peak_mb}, samples_ms=tuple(values), **ident)


def write_run(path: Path, records: list[Measurement]) -> Path:
    store = RunStore(path).create()
    for rec in records:
        store.append(rec)
    store.write_run_info({"run_id": path.name, "finished": "2025-01-01T00:00:00+00:00"})
    return path
