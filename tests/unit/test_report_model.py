"""The report's data model on small hand-written runs: exact aggregates, seed-table numbers,
regressions, robustness to odd records. No HTML here (test_report_outputs.py has that)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.errors import UsageError
from harness.report.model import build_model
from harness.results.stats import median_ci95

PHONE = {"id": "R5CT01", "kind": "android", "model": "SM-A525F", "virtual": False,
         "abis": ["arm64-v8a", "armeabi-v7a"], "arch": "arm64-v8a", "os": "Android 13",
         "soc": "Snapdragon 720G"}
BYTES = {("tflite", "fp32"): 10_200_000, ("tflite", "int8"): 2_000_000,
         ("ncnn", "fp32"): 10_000_000, ("ncnn", "int8"): 2_500_000}


def rec(variant="fp32", engine="tflite", median=None, ci=None, status="ok", suite="latency",
        device=PHONE, model="det", samples=(), power_mw=None, fidelity=None, governor="schedutil",
        reason=None, peak=100.0, abi=None, **cond):
    engine_part = {"name": engine, "version": "2.16", "backend": "cpu", "threads": 4}
    if abi:
        engine_part["abi"] = abi
    data = {"run_id": "r1", "test_id": f"t-{model}-{variant}-{engine}", "suite": suite,
            "status": status, "reason": reason, "device": dict(device),
            "model": {"name": model, "format": "onnx", "task": "segmentation"},
            "variant": {"id": variant, "format": engine, "bytes": BYTES.get((engine, variant))},
            "engine": engine_part, "conditions": {"governor": governor, "governor_requested": governor,
                                                        "virtual": False, **cond},
            "samples_ms": list(samples), "schema_version": 1}
    if status == "ok":
        low, high = ci or (median - 10, median + 10)
        data["latency"] = {"n": len(samples) or 50, "median_ms": median, "ci95_low_ms": low,
                           "ci95_high_ms": high, "p90_ms": median * 1.05, "min_ms": median * 0.9,
                           "max_ms": median * 1.2, "cv": 0.02, "load_ms": 100.0}
        data["memory"] = {"peak_rss_mb": peak}
    if power_mw is not None:
        data["power"] = {"mean_mw": power_mw}
    data["fidelity"] = fidelity
    return data


def write_run(path, records, info=None, raw_lines=()):
    path.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records] + list(raw_lines)
    (path / "results.jsonl").write_text("\n".join(lines) + "\n")
    (path / "run.json").write_text(json.dumps(info or {"run_id": path.name, "notes": ["a note"]}))
    return path


def rows(model, name, **match):
    spec = model["tables"][name]
    keys = [c["key"] for c in spec["columns"]]
    out = [dict(zip(keys, r)) for r in spec["rows"]]
    return [r for r in out if all(r.get(k) == v for k, v in match.items())]


SEED = [
    rec("fp32", "tflite", 1240, (1230, 1250), power_mw=2000, peak=120),
    rec("int8", "tflite", 680, (670, 690), power_mw=1500, peak=80,
        samples=[670, 675, 680, 685, 690, 900],
        fidelity={"cosine": 0.998, "max_abs_err": 0.01, "top1_agreement": 0.97, "ok": True}),
    rec("fp32", "ncnn", 1100, (1090, 1115)),
    rec("fp32", "ncnn", 1120, (1105, 1130)),  # a repeat: pooled with the one above
    rec("int8", "ncnn", 600, (590, 610), fidelity={"cosine": 0.999, "ok": True}),
    rec("fp32", "coreml", status="unsupported", reason="Core ML runs only on Apple devices"),
    rec("fp32", "tflite", 1300, suite="compat", abi="armeabi-v7a"),
    rec("fp32", "tflite", status="failed", reason="SIGILL in benchmark_model", abi="armeabi-v7a"),
]


@pytest.fixture
def seed_model(tmp_path):
    return build_model(write_run(tmp_path / "r1", SEED))


def test_variant_table_reproduces_the_seed_claims(seed_model):
    int8 = rows(seed_model, "variants", engine="tflite", variant="int8")[0]
    assert int8["compression"] == 5.1                       # 10.2 MB / 2.0 MB
    assert int8["central_ms"] == 680 and int8["ref_central_ms"] == 1240
    assert int8["central_kind"] == "median"
    assert int8["speedup"] == pytest.approx(1240 / 680, rel=1e-4)
    assert int8["mem_change"] == pytest.approx(80 / 120 - 1, rel=1e-4)
    assert int8["energy_mj"] == 1020                        # 1500 mW x 680 ms
    assert int8["energy_change"] == pytest.approx(1020 / 2480 - 1, rel=1e-4)   # -58.9%
    assert (int8["fid_cosine"], int8["fid_agree"], int8["fid_ok"]) == (0.998, 0.97, 1)
    ncnn = rows(seed_model, "variants", engine="ncnn", variant="int8")[0]
    assert ncnn["compression"] == 4 and ncnn["ref_central_ms"] == 1110  # median of the repeats
    assert ncnn["speedup"] == pytest.approx(1110 / 600, rel=1e-4)


def test_engine_table_puts_engines_side_by_side(seed_model):
    row = rows(seed_model, "engines", variant="int8")[0]
    assert (row["engine:tflite"], row["engine:ncnn"], row["engine"]) == (680, 600, "ncnn")
    assert row["margin"] == pytest.approx(680 / 600, rel=1e-4)
    assert row["clear"] == "yes"                            # 610 < 670: beyond noise
    fp32 = rows(seed_model, "engines", variant="fp32", abi="arm64-v8a")[0]
    assert fp32["engine"] == "ncnn" and fp32["clear"] == "yes"   # 1130 < 1230
    assert "engine:coreml" not in fp32                             # unsupported everywhere


def test_engine_table_names_each_missing_engine_with_why_and_marks_the_fastest(tmp_path):
    from harness.report.summary import text_table

    long = "ncnn's INT8 tools (ncnn2table, ncnn2int8) are not shipped in the ncnn wheel " * 2
    model = build_model(write_run(tmp_path / "r", [
        rec("fp32", "tflite", 100, (95, 105)), rec("fp32", "ncnn", 80, (78, 82)),
        rec("int8", "tflite", 60, (58, 62)),
        rec("int8", "ncnn", status="unsupported", reason=long),
        rec("fp32", "coreml", status="unsupported", reason="Core ML runs only on Apple devices")]))
    assert model["tables"]["engines"]["best"] == {"key": "engine", "prefix": "engine:"}
    fp32, int8 = rows(model, "engines", variant="fp32")[0], rows(model, "engines", variant="int8")[0]
    assert fp32["missing"] == ""                 # coreml measured nowhere: no column, no gap
    assert int8["engine:ncnn"] is None and int8["engine"] == "tflite"
    assert int8["missing"] == "ncnn: unsupported: " + long[:59] + "…"
    text = text_table(model["tables"]["engines"])
    assert "80.000 *" in text[2] and "ncnn unsupported" in text[3] and "60.000 *" in text[3]


def test_overlapping_cis_are_within_noise(tmp_path):
    close = [rec("int8", "tflite", 100, (95, 106)), rec("int8", "ncnn", 98, (94, 103))]
    model = build_model(write_run(tmp_path / "r", close))
    assert rows(model, "engines")[0]["clear"] == "within noise"
    assert rows(model, "best")[0]["clear"] == "within noise"


def test_best_table_picks_fastest_with_runner_up(seed_model):
    best = rows(seed_model, "best", abi="arm64-v8a")
    assert len(best) == 1
    b = best[0]
    assert (b["variant"], b["engine"], b["central_ms"]) == ("int8", "ncnn", 600)
    assert b["runner_up"] == "int8 tflite" and b["clear"] == "yes" and b["fidelity"] == "ok"
    assert b["speedup"] == pytest.approx(1110 / 600, rel=1e-4)


def test_pooled_cell_and_box_plot(seed_model):
    pooled = rows(seed_model, "latency", engine="ncnn", variant="fp32")[0]
    assert pooled["median_ms"] == 1110 and pooled["records"] == 2
    # two repeats: too few for an interval of medians, so the union of their own CIs
    assert (pooled["ci95_low_ms"], pooled["ci95_high_ms"]) == (1090, 1130)
    box = rows(seed_model, "latency", engine="tflite", variant="int8")[0]["box"]
    # quartiles of [670 675 680 685 690 900] (linear), Tukey whiskers leave 900 out
    assert box[:5] == [670, 676.25, 682.5, 688.75, 690]


def test_many_repeats_use_the_order_statistic_ci(tmp_path):
    medians = [10 + i for i in range(10)]
    model = build_model(write_run(tmp_path / "r", [rec(median=m) for m in medians]))
    cell = rows(model, "latency")[0]
    assert cell["median_ms"] == 14.5 and cell["records"] == 10
    assert (cell["ci95_low_ms"], cell["ci95_high_ms"]) == median_ci95(sorted(medians)) == (11, 18)


def test_compat_matrix_worst_status_and_reasons(seed_model):
    (det,) = seed_model["compat"]["models"]
    assert [e["name"] for e in det["engines"]] == ["coreml", "ncnn", "tflite"]
    assert det["variants"] == ["fp32", "fp32", "int8", "fp32", "int8"]
    by_abi = {r["abi"]: r["cells"] for r in det["rows"]}
    coreml = by_abi["arm64-v8a"][0]
    assert coreml["status"] == "unsupported" and "Core ML runs only on Apple devices" in coreml["text"]
    v7_tflite_fp32 = by_abi["armeabi-v7a"][3]
    assert v7_tflite_fp32["status"] == "failed" and "SIGILL" in v7_tflite_fp32["text"]
    assert "1 of 2 records ok" in v7_tflite_fp32["text"]
    assert by_abi["armeabi-v7a"][1] is None                 # ncnn never ran on armv7


def test_summary_counts_devices_and_warnings(tmp_path):
    noisy = rec("fp32", "tflite", 50, noisy=True, noise_reason="cv 0.31")
    virtual = rec("fp32", "tflite", 60, device={**PHONE, "id": "emu-1", "virtual": True})
    hot = rec("int8", "tflite", 40, throttled=True, charging=True)
    model = build_model(write_run(tmp_path / "r", SEED + [noisy, virtual, hot]))
    s = model["summary"]
    assert s["counts"] == [("ok", 9), ("unsupported", 1), ("failed", 1)]
    assert s["devices"] == 2 and s["notes"] == ["a note"]
    text = " | ".join(w["text"] for w in s["warnings"])
    assert "1 failed records on R5CT01" in text
    assert "measurements were noisy (cv 0.31)" in text and "ran throttled" in text
    assert "ran while charging" in text and "virtual device(s) (emu-1)" in text
    devices = {d["id"]: d for d in model["devices"]}
    assert devices["R5CT01"]["soc"] == "Snapdragon 720G"
    assert devices["R5CT01"]["abis"] == "arm64-v8a, armeabi-v7a" and devices["emu-1"]["virtual"]
    assert devices["R5CT01"]["records"] == 10 and devices["R5CT01"]["ok"] == 8


def _around(median, seed, n=40):
    """Per-iteration samples, CV 2%: what a host cell records."""
    return list(median * np.random.default_rng(seed).lognormal(0.0, 0.02, n))


def test_regressions_against_a_baseline(tmp_path):
    """The gate's verdicts (results/gate.py, tested there) in the report: worst first."""
    now = [rec("fp32", "tflite", 1245, samples=_around(1245, 1)),
           rec("int8", "tflite", 680, samples=_around(680, 2)),
           rec("int8", "ncnn", 600, samples=_around(600, 3)),
           rec("fp32", "ncnn", 1100, samples=_around(1100, 4)),
           rec("fp32", "tflite", status="failed", reason="SIGILL in benchmark_model", abi="armeabi-v7a")]
    base = [rec("fp32", "tflite", 1245, samples=_around(1245, 5)),
            rec("int8", "tflite", 600, samples=_around(600, 6)),
            rec("int8", "ncnn", 700, samples=_around(700, 7)), rec("int8", "mnn", 500, samples=_around(500, 8)),
            rec("fp32", "tflite", 1300, abi="armeabi-v7a", samples=_around(1300, 9))]
    model = build_model(write_run(tmp_path / "now", now), write_run(tmp_path / "base", base))
    verdicts = {(r["variant"], r["engine"], r["abi"]): r["verdict"] for r in rows(model, "regressions")}
    assert verdicts == {("int8", "tflite", "arm64-v8a"): "regressed",
                        ("fp32", "tflite", "armeabi-v7a"): "broke",
                        ("int8", "ncnn", "arm64-v8a"): "improved",
                        ("fp32", "tflite", "arm64-v8a"): "unchanged",
                        ("fp32", "ncnn", "arm64-v8a"): "new",
                        ("int8", "mnn", "arm64-v8a"): "missing"}
    slower = rows(model, "regressions", verdict="regressed")[0]
    assert slower["change"] == pytest.approx(680 / 600 - 1, abs=0.01)
    assert slower["ci_low"] < slower["change"] < slower["ci_high"] and slower["metric"] == "latency"
    assert model["summary"]["regressions"] == 2 and model["regressions"]["baseline"] == "base"
    assert [r["verdict"] for r in rows(model, "regressions")][:2] == ["regressed", "broke"]


def test_infra_error_is_not_a_regression(tmp_path):
    base = [rec("fp32", "tflite", 100)]
    now = [rec("fp32", "tflite", status="infra_error", reason="device offline")]
    model = build_model(write_run(tmp_path / "now", now), write_run(tmp_path / "base", base))
    assert [r["verdict"] for r in rows(model, "regressions")] == ["infra_error"]
    assert model["summary"]["regressions"] == 0


def test_governor_sweep_and_pareto_front(tmp_path):
    sweep = [rec("fp32", "tflite", 100, governor="performance", power_mw=3000),   # 300 mJ
             rec("fp32", "tflite", 130, governor="schedutil", power_mw=2000),     # 260 mJ
             rec("fp32", "tflite", 200, governor="powersave", power_mw=1400),     # 280 mJ: dominated
             rec("int8", "tflite", 60, governor="performance", power_mw=3000)]    # 180 mJ
    model = build_model(write_run(tmp_path / "r", sweep))
    assert model["governor"]["present"] and len(model["governor"]["charts"]) == 1
    front = {(r["variant"], r["governor"]): r["pareto"] for r in rows(model, "governor")}
    assert front == {("int8", "performance"): "yes", ("fp32", "performance"): "",
                     ("fp32", "schedutil"): "", ("fp32", "powersave"): ""}
    assert "<svg" in str(model["governor"]["charts"][0])


def test_no_sweep_is_one_line(seed_model, tmp_path):
    model = build_model(write_run(tmp_path / "r", [rec(median=5), rec("int8", median=4)]))
    assert model["governor"] == {"present": False, "note": "no governor sweep in this run"}
    assert "governor" not in model["tables"]


def test_traces_render_when_present(tmp_path):
    trace = [{"t_s": t, "temp_c": 40 + t, "freq_mhz": 2000 - 10 * t, "power_mw": 900} for t in range(30)]
    r = rec(median=10, throttled=True)
    r["extra"] = {"trace": trace}
    model = build_model(write_run(tmp_path / "r", [r, rec("int8", median=5)]))
    assert model["traces"]["total"] == 1 and len(model["traces"]["charts"]) == 1
    assert "temperature °C: 40 – 69" in str(model["traces"]["charts"][0])


def test_odd_records_are_tolerated(tmp_path):
    odd = rec(median=10)
    odd["engine"]["version"] = 3                   # a number where text is expected
    odd["conditions"]["temp_c"] = "hot"            # text where a number is expected
    odd["device"] = {"name": "bare"}               # no id, no ABIs
    odd["memory"] = None
    sparse = {"run_id": "r", "test_id": "t", "suite": "latency", "status": "ok",
              "device": {"id": "d2"}, "model": {"name": "m"}, "variant": {"id": "fp32"},
              "engine": {"name": "e"}, "latency": {"median_ms": 3.0}, "samples_ms": [1, "x", 3]}
    model = build_model(write_run(tmp_path / "r", [odd, sparse], raw_lines=['{"torn": ']))
    cells = {r["device"]: r for r in rows(model, "latency")}
    assert cells["bare"]["engine_version"] == "3" and cells["bare"]["median_ms"] == 10
    assert cells["d2"]["median_ms"] == 3 and cells["d2"]["box"][2] == 2  # samples 1 and 3 kept
    assert model["summary"]["records"] == 2        # the torn last line is skipped


def test_damaged_or_newer_files_give_one_clear_message(tmp_path):
    bad = write_run(tmp_path / "bad", [rec(median=1)], raw_lines=["not json", json.dumps(rec(median=2))])
    with pytest.raises(UsageError, match=r"line 2 is not a JSON record"):
        build_model(bad)
    newer = rec(median=1)
    newer["schema_version"] = 99
    with pytest.raises(UsageError, match="upgrade edgelab"):
        build_model(write_run(tmp_path / "new", [newer]))


def test_empty_and_unsupported_only_runs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "results.jsonl").write_text("")
    model = build_model(empty)
    assert model["summary"]["records"] == 0 and model["tables"]["latency"]["rows"] == []
    only = build_model(write_run(tmp_path / "u", [rec(status="unsupported", reason="no")]))
    assert only["summary"]["cells"] == 0 and only["compat"]["models"][0]["model"] == "det"


def test_numbers_are_json_clean(seed_model):
    text = json.dumps(seed_model["tables"], allow_nan=False)  # NaN would break JSON.parse
    assert not math.isnan(json.loads(text)["latency"]["rows"][0][7])
