"""The comparison charts (report/charts.py, svg_bars.py) on small hand-written runs: one chart
pair per model and device, bars in variant groups with their whiskers, tool means labelled,
fidelity failures marked and kept off the Pareto front. The browser test checks they render."""
from __future__ import annotations

import re

from test_report_model import PHONE, rec, write_run

from harness.report.model import build_model

HOST = {"id": "host", "kind": "host", "model": "x86_64", "virtual": False, "abis": [],
        "arch": "x86_64", "os": "Linux"}
DRIFT = {"cosine": 0.91, "ok": False}


def _records():
    host = [rec("fp32", "tflite", 12.0, (11.5, 12.5), device=HOST, governor="default"),
            rec("fp32", "ncnn", 10.0, (9.8, 10.2), device=HOST, governor="default"),
            rec("int8", "tflite", 6.0, (5.9, 6.1), device=HOST, governor="default",
                fidelity={"cosine": 0.999, "ok": True}),
            rec("int8", "ncnn", 4.0, (3.9, 4.1), device=HOST, governor="default", fidelity=DRIFT,
                status="ok")]
    phone = rec("fp32", "tflite", 30.0, governor="default")
    phone["latency"] = {"n": 50, "mean_ms": 30.0, "min_ms": 27.0, "max_ms": 36.0,
                        "median_ms": None, "summary_only": True}
    phone["samples_ms"] = [30.0]
    phone["extra"] = {"tool": {"file": "benchmark_model"}, "summary_only": True}
    return host + [phone]


def test_one_chart_pair_per_model_and_device(tmp_path):
    charts = build_model(write_run(tmp_path / "run", _records()))["charts"]
    assert charts["present"] and charts["legend"] == ["ncnn", "tflite"]
    keys = [f["key"] for f in charts["figures"]]
    assert keys == ["det on host (x86_64)", "det on R5CT01 (arm64-v8a)"], keys
    host = charts["figures"][0]
    bars = str(host["latency"])
    assert bars.count('<rect class="bar ') == 4
    assert re.findall(r'class="tick group-label"[^>]*>([^<]+)<', bars) == ["fp32", "int8"]
    assert bars.count('class="whisker"') == 4           # every host median has its CI95
    assert "int8 ncnn: 4 ms (median), CI95 3.9–4.1 ms; outputs: drifted" in bars
    assert bars.count('class="bar-fail"') == 1          # ✗ over the drifted int8 ncnn bar
    assert 'class="bar s0 failed"' in bars
    assert "mean-mark" not in bars and "tool mean" not in bars   # host figures are medians


def test_tool_mean_bars_are_labelled_with_min_max_whiskers(tmp_path):
    phone = build_model(write_run(tmp_path / "run", _records()))["charts"]["figures"][1]
    bars = str(phone["latency"])
    assert 'class="bar s1 tool"' in bars and 'class="whisker tool"' in bars
    assert bars.count('class="mean-mark"') == 1 and ">◆ tool mean · whiskers: min–max<" in bars
    assert "min–max 27–36 ms" in bars and "(tool mean)" in bars
    assert phone["pareto"] is None                      # one point is no trade-off


def test_size_latency_pareto_marks_failures_and_keeps_them_off_the_front(tmp_path):
    host = build_model(write_run(tmp_path / "run", _records()))["charts"]["figures"][0]
    svg = str(host["pareto"])
    # ncnn int8 (2.5 MB, 4 ms) would be on the front (the fastest) but drifted: a cross, not a
    # point, and the front is tflite int8 (2 MB, 6 ms) alone, which beats both fp32 cells
    assert svg.count('class="pt-fail') == 1 and "outputs failed their check" in svg
    fronts = re.findall(r'<circle class="pt s\d front"[^>]*><title>([^<]+)<', svg)
    assert fronts == ["int8 tflite: 2 MB, 6 ms (median) (Pareto front)"]
    assert svg.count("<circle") == 3 and 'class="pareto"' not in svg  # one point: no step line


def test_hostile_names_are_escaped_in_charts(tmp_path):
    records = _records()
    for r in records:
        r["model"]["name"] = "<script>x</script>"
    figure = build_model(write_run(tmp_path / "run", records))["charts"]["figures"][0]
    assert "<script>" not in str(figure["latency"]) + str(figure["pareto"])
    assert "&lt;script&gt;" in str(figure["latency"])


def test_no_latency_no_charts(tmp_path):
    charts = build_model(write_run(tmp_path / "run", [
        rec(status="unsupported", reason="no converter", engine="tflite")]))["charts"]
    assert charts == {"present": False, "figures": []}


def test_a_far_tool_max_is_clipped_with_a_caret_not_squashing_the_bars():
    from harness.report.svg_bars import grouped_bars

    bars = [{"group": "fp32", "series": "ncnn", "value": 2.0, "low": 1.5, "high": 90.0,
             "tool": True, "failed": False, "label": "fp32 ncnn"},
            {"group": "fp32", "series": "mnn", "value": 2.5, "low": 2.0, "high": 3.0,
             "tool": True, "failed": False, "label": "fp32 mnn"}]
    svg = str(grouped_bars(["fp32"], ["mnn", "ncnn"], bars, "t", {"mnn": 0, "ncnn": 1}))
    ticks = [float(t) for t in re.findall(r'class="tick" x="[\d.]+" y="[\d.]+" '
                                         r'text-anchor="end">([\d.]+)<', svg)]
    assert max(ticks) < 10                               # the axis fits the bars, not the 90
    assert svg.count('class="whisker-clip"') == 1        # only the clipped one has a caret
