"""Run one engine measurement on the host in a child process and turn its report into a RawRun."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import MeasurementError, ToolTimeout
from ..models.manifest import InputSpec
from .base import RawRun, RunSettings


def run_on_host(engine, model_path: Path, input_spec: InputSpec, settings: RunSettings) -> RawRun:
    with tempfile.TemporaryDirectory(prefix="edgelab-run-") as tmp:
        result_path = Path(tmp) / "result.json"
        spec = {
            "engine": engine.name, "model_path": str(model_path), "threads": settings.threads,
            "warmup": settings.warmup, "iterations": settings.iterations,
            "min_time_s": settings.min_time_s, "max_iterations": settings.max_iterations,
            "input": dataclasses.asdict(input_spec), "save_outputs": settings.save_outputs,
            "result_path": str(result_path),
        }
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        proc = _run_child(spec_path, settings.timeout_s, model_path)
        if not result_path.exists():
            raise MeasurementError(_death_message(proc, model_path))
        result = json.loads(result_path.read_text())
    log = proc.stderr[-4000:]
    if "error" in result:
        err = result["error"]
        raise MeasurementError(f"{engine.name} failed at {err['stage']} of {model_path.name}: "
                               f"{err['type']}: {_first_line(err['message'])}")
    backend = result.get("backend", "")
    if "XNNPACK delegate" in log:  # LiteRT tells on stderr whether its default delegate applied
        backend = "cpu + XNNPACK delegate"
    return RawRun(
        samples_ms=tuple(result["samples_ms"]), load_ms=result.get("load_ms"),
        first_ms=result.get("first_ms"), peak_rss_mb=result.get("peak_rss_mb"),
        rss_before_load_mb=result.get("rss_before_load_mb"), engine_version=engine.version(),
        backend=backend, threads=settings.threads, other_cpu_pct=result.get("other_cpu_pct"),
        log=log, extra={"input_source": result.get("input_source"),
                        "input_shapes": result.get("input_shapes"),
                        "timed_monotonic_s": result.get("timed_monotonic_s"),
                        **input_guess_extra(result.get("input_shape_guessed"))},
    )


def input_guess_extra(guessed: dict | None) -> dict:
    """Record keys for dynamic input dims nobody gave: the guess and why it matters."""
    if not guessed:
        return {}
    from ..models.inputs import guess_warning

    return {"input_shape_guessed": guessed, "input_shape_warning": guess_warning(guessed)}


def _run_child(spec_path: Path, timeout_s: float, model_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # the child must measure with exactly the threads asked for, not what OMP picks
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "harness.engines.child", str(spec_path)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        # subprocess.run has SIGKILLed the child: the same finding as a phone tool killed at
        # the timeout (a hung engine), recorded alike (errors.ToolTimeout)
        raise ToolTimeout(f"the engine child running {model_path.name}", timeout_s,
                          "killed by the host (raise --edgelab-timeout if the model is that "
                          "slow)") from None


def _death_message(proc: subprocess.CompletedProcess, model_path: Path) -> str:
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode).name
        how = f"was killed by {sig}"
    else:
        how = f"exited with code {proc.returncode}"
    tail = _first_line(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "")
    return (f"engine process {how} while running {model_path} (corrupt or unsupported model "
            f"file?){': ' + tail if tail else ''}")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:300]
