"""Phone cells timed by the engines' own benchmark tools (issue 16 item 1): their records hold the
tool's summary (mean/min/max, std or percentiles when printed), no samples and no median. They
must be in every table with the tool's mean, labelled as such, never pooled as samples, and
judged noisy by the host's rules from the figures the tool printed.

Records come from real captured tool outputs through run_with_tool and CellRunner._emit_ok
(phone_records.py), so they have exactly the shape a run writes.
"""
from __future__ import annotations

import pytest
from phone_records import Run, capture

from harness.report.model import build_model
from harness.report.summary import summary_lines

NCNN_855 = "benchncnn/snapdragon855plus_oneplus7t.txt"   # squeezenet 3.60/3.70/3.64, int8 3.71
NCNN_8GEN2 = "benchncnn/snapdragon8gen2_sm8550.txt"     # squeezenet 8.44/8.51/8.47, 4 loops
MNN = "mnn_benchmark/kirin960_huawei_p10_20190218_cpu.txt"   # SqueezeNetV1.0 avg 43.901
TFLITE = "tflite_benchmark_model/snapdragon888_xiaomi_mi11_yolov5s_fp32_cpu_4threads.txt"
ORT = "onnxruntime_perf_test/riscv64_spacemit_k1_yolov8n_spacemit_ep_percentiles.txt"


def rows(report, name, **match):
    spec = report["tables"][name]
    keys = [c["key"] for c in spec["columns"]]
    found = [dict(zip(keys, r)) for r in spec["rows"]]
    return [r for r in found if all(r.get(k) == v for k, v in match.items())]


def first_run(relative: str) -> str:
    """A benchncnn capture holds several runs (threads, GPU); the parser reports the last one."""
    lines = capture(relative).splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if "./benchncnn " in line]
    return "".join(lines[:starts[1]] if len(starts) > 1 else lines)


def phone_run(tmp_path) -> Run:
    """One phone with four engines' tools on squeezenet fp32 (+ ncnn int8), and the host."""
    run = Run(tmp_path)
    run.phone("ncnn", run.artifact("sq", "fp32", "ncnn", "squeezenet.param"), first_run(NCNN_855))
    run.phone("ncnn", run.artifact("sq", "int8", "ncnn", "squeezenet_int8.param"), first_run(NCNN_855))
    run.phone("mnn", run.artifact("sq", "fp32", "mnn", "SqueezeNetV1.0.mnn"), capture(MNN))
    run.phone("tflite", run.artifact("sq", "fp32", "tflite", "sq.tflite"), capture(TFLITE))
    source = run.artifact("sq", "fp32", "onnxruntime", "sq.onnx")
    run.phone("onnxruntime", source, capture(ORT))
    run.host("onnxruntime", source, [10.0, 10.2, 10.1, 10.4, 9.9, 10.0], {"cosine": 1.0, "ok": True})
    return run


def test_phone_cells_are_in_every_table_with_the_tools_mean(tmp_path):
    model = build_model(phone_run(tmp_path).dir)
    ncnn = rows(model, "latency", device="R5CT01", engine="ncnn", variant="fp32")[0]
    assert (ncnn["central_ms"], ncnn["central_kind"]) == (3.64, "tool mean")
    assert ncnn["summary_by"] == "summary of 8 iterations by benchncnn"
    assert ncnn["median_ms"] is None and ncnn["ci95_low_ms"] is None and ncnn["ci95_high_ms"] is None
    assert ncnn["box"][:5] == [3.6, None, 3.64, None, 3.7] and ncnn["box"][7] == 1  # min/mean/max
    tflite = rows(model, "latency", device="R5CT01", engine="tflite")[0]
    assert (tflite["central_ms"], tflite["std_ms"]) == (249.68, 1.442)
    assert tflite["cv"] == pytest.approx(1.442 / 249.684, rel=1e-3)
    ort = rows(model, "latency", device="R5CT01", engine="onnxruntime")[0]
    # the tool printed a p50 too, but phone cells compare mean with mean
    assert (ort["central_ms"], ort["central_kind"], ort["median_ms"]) == (82.338, "tool mean", 82.61)
    host = rows(model, "latency", device="host")[0]
    assert (host["central_ms"], host["central_kind"], host["box"][7]) == (10.05, "median", 0)

    int8 = rows(model, "variants", device="R5CT01", engine="ncnn", variant="int8")[0]
    assert (int8["central_ms"], int8["ref_central_ms"], int8["central_kind"]) == (3.71, 3.64, "tool mean")
    assert int8["speedup"] == pytest.approx(3.64 / 3.71, rel=1e-4)

    side = rows(model, "engines", device="R5CT01", variant="fp32")[0]
    assert (side["engine:ncnn"], side["engine:mnn"], side["engine:tflite"],
            side["engine:onnxruntime"]) == (3.64, 43.901, 249.68, 82.338)
    assert (side["engine"], side["central_kind"]) == ("ncnn", "tool mean")
    assert side["margin"] == pytest.approx(43.901 / 3.64, rel=1e-4)
    assert side["clear"] == "no CI (tool summaries)"          # not "only one", not "within noise"

    best = rows(model, "best", device="R5CT01")[0]
    assert (best["variant"], best["engine"], best["central_ms"], best["central_kind"]) == \
        ("fp32", "ncnn", 3.64, "tool mean")
    assert best["runner_up"] == "int8 ncnn" and best["clear"] == "no CI (tool summaries)"


def test_tool_means_pool_by_iterations_and_never_get_a_ci(tmp_path):
    run = Run(tmp_path)
    fp32 = run.artifact("sq", "fp32", "ncnn", "squeezenet.param")
    for _ in range(3):  # six repeats: enough for a CI of medians, but these are means
        run.phone("ncnn", fp32, first_run(NCNN_855))    # 8 iterations, mean 3.64
        run.phone("ncnn", fp32, first_run(NCNN_8GEN2))  # 4 iterations, mean 8.47
    cell = rows(build_model(run.dir), "latency")[0]
    assert cell["records"] == 6 and cell["n"] == 36
    assert cell["central_ms"] == pytest.approx((3 * 8 * 3.64 + 3 * 4 * 8.47) / 36, rel=1e-4)  # 5.25
    assert cell["ci95_low_ms"] is None and cell["ci95_high_ms"] is None
    assert cell["box"][:5] == [3.6, None, 5.25, None, 8.51]  # min of mins, mean, max of maxes


def test_noise_rules_use_the_tools_own_spread(tmp_path):
    run = Run(tmp_path)
    tflite = capture(TFLITE)
    wide = tflite.replace("std=1442", "std=80000")   # cv 0.32 > 0.15
    tail = capture(ORT).replace("P90 Latency: 0.0838817 s", "P90 Latency: 0.1100000 s")  # 1.33
    records = {
        "tflite calm": run.phone("tflite", run.artifact("a", "fp32", "tflite", "a.tflite"), tflite),
        "tflite wide": run.phone("tflite", run.artifact("b", "fp32", "tflite", "b.tflite"), wide),
        "ort tail": run.phone("onnxruntime", run.artifact("c", "fp32", "onnxruntime", "c.onnx"), tail),
        "ort calm": run.phone("onnxruntime", run.artifact("d", "fp32", "onnxruntime", "d.onnx"),
                              capture(ORT)),
        # benchncnn prints min/max/avg only: no std, no percentile, so no spread rule applies
        "ncnn": run.phone("ncnn", run.artifact("e", "fp32", "ncnn", "kirin.param"),
                          first_run("benchncnn/kirin970.txt").replace("squeezenet ", "kirin ")),
    }
    noise = {name: (r.conditions["noisy"], r.conditions["noise_reason"], r.latency["cv"])
             for name, r in records.items()}
    assert noise["tflite calm"][:2] == (False, None)
    assert noise["tflite wide"] == (True, "cv 0.32", pytest.approx(80 / 249.684, rel=1e-4))
    assert noise["ort tail"][:2] == (True, "p90/median 1.33")
    assert noise["ort calm"][:2] == (False, None) and noise["ncnn"] == (False, None, None)
    model = build_model(run.dir)
    assert "noisy" in rows(model, "latency", model="b")[0]["flags"]
    assert "noisy" not in rows(model, "latency", model="a")[0]["flags"]


def test_terminal_summary_marks_the_tools_mean(tmp_path):
    run = phone_run(tmp_path)
    text = "\n".join(summary_lines(run.store.records(), build_model(run.dir)))
    lines = text.splitlines()
    ncnn = next(line for line in lines if line.startswith("R5CT01") and "ncnn" in line and "fp32" in line)
    assert "3.64 (mean)" in ncnn and "  ok  " in ncnn
    ort = next(line for line in lines if line.startswith("R5CT01") and "onnxruntime" in line)
    assert "82.34 (mean)" in ort and "82.61" not in ort   # the mean, as in the tables
    host = next(line for line in lines if line.startswith("host"))
    assert "10.05" in host and "(mean)" not in host
    assert "(mean): the phone tool's own mean (benchmark.out, benchmark_model, benchncnn, " \
           "onnxruntime_perf_test print a summary, not samples): no median, no CI" in text
    variants = lines[lines.index("Variants vs fp32"):lines.index("Engines side by side")]
    assert any("R5CT01" in line and "int8" in line and "tool mean" in line and "0.98x" in line
               for line in variants)
    engines = lines[lines.index("Engines side by side"):]
    assert any("R5CT01" in line and "no CI (tool summaries)" in line for line in engines)


def test_regressions_of_tool_cells_show_the_change_not_a_verdict(tmp_path):
    base = Run(tmp_path, "base")
    now = Run(tmp_path, "now")
    base.phone("ncnn", base.artifact("sq", "fp32", "ncnn", "squeezenet.param"), first_run(NCNN_855))
    slower = first_run(NCNN_855).replace("avg =    3.64", "avg =    4.00")
    now.phone("ncnn", now.artifact("sq", "fp32", "ncnn", "squeezenet.param"), slower)
    (row,) = rows(build_model(now.dir, base.dir), "regressions")
    # one printed mean per run is nothing to rank: the change is shown, never judged
    assert (row["verdict"], row["central_ms_base"], row["central_ms"]) == ("inconclusive", 3.64, 4.0)
    assert row["change"] == pytest.approx(4.0 / 3.64 - 1, rel=1e-4) and row["p_value"] == ""
    assert row["central_kind"] == "tool mean"
    assert row["note"] == ("one tool summary (mean) per run (1 vs 1 records): nothing to rank; "
                           "use --repeats")


def test_six_declared_repeats_of_a_tool_get_a_ci_of_their_means(tmp_path):
    """--repeats K >= 6 of one tool cell (extra.repeat, equal iterations): K printed means of K
    independent runs are a distribution of means; the CI is the order-statistic interval of the
    median repeat mean, the cell's figure still the pooled mean. Never an interval of iterations."""
    run = Run(tmp_path)
    fp32 = run.artifact("sq", "fp32", "ncnn", "squeezenet.param")
    means = [3.64, 3.61, 3.66, 3.70, 3.58, 3.63]
    line = "squeezenet  min =    3.60  max =    3.70  avg =    3.64"
    for index, mean in enumerate(means):
        run.runner._repeat = {"index": index, "of": len(means)}
        out = first_run(NCNN_855).replace(line, line.replace("avg =    3.64", f"avg =    {mean:.2f}"))
        record = run.phone("ncnn", fp32, out)
        assert record.extra["repeat"] == {"index": index, "of": 6}
    run.runner._repeat = None
    cell = rows(build_model(run.dir), "latency")[0]
    assert cell["records"] == 6 and cell["central_kind"] == "tool mean"
    assert cell["central_ms"] == pytest.approx(sum(means) / 6, rel=1e-3)
    # the distribution-free 95% interval of a median from 6 values: their min and max
    assert (cell["ci95_low_ms"], cell["ci95_high_ms"]) == (min(means), max(means))
    assert cell["box"][1] is None  # still no quartiles: means are not iterations
