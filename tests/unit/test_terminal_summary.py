"""The end-of-session text: a row per measured cell, unsupported cells counted by reason, and
the seed tables (variants vs fp32, engines side by side) from the report model."""
from harness.report.model import build_model
from harness.report.summary import summary_lines
from harness.results.schema import Measurement
from harness.results.store import RunStore

HOST = {"id": "host", "kind": "host", "abis": ["x86_64"]}


def rec(variant, engine, status="ok", reason=None, median=10.0, size=1000, fidelity=None):
    lat = None
    if status == "ok" or fidelity:
        lat = {"n": 3, "min_ms": median - 1, "max_ms": median + 1, "median_ms": median,
               "mean_ms": median, "p90_ms": median + 0.5, "p99_ms": median + 1, "std_ms": 0.5,
               "ci95_low_ms": median - 1, "ci95_high_ms": median + 1, "iqr_ms": 0.5, "cv": 0.05}
    return Measurement(run_id="r", test_id=f"t-{variant}-{engine}", suite="latency", status=status,
                       reason=reason, device=HOST, model={"name": "cls", "task": "classification"},
                       variant={"id": variant, "bytes": size}, engine={"name": engine},
                       latency=lat, samples_ms=(median,) * 3 if lat else (), fidelity=fidelity)


def test_summary_groups_unsupported_and_prints_seed_tables(tmp_path):
    records = [
        rec("fp32", "onnxruntime", median=20.0, size=4000),
        rec("int8", "onnxruntime", median=10.0, size=1000,
            fidelity={"cosine": 0.999, "top1_agreement": 1.0, "ok": True}),
        rec("int8", "mnn", status="failed", reason="output drift: cosine 0.9 < 0.99", median=5.0,
            size=900, fidelity={"cosine": 0.9, "top1_agreement": 1.0, "ok": False}),
        rec("fp32", "mnn", median=16.0, size=4000),
        rec("fp16", "tflite", status="unsupported", reason="no fp16 tflite artifact of cls: no converter"),
        rec("fp32", "tflite", status="unsupported", reason="no fp32 tflite artifact of cls: no converter"),
    ]
    store = RunStore(tmp_path / "run").create()
    for r in records:
        store.append(r)
    text = "\n".join(summary_lines(records, build_model(store.run_dir)))
    assert "records: 3 ok, 2 unsupported, 1 failed" in text
    assert "2 x no converter" in text  # the two reasons differ only by variant: one group
    assert "Variants vs fp32" in text and "Engines side by side" in text
    int8_ort = next(line for line in text.splitlines()
                    if line.startswith("cls") and "onnxruntime" in line and "int8" in line)
    assert "4.00x" in int8_ort and "2.00x" in int8_ort  # 4x smaller, 2x faster than fp32
    # the drifted variant is in the seed table, marked as failing fidelity, not hidden
    mnn_int8 = next(line for line in text.splitlines()
                    if line.startswith("cls") and "mnn" in line and "int8" in line)
    assert "0.9000" in mnn_int8 and mnn_int8.rstrip().endswith("drifted")


def test_a_hung_device_is_one_line_not_a_row_per_cell():
    hung = {"id": "127.0.0.1:5555", "kind": "virtual-android"}
    why = "device 127.0.0.1:5555 stopped answering at 02:00:32 during getprop"
    records = [rec("fp32", "onnxruntime", median=2.0)]
    for engine in ("onnxruntime", "tflite", "ncnn", "mnn"):
        r = rec("fp32", engine, status="infra_error", reason=why)
        records.append(Measurement.from_dict({**r.to_dict(), "device": hung}))
    lines = summary_lines(records)
    assert f"infra_error: 4 cells on 127.0.0.1:5555: {why}" in lines
    assert not [line for line in lines if line.startswith("127.0.0.1:5555")]  # no per-cell rows
    assert any(line.startswith("host") and "onnxruntime" in line for line in lines)
    # two infra errors stay rows: a blip on one cell is worth seeing in place
    few = records[:3]
    assert sum(line.startswith("127.0.0.1:5555") for line in summary_lines(few)) == 2


def test_seed_tables_show_the_governor_in_a_sweep_and_percentages_as_percentages(tmp_path):
    def swept(variant, governor, median, energy_mj):
        r = rec(variant, "onnxruntime", median=median).to_dict()
        r["test_id"] += f"-{governor}"
        r["conditions"] = {"governor": governor, "governor_requested": governor}
        r["power"] = {"energy_per_inference_mj": energy_mj, "avg_power_mw": 1000.0}
        return Measurement.from_dict(r)

    records = [swept("fp32", "performance", 2.0, 2.0), swept("int8", "performance", 1.0, 3.58),
               swept("fp32", "powersave", 8.0, 0.5), swept("int8", "powersave", 4.0, 0.6)]
    store = RunStore(tmp_path / "run").create()
    for r in records:
        store.append(r)
    lines = summary_lines(records, build_model(store.run_dir))
    start = lines.index("Variants vs fp32")
    header = lines[start + 1]
    assert "governor" in header  # two governors: rows would look like duplicates without it
    int8_perf = next(line for line in lines[start:] if "int8" in line and "performance" in line)
    assert "+79.0%" in int8_perf  # 3.58 / 2.0 - 1, not "+0.8%"
    # one governor only: the column says nothing and stays out
    single = [r for r in records if r.conditions["governor"] == "performance"]
    other = RunStore(tmp_path / "single").create()
    for r in single:
        other.append(r)
    lines = summary_lines(single, build_model(other.run_dir))
    assert "governor" not in lines[lines.index("Variants vs fp32") + 1]


def test_a_missing_phone_tool_line_keeps_the_command_that_fixes_it():
    from harness.engines.tools import add_hint

    reason = f"no benchmark_model registered for tflite; {add_hint('tflite', 'arm64-v8a')}"
    records = [rec("fp32", "tflite", status="unsupported", reason=reason)]
    text = "\n".join(summary_lines(records))
    assert "run `python -m harness tools fetch tflite arm64-v8a`" in text, text
