"""Calibration of the release gate: how often it fails an unchanged cell, how often it catches a
slowdown, through the real verdict code (``harness.results.gate.judge``) and the lab's rules
(``[tool.edgelab.gate]``, default latency median:5%, floor 0.05 ms, alpha 0.01).

Each simulated run is one process's per-iteration latencies, ``iterations`` of them
([tool.edgelab] iterations, 50), around a true median of 10 ms (far above the floor, so the floor
rescues nothing):
- log-normal, CV 2%, 5% or 10% (``sigma = sqrt(log(1 + cv^2))``);
- a run-level offset, log-normal with SD ``--run-sd`` (1%: between processes, 1-thread PP-OCR cls
  medians move ~1% on a quiet box here and in docs/design.md; face_landmark 2.4%, det 3.7%);
- patterns: ``iid``; ``autocorrelated`` (AR(1) on the log scale, phi 0.5, as measured here: lag-1
  autocorrelation 0.1-0.7 in real 1-thread runs); ``outliers`` (phi 0.3 plus 2% of iterations
  1.5-3x slower: interrupts, preemption); ``bimodal`` (phi 0.3 plus a two-state regime, a slow
  mode +15% that lasts ~3 iterations and holds ~25% of the time: frequency or cache states
  flipping within a run). A stress line keeps the slow mode ~20 iterations (``bimodal-long``):
  then whole runs land in one mode or the other, which is a between-process offset in disguise.
A/A: both runs from the same distribution; A/B: the current run's level times 1.05 or 1.10.

    python benchmarks/gate_calibration.py [--trials 800] [--seed 1] [--run-sd 0.01] [--iterations N]

Each comparison follows the gate's whole procedure: an inconclusive verdict measures the current
side once more (another process), up to ``rechecks`` times (default 2, run/recheck.py).

Also printed: each scenario's rates, the same without re-measuring (rechecks=0), what the serial-correlation allowance buys (the same
samples ranked as if independent), larger between-process offsets (the gate cannot see those
in one process per side: only repeats can), and 5 repeats per side (per-repeat medians ranked).
Last line: ``false_positive_rate=<A/A regressed rate over the grid> power_10pct=<share of 10%
slowdowns caught at CV 5%, all patterns>``. Targets: <= 0.01 and >= 0.95.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.config import DEFAULTS, read_pyproject_defaults  # noqa: E402
from harness.results.gate import Sample, judge, look_alpha  # noqa: E402
from harness.results.gate_rules import GateRules  # noqa: E402

MEDIAN_MS = 10.0
CVS = (0.02, 0.05, 0.10)
PATTERNS = ("iid", "autocorrelated", "outliers", "bimodal")


def one_run(rng: np.random.Generator, n: int, cv: float, pattern: str, run_sd: float,
            slowdown: float = 0.0) -> tuple[float, ...]:
    """One process's per-iteration latencies (ms), in measured order."""
    level = MEDIAN_MS * math.exp(rng.normal(0.0, run_sd)) * (1.0 + slowdown)
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    phi = {"iid": 0.0, "autocorrelated": 0.5, "outliers": 0.3}.get(pattern, 0.3)
    noise = rng.normal(0.0, 1.0, n)
    if phi:
        innovations, noise = noise, np.empty(n)
        noise[0] = innovations[0]
        scale = math.sqrt(1.0 - phi * phi)  # stationary N(0, 1) with lag-1 correlation phi
        for i in range(1, n):
            noise[i] = phi * noise[i - 1] + scale * innovations[i]
    values = level * np.exp(sigma * noise)
    if pattern == "outliers":
        hit = rng.random(n) < 0.02
        values[hit] *= rng.uniform(1.5, 3.0, int(hit.sum()))
    elif pattern.startswith("bimodal"):
        dwell = 20.0 if pattern == "bimodal-long" else 3.0  # mean iterations in the slow mode
        slow = np.empty(n, dtype=bool)
        slow[0] = rng.random() < 0.25
        flips = rng.random(n)
        for i in range(1, n):  # leave slow after ~dwell iterations, enter after ~3 dwell: 25%
            slow[i] = (flips[i] >= 1.0 / dwell) if slow[i - 1] else (flips[i] < 1.0 / (3 * dwell))
        values[slow] *= 1.15
    return tuple(values.tolist())


def verdicts(rng, trials: int, n: int, cv: float, pattern: str, run_sd: float, slowdown: float,
             settings, kind: str = "iterations", repeats: int = 1,
             rechecks: int | None = None) -> dict[str, float]:
    """Share of each verdict over ``trials`` comparisons of one scenario. As a pytest run with
    ``--gate`` does (run/recheck.py), an inconclusive comparison measures the current side once
    more (another whole run), up to ``rechecks`` times (default: the rules' own)."""
    rule, floor, alpha = settings.rules["latency"], settings.floors["latency"], settings.alpha
    rechecks = settings.rechecks if rechecks is None else rechecks
    counts: dict[str, int] = {}

    def sample(runs: list) -> Sample:
        if kind == "repeats":  # per-repeat medians, as the gate ranks repeats
            return Sample((tuple(float(np.median(r)) for r in runs),), "repeats")
        return Sample(tuple(runs), kind)

    for _ in range(trials):
        base = sample([one_run(rng, n, cv, pattern, run_sd) for _ in range(repeats)])
        runs = [one_run(rng, n, cv, pattern, run_sd, slowdown) for _ in range(repeats)]
        name = judge("latency", rule, floor, alpha, base, sample(runs), run_cv=settings.run_cv).verdict
        for look in range(1, rechecks + 1):
            if name != "inconclusive":
                break
            runs.append(one_run(rng, n, cv, pattern, run_sd, slowdown))
            name = judge("latency", rule, floor, look_alpha(alpha, look), base, sample(runs),
                         run_cv=settings.run_cv).verdict
        counts[name] = counts.get(name, 0) + 1
    return {k: v / trials for k, v in counts.items()}


def line(label: str, rates: dict[str, float]) -> str:
    order = ("regressed", "improved", "inconclusive", "unchanged")
    return f"{label:<46}" + "  ".join(f"{k} {rates.get(k, 0.0):6.2%}" for k in order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=800, help="comparisons per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=None,
                        help="per run (default: [tool.edgelab] iterations, 50)")
    parser.add_argument("--run-sd", type=float, default=0.01,
                        help="between-process SD of the level (default 0.01: 1%%)")
    args = parser.parse_args()
    lab = read_pyproject_defaults(REPO)
    n = args.iterations or int(lab.get("iterations", DEFAULTS["iterations"]))
    settings = (lab.get("gate") or GateRules()).for_model("calibration")
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(f"rules: {settings.describe()}; {n} iterations per run, between-run SD "
          f"{args.run_sd:.1%}, {args.trials} trials per scenario")

    aa, caught_10 = [], []
    print("\nA/A (no change): a 'regressed' here is a false alarm that fails a build")
    for cv in CVS:
        for pattern in PATTERNS:
            rates = verdicts(rng, args.trials, n, cv, pattern, args.run_sd, 0.0, settings)
            aa.append(rates.get("regressed", 0.0))
            print(line(f"  cv {cv:.0%} {pattern}", rates))
    print("\nA/B: the current run 5% and 10% slower")
    for slowdown in (0.05, 0.10):
        for cv in CVS:
            for pattern in PATTERNS:
                rates = verdicts(rng, args.trials, n, cv, pattern, args.run_sd, slowdown, settings)
                if slowdown == 0.10 and cv == 0.05:
                    caught_10.append(rates.get("regressed", 0.0))
                print(line(f"  +{slowdown:.0%} cv {cv:.0%} {pattern}", rates))

    print("\nthe serial-correlation allowance: the same A/A samples ranked as if independent")
    for pattern in ("autocorrelated", "bimodal"):
        for cv in (0.05, 0.10):
            print(line(f"  cv {cv:.0%} {pattern}, iid assumed",
                       verdicts(rng, args.trials, n, cv, pattern, args.run_sd, 0.0, settings,
                                kind="independent")))
    print("\nslow mode lasting ~20 iterations (bimodal-long), one process per side")
    for cv in CVS:
        print(line(f"  A/A cv {cv:.0%} bimodal-long", verdicts(
            rng, args.trials, n, cv, "bimodal-long", args.run_sd, 0.0, settings)))
    print("\nbetween-process offsets larger than run_cv, cv 5% autocorrelated (one process per side)")
    for run_sd in (0.025, 0.037):
        told = settings.updated({"run_cv": run_sd})  # the model's own run_cv in pyproject
        for label, chosen in (("", settings), (f", run_cv {run_sd:g}", told)):
            print(line(f"  A/A run SD {run_sd:.1%}{label}", verdicts(
                rng, args.trials, n, 0.05, "autocorrelated", run_sd, 0.0, chosen)))
            print(line(f"  +10% run SD {run_sd:.1%}{label}", verdicts(
                rng, args.trials, n, 0.05, "autocorrelated", run_sd, 0.10, chosen)))
    print("\n5 repeats per side (per-repeat medians, exact test)")
    for pattern, run_sd in (("autocorrelated", 0.01), ("autocorrelated", 0.037),
                            ("bimodal-long", 0.01)):
        for slowdown in (0.0, 0.10):
            print(line(f"  {'A/A' if not slowdown else '+10%'} cv 5% {pattern} run SD {run_sd:.1%}",
                       verdicts(rng, max(args.trials // 4, 50), n, 0.05, pattern, run_sd,
                                slowdown, settings, kind="repeats", repeats=5)))

    print("\nwithout re-measuring inconclusive cells (rechecks=0), one process per side")
    aa0, caught0 = [], []
    for cv in CVS:
        for pattern in PATTERNS:
            rates = verdicts(rng, args.trials, n, cv, pattern, args.run_sd, 0.0, settings, rechecks=0)
            aa0.append(rates.get("regressed", 0.0))
    for pattern in PATTERNS:
        rates = verdicts(rng, args.trials, n, 0.05, pattern, args.run_sd, 0.10, settings, rechecks=0)
        caught0.append(rates.get("regressed", 0.0))
        print(line(f"  +10% cv 5% {pattern}, rechecks 0", rates))
    print(f"  rechecks=0: false_positive_rate={np.mean(aa0):.4f} power_10pct={np.mean(caught0):.3f}")

    fp, power = float(np.mean(aa)), float(np.mean(caught_10))
    print(f"\n{len(aa) * args.trials} A/A and {2 * len(aa) * args.trials} A/B comparisons in "
          f"{time.perf_counter() - started:.0f} s")
    print(f"false_positive_rate={fp:.4f} power_10pct={power:.3f}")


if __name__ == "__main__":
    main()
