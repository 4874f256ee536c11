"""Outputs not checked is not outputs fine (issue 16 item 2). Phone tools feed their own inputs, so
phone cells have no fidelity check; the report carries the host's verdict for the very same file
(same variant.sha256, same run), labelled as the host's, shows "output not checked" otherwise,
and a cell that failed now is failed in the regression table whatever its latency numbers say.
"""
from __future__ import annotations

from phone_records import Run, capture

from harness.report.model import build_model
from harness.report.write import render

MNN = "mnn_benchmark/kirin960_huawei_p10_20190218_cpu.txt"  # mobilenet-v1 41.547, V2 24.489
NCNN = "benchncnn/snapdragon855plus_oneplus7t.txt"          # vgg16 60.19 in the first run
DRIFT = {"cosine": 0.9467, "top1_agreement": 1.0, "ok": False,
         "reason": "output drift: cosine 0.9467 < 0.99"}
FINE = {"cosine": 0.9999, "top1_agreement": 1.0, "ok": True}


def rows(report, name, **match):
    spec = report["tables"][name]
    keys = [c["key"] for c in spec["columns"]]
    found = [dict(zip(keys, r)) for r in spec["rows"]]
    return [r for r in found if all(r.get(k) == v for k, v in match.items())]


def compat(report) -> dict[tuple[str, str, str], dict]:
    """(device, engine, variant) -> the compat matrix cell."""
    return {(row["device"], engine, variant): cell
            for m in report["compat"]["models"] for row in m["rows"]
            for (engine, variant), cell in zip(_columns(m), row["cells"]) if cell}


def _columns(matrix) -> list[tuple[str, str]]:
    engines = [e["name"] for e in matrix["engines"] for _ in range(e["span"])]  # header spans
    return list(zip(engines, matrix["variants"]))


def mixed_run(tmp_path, name="run") -> Run:
    """The same MNN files on the host (fp32 fine, int8 drifted) and the phone; an ncnn file only
    the phone ran."""
    run = Run(tmp_path, name)
    fp32 = run.artifact("cls", "fp32", "mnn", "mobilenet-v1-1.0.mnn", content="mnn fp32 bytes")
    int8 = run.artifact("cls", "int8", "mnn", "MobileNetV2_224.mnn", content="mnn int8 bytes")
    run.host("mnn", fp32, [1.2, 1.3, 1.25, 1.26, 1.24, 1.3], FINE)
    run.host("mnn", int8, [5.5, 5.6, 5.4, 5.5, 5.7, 5.5], DRIFT)
    run.phone("mnn", fp32, capture(MNN))
    run.phone("mnn", int8, capture(MNN))
    ncnn_text = "".join(capture(NCNN).splitlines(keepends=True)[:42])  # the first run only
    run.phone("ncnn", run.artifact("cls", "fp32", "ncnn", "vgg16.param"), ncnn_text)
    return run


def test_compat_carries_the_hosts_verdict_for_the_same_file_and_says_not_checked(tmp_path):
    run = mixed_run(tmp_path)
    records = run.store.records()
    sha = {r.variant["id"]: r.variant["sha256"] for r in records if r.engine["name"] == "mnn"}
    cells = compat(build_model(run.dir))

    drifted = cells[("R5CT01", "mnn", "int8")]
    assert (drifted["status"], drifted["symbol"], drifted["mark"]) == ("failed", "✗", "h")
    assert (f"outputs checked on host (same file sha256 {sha['int8'][:12]}…) failed: "
            f"output drift: cosine 0.9467 < 0.99") in drifted["text"]
    assert drifted["label"].startswith("outputs failed on host")
    fine = cells[("R5CT01", "mnn", "fp32")]
    assert (fine["status"], fine["symbol"], fine["mark"]) == ("ok", "✓", "h")
    assert f"outputs checked on host (same file sha256 {sha['fp32'][:12]}…): ok" in fine["text"]
    unchecked = cells[("R5CT01", "ncnn", "fp32")]
    assert (unchecked["status"], unchecked["symbol"], unchecked["mark"]) == ("unchecked", "?", "")
    assert "output not checked" in unchecked["text"]
    host = cells[("host", "mnn", "fp32")]
    assert (host["status"], host["symbol"], host["mark"]) == ("ok", "✓", "")
    assert "runs, outputs checked" in host["text"]
    assert cells[("host", "mnn", "int8")]["status"] == "failed"


def test_tables_use_the_carried_verdict(tmp_path):
    model = build_model(mixed_run(tmp_path).dir)
    outputs = {(r["device"], r["engine"], r["variant"]): (r["outputs"], "fidelity" in r["flags"])
               for r in rows(model, "latency")}
    assert outputs[("R5CT01", "mnn", "int8")] == ("drifted on host (same file)", True)
    assert outputs[("R5CT01", "mnn", "fp32")] == ("ok on host (same file)", False)
    assert outputs[("R5CT01", "ncnn", "fp32")] == ("not checked", False)
    assert outputs[("host", "mnn", "int8")] == ("drifted", True)
    # the int8 file is the phone's fastest (24.5 ms), but its outputs failed on the host
    (best,) = rows(model, "best", device="R5CT01")
    assert (best["variant"], best["engine"], best["fidelity"]) == ("fp32", "mnn", "ok on host (same file)")
    assert best["runner_up"] == "fp32 ncnn"


def test_a_rebuilt_report_without_the_host_records_says_not_checked(tmp_path):
    run = mixed_run(tmp_path)
    phone_only = tmp_path / "phone-only"
    phone_only.mkdir()
    lines = (run.dir / "results.jsonl").read_text().splitlines(keepends=True)
    (phone_only / "results.jsonl").write_text("".join(line for line in lines if '"kind":"host"' not in line))
    cells = compat(build_model(phone_only))
    assert {c["symbol"] for c in cells.values()} == {"?"}
    assert all("output not checked" in c["label"] for c in cells.values())


def test_failed_cells_are_failed_in_the_regression_table(tmp_path):
    base = Run(tmp_path, "base")
    now = Run(tmp_path, "now")
    for run, int8_fidelity, int8_ms in ((base, FINE, 9.0), (now, DRIFT, 5.5)):
        int8 = run.artifact("cls", "int8", "mnn", "m.mnn", content="int8")
        run.host("mnn", int8, [int8_ms + d for d in (0, 0.1, -0.1, 0.05, 0, 0.02)], int8_fidelity)
        fp16 = run.artifact("cls", "fp16", "mnn", "m.mnn", content="fp16")
        run.host("mnn", fp16, [3.0, 3.1, 2.9, 3.0, 3.05, 3.0], DRIFT)   # drifted both times
        fp32 = run.artifact("cls", "fp32", "onnxruntime", "m.onnx", content="fp32")
        run.host("onnxruntime", fp32, [2.0, 2.1, 1.9, 2.0, 2.05, 2.0], FINE)
    now.host_failed("onnxruntime", now.artifact("cls", "fp32", "onnxruntime", "m.onnx", content="fp32"),
                    "engine crashed: SIGSEGV")              # a repeat that broke
    regressions = rows(build_model(now.dir, base.dir), "regressions")
    verdicts = sorted((r["variant"], r["engine"], r["verdict"], r["note"]) for r in regressions)
    # one row per cell: faster int8 numbers are no "improvement" when its outputs drifted now
    assert verdicts == [("fp16", "mnn", "failed", "output drift: cosine 0.9467 < 0.99"),
                        ("fp32", "onnxruntime", "broke", "engine crashed: SIGSEGV"),
                        ("int8", "mnn", "broke", "output drift: cosine 0.9467 < 0.99")]


def test_page_legend_and_marks(tmp_path):
    html = render(build_model(mixed_run(tmp_path).dir))
    assert '<span class="st st-unchecked"' in html and "ran, output not checked" in html
    assert "outputs checked on host (same file)" in html and "outputs failed on host (same file)" in html
    assert 'class="st st-failed carried"' in html and '<sup aria-hidden="true">h</sup>' in html
    assert '<span class="sr"> output not checked</span>' in html


def test_a_timed_out_cell_reads_as_a_timeout_not_as_an_outputs_finding(tmp_path):
    base = Run(tmp_path, "base")
    now = Run(tmp_path, "now")
    base.host("onnxruntime", base.artifact("cls", "fp32", "onnxruntime", "m.onnx", content="fp32"),
              [2.0, 2.1, 1.9, 2.0, 2.05, 2.0], FINE)
    reason = ("timeout: the engine child running m.onnx did not finish within 60 s; killed by "
              "the host")
    now.host_failed("onnxruntime", now.artifact("cls", "fp32", "onnxruntime", "m.onnx",
                                                content="fp32"), reason)
    model = build_model(now.dir, base.dir)
    [row] = rows(model, "regressions")
    assert (row["verdict"], row["note"]) == ("broke", reason)  # ok before, hangs now
    [cell] = compat(model).values()
    assert cell["symbol"] == "✗" and cell["label"] == "timed out" and "drift" not in cell["text"]
    warning = [w["text"] for w in model["summary"]["warnings"] if "failed records" in w["text"]]
    assert warning and "1 of them timed out" in warning[0]
