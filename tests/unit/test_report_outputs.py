"""What the report writes: report.html (escaping, CSP, one file), results.csv, JUnit
properties, the GitHub step summary, and the ``report`` command."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import subprocess
import sys

from harness.report.flat import to_csv, write_csv
from harness.report.junit import junit_properties
from harness.report.markdown import append_step_summary, markdown_summary, md
from harness.report.model import build_model
from harness.report.write import embed_json, render, write_report
from harness.results.schema import Measurement
from tests.conftest import REPO
from tests.unit.test_report_model import SEED, rec, write_run

XSS_MODEL = "<script>alert(1)</script>"
XSS_DEVICE = "</script><img src=x onerror=alert(1)>"


def hostile_run(tmp_path):
    device = {"id": "evil-1", "kind": "android", "model": XSS_DEVICE, "abis": ["arm64-v8a"]}
    records = [rec("fp32", "tflite", 12, device=device, model=XSS_MODEL),
               rec("int8", "tflite", status="unsupported", device=device, model=XSS_MODEL,
                   reason="needs <b>bold</b> & \"quotes\"")]
    return write_run(tmp_path / "evil", records,
                     info={"run_id": "evil", "environment": {"host": XSS_DEVICE}, "notes": [XSS_MODEL]})


def test_untrusted_text_never_becomes_markup(tmp_path):
    html = render(build_model(hostile_run(tmp_path)))
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html          # shown as text
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # exactly our two script elements: the data block and the page script
    assert html.count("<script") == 2 and html.count("</script>") == 2
    data = re.search(r'<script id="edgelab-data" type="application/json">(.*?)</script>', html, re.S)
    assert json.loads(data.group(1))["latency"]["rows"][0][2] == XSS_MODEL


def test_page_script_is_the_only_one_the_csp_allows(tmp_path):
    html = render(build_model(hostile_run(tmp_path)))
    script = re.findall(r"<script>(.*?)</script>", html, re.S)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline'; img" not in csp.split("script-src")[1]


def test_report_is_one_self_contained_file(tmp_path):
    out = write_report(write_run(tmp_path / "r", SEED))
    html = out.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)     # nothing fetched from anywhere
    assert not re.search(r'<link\b', html)
    for section in ("summary", "best", "devices", "latency", "variants", "engines", "compat",
                    "governor", "traces", "regressions", "environment"):
        assert f'id="{section}"' in html


def test_embed_json_escapes_everything_that_could_end_a_script():
    text = embed_json({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_csv_flattens_and_defuses_formulas(tmp_path):
    evil = rec("fp32", "tflite", 5, device={"id": "=HYPERLINK(\"x\")", "abis": ["a", "b"]})
    text = to_csv([evil, rec("int8", "ncnn", 7)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["device.id"] == "'=HYPERLINK(\"x\")" and rows[0]["device.abis"] == "a;b"
    assert rows[1]["latency.median_ms"] == "7" and rows[1]["engine.name"] == "ncnn"
    assert "samples_ms" not in rows[0] and list(rows[0])[:4] == ["run_id", "test_id", "suite", "status"]
    out = write_csv(write_run(tmp_path / "r", SEED))
    assert len(list(csv.DictReader(out.open()))) == len(SEED)


def test_junit_properties_from_a_measurement():
    m = Measurement.from_dict(rec("int8", "tflite", 680, (670, 690), power_mw=1500,
                                  fidelity={"cosine": 0.998, "ok": True}, noisy=False))
    props = dict(junit_properties(m))
    assert props["edgelab.status"] == "ok" and props["edgelab.device"] == "R5CT01"
    assert props["edgelab.latency.median_ms"] == "680" and props["edgelab.latency.ci95_high_ms"] == "690"
    assert props["edgelab.power.mean_mw"] == "1500" and props["edgelab.fidelity.ok"] == "true"
    assert props["edgelab.noisy"] == "false" and "edgelab.reason" not in props
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in junit_properties(m))
    unsupported = dict(junit_properties(rec(status="unsupported", reason="no ABI")))
    assert unsupported["edgelab.reason"] == "no ABI" and "edgelab.latency.median_ms" not in unsupported


def test_markdown_summary_escapes_and_appends(tmp_path, monkeypatch):
    model = build_model(hostile_run(tmp_path))
    text = markdown_summary(model, "reports/evil/report.html")
    assert "<script>" not in text and "<img" not in text and "&lt;script&gt;" in text
    assert md("a|b\n*c*") == "a\\|b \\*c\\*"
    assert append_step_summary(model, "x") is None                # not on GitHub Actions
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    append_step_summary(build_model(write_run(tmp_path / "r", SEED)), "report.html")
    written = target.read_text()
    assert written.startswith("earlier step\n") and "### What to ship" in written
    assert "| det | R5CT01 | arm64-v8a | int8 | ncnn | 600.000 | median | 1.85× | yes | ok |" in written


def test_report_command_with_baseline(tmp_path):
    slower = [680 + i % 7 for i in range(30)]                    # samples: the gate ranks them
    now = write_run(tmp_path / "now", SEED + [rec("int8", "mnn", 680, samples=slower)])
    base = write_run(tmp_path / "base", [rec("int8", "mnn", 600, samples=[s - 80 for s in slower])])
    out = tmp_path / "out.html"
    proc = subprocess.run([sys.executable, "-m", "harness", "report", str(now), "--baseline", str(base),
                           "-o", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1 regressions vs base" in proc.stdout and out.is_file()
    bad = subprocess.run([sys.executable, "-m", "harness", "report", str(now), "--baseline",
                          str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--baseline" in bad.stderr and "Traceback" not in bad.stderr
