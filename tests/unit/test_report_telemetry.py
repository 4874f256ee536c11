"""Records written by the runner with their telemetry, read back by the report: power, energy
per inference, throttling, temperatures and traces agree between writer and readers (the typed
fast path and the tolerant one), and the governor section, the traces, the warnings and the
terminal summary show them.

The records go through the real chain from a sampled cell on: ``CellSampling.record_fields``
-> ``CellRunner._emit_ok`` -> results.jsonl -> ``build_model``; only the samples are synthetic
(a phone at 2 W at rest whose battery draw grows with frequency), so every figure is known.
"""
from __future__ import annotations

import dataclasses
import json

import pytest
from phone_records import HOST, PHONE, Run, _case

from harness.engines.base import RawRun
from harness.report import decode
from harness.report.frame import flatten
from harness.report.model import build_model
from harness.report.summary import summary_lines
from harness.results.schema import Measurement, upgrade
from harness.run.sampling import CellSampling
from harness.telemetry.sample import Sample, SampleLog

# variant, governor, tool mean ms, amps in the timed loop, throttled at (s into the loop)
CELLS = (("fp32", "default", 124.0, 1.50, None), ("int8", "default", 68.0, 1.20, None),
         ("fp32", "powersave", 300.0, 0.70, None), ("int8", "powersave", 150.0, 0.62, None),
         ("fp32", "performance", 100.0, 1.90, 1.0))
LIMITS = {"policy4": [402000, 2367000]}


def _sampled(amps: float, loop_s: float, throttle_at: float | None) -> CellSampling:
    """A phone at 0.5 A (4 V) at rest for 2 s, then a tool whose timed loop draws ``amps``."""
    log = SampleLog("android:R5CT01", settle_s=0.01)
    for i in range(int((3 + loop_s) * 20) + 1):
        t = 100 + i / 20
        in_loop = t >= 103
        khz = 1_826_000 if throttle_at is not None and t >= 103 + throttle_at else 2_367_000
        log.add(Sample(t_s=t, host_s=t, freq_khz={"policy4": khz},
                       temp_c={"BIG": 30 + (t - 100) / 2}, thermal_status=0,
                       battery={"current_raw": -(amps if in_loop else 0.5) * 1e6,
                                "voltage_raw": 4_000_000, "status": "Discharging",
                                "temp_c": 28.0}))
    sampling = CellSampling("android")
    sampling.sampler = type("S", (), {"log": log, "lost": None, "plan": None})()
    sampling.idle = log.span("idle", 100.5, 102.5)
    sampling.run = log.span("run", 102.9, 103 + loop_s + 0.05)
    return sampling


@pytest.fixture
def sweep(tmp_path):
    run = Run(tmp_path)
    for variant, governor, mean_ms, amps, throttle_at in CELLS:
        artifact = run.artifact("ppocr_cls", variant, "tflite", f"{variant}.tflite")
        n = 40
        raw = RawRun(samples_ms=(mean_ms,), load_ms=30.0, first_ms=mean_ms * 2, peak_rss_mb=90.0,
                     rss_before_load_mb=None, engine_version="2.16", backend="cpu", threads=4,
                     extra={"summary_only": True, "tool": {"file": "benchmark_model"},
                            "tool_stats": {"n": n, "mean_ms": mean_ms, "min_ms": mean_ms * 0.9,
                                           "max_ms": mean_ms * 1.2},
                            "tool_run_monotonic_s": [102.95, 103 + n * mean_ms / 1000]})
        case, ident = _case(PHONE, "tflite", artifact)
        case = dataclasses.replace(case, governor=governor, governor_in_id=True)
        held = {"governor": governor, "applied": ["governors"], "freq_limits_khz": LIMITS}
        sampling = _sampled(amps, n * mean_ms / 1000, throttle_at)
        run.runner._emit_ok(case, "latency", f"latency[{case.id}]", ident, raw,
                            {"temp_c": 30.0}, {"temp_c": 35.0}, None, held, sampling)
    # a host cell on a machine without RAPL: latency kept, power unavailable with the reason
    artifact = run.artifact("ppocr_cls", "fp32", "onnxruntime", "fp32.onnx")
    host = CellSampling("host")
    host.lost = "no sampler for a host device"
    case, ident = _case(HOST, "onnxruntime", artifact)
    run.runner._emit_ok(case, "latency", f"latency[{case.id}]", ident,
                        RawRun(samples_ms=(1.0, 1.1, 1.2), load_ms=1.0, first_ms=2.0,
                               peak_rss_mb=50.0, rss_before_load_mb=40.0, engine_version="1.20",
                               backend="cpu", threads=1), {}, {}, None, {}, host)
    return run


def _records(run) -> list[dict]:
    return [json.loads(line) for line in (run.dir / "results.jsonl").read_text().splitlines()]


def test_records_carry_power_energy_throttle_temperatures_and_trace(sweep):
    records = {r["conditions"]["governor_requested"] + "/" + r["variant"]["id"]: r
               for r in _records(sweep) if r["device"]["id"] == PHONE.id}
    fp32 = records["default/fp32"]
    assert fp32["status"] == "ok"
    # 1.5 A x 4 V = 6 W in the loop, 2 W at rest: (6 - 2) W x 4.96 s / 40 = 496 mJ
    assert fp32["power"]["avg_power_mw"] == pytest.approx(6000)
    assert fp32["power"]["energy_per_inference_mj"] == pytest.approx(496, rel=0.02)
    assert fp32["conditions"]["throttled"] is False and fp32["conditions"]["temp_c"] > 31
    hot = records["performance/fp32"]
    assert hot["conditions"]["throttled"] is True
    assert hot["conditions"]["throttle"]["changes"][0].startswith("policy4 fell from 2367 to 1826 MHz")
    assert set(hot["extra"]["trace"]) >= {"t_s", "freq_mhz", "temp_c", "power_mw", "timed_s"}
    assert not any(k.endswith("monotonic_s") for k in hot["extra"])  # clock marks stay out
    host = next(r for r in _records(sweep) if r["device"]["id"] == HOST.id)
    assert host["status"] == "ok" and host["conditions"]["telemetry_lost"]


def test_fast_and_tolerant_readers_agree_on_the_writers_fields(sweep):
    lines = (sweep.dir / "results.jsonl").read_bytes().splitlines()
    typed = decode.columns(decode.decode_all(b"\n".join(lines)))
    for i, line in enumerate(lines):
        slow = flatten(upgrade(json.loads(line)))
        for key in ("power_mw", "energy_direct_mj", "temp_c"):
            fast = typed[key][i]
            assert (slow[key] is None and fast != fast) or slow[key] == pytest.approx(fast), key
        for key in ("throttled", "power_unavailable", "throttle_changes"):
            assert (slow[key] or None) == (typed[key][i] or None), key
        assert slow["_trace"] == typed["_trace"][i]


def test_report_shows_the_governor_table_pareto_traces_and_warnings(sweep):
    model = build_model(sweep.dir)
    assert model["governor"]["present"] and model["governor"]["charts"]
    spec = model["tables"]["governor_variants"]
    keys = [c["key"] for c in spec["columns"]]
    rows = {(r["variant"], r["governor"]): r for r in (dict(zip(keys, row)) for row in spec["rows"])}
    assert set(rows) == {(v, g) for v, g, *_ in CELLS}
    int8 = rows[("int8", "powersave")]
    assert int8["reference"] == "fp32 @ default" and int8["ref_ms"] == 124.0
    # 0.62 A vs 1.5 A at 4 V: 2480 mW vs 6000 mW
    assert int8["power_change"] == pytest.approx(2480 / 6000 - 1, rel=0.01)
    assert int8["claim"].startswith("INT8 @ powersave: 150 ms vs 124 ms, \u221259% power, ")
    assert rows[("fp32", "default")]["claim"].endswith("(the reference)")
    assert rows[("fp32", "performance")]["throttled_flag"] == "throttled"
    pareto = model["tables"]["governor"]
    front = [dict(zip([c["key"] for c in pareto["columns"]], r)) for r in pareto["rows"]]
    assert {(r["variant"], r["governor"]) for r in front if r["pareto"] == "yes"} >= {("int8", "default")}
    assert model["traces"]["total"] == 5 and len(model["traces"]["charts"]) == 5
    assert "throttled" in str(model["traces"]["charts"][0])  # throttled runs first
    assert 'class="timed"' in str(model["traces"]["charts"][0])
    warnings = [w["text"] for w in model["summary"]["warnings"]]
    assert any(w.startswith("1 of 6 measurements ran throttled on R5CT01: R5CT01 ppocr_cls fp32 "
                            "tflite @ performance (policy4 fell from 2367 to 1826 MHz")
               for w in warnings), warnings
    assert [w for w in warnings if w.startswith("power unavailable")] == [
        "power unavailable for 1 of 6 measurements on host: telemetry lost: no sampler for a "
        "host device"]


def test_terminal_summary_shows_governor_energy_throttled_and_claims(sweep):
    records = [Measurement.from_dict(r) for r in _records(sweep)]
    lines = summary_lines(records, build_model(sweep.dir))
    header = next(line for line in lines if line.startswith("device"))
    assert "governor" in header and "mJ/inf" in header
    hot = next(line for line in lines if "performance" in line and "R5CT01" in line)
    assert "THROTTLED: policy4 fell from 2367 to 1826 MHz" in hot
    assert "power unavailable (1 cells): telemetry lost: no sampler for a host device" in lines
    at = lines.index("Governor x variant, vs fp32 @ default per device, model, engine")
    assert any(line.startswith("  R5CT01 ppocr_cls tflite: INT8 @ powersave: 150 ms vs 124 ms")
               for line in lines[at:])
