"""report.html in real headless Chromium: built from a real small host run, opened from file://.

Checks what only a browser can: the page script runs without console errors, tables and charts
draw, sorting and filtering change what is shown, the compat reason appears on click, and
hostile device/model names stay text (no dialog, no element). Chromium is Debian's package
driven by Playwright (no browser download); CI installs it, elsewhere the test says it skips.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.models.fetch import default_cache_dir
from harness.report.write import write_report
from tests.conftest import read_records, run_pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS_MODEL = "<script>alert(1)</script>"
XSS_DEVICE = "</script><img src=x onerror=alert(1)>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium; `make system-deps` does it)"),
]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, model_files) -> Path:
    """A real run of the lab's suites on this host, few iterations, in its own report dir."""
    reports = tmp_path_factory.mktemp("reports")
    proc = run_pytest(["suites/", "--device=host", "--iterations", "5", "--warmup", "1",
                       "--variant=fp32,int8", "--report-dir", str(reports), "-q", "-o", "addopts="],
                      env={"EDGELAB_CACHE": str(default_cache_dir())}, timeout=300)
    # with variants built, some INT8 cells fail on real output drift: findings, not test errors
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    run_dir = (reports / "latest").resolve()
    failed = [r for r in read_records(run_dir) if r["status"] == "failed"]
    assert all(r["reason"].startswith("output drift") for r in failed), failed
    assert (run_dir / "report.html").is_file() and (run_dir / "results.csv").is_file()
    return run_dir


@pytest.fixture(scope="module")
def hostile_run(real_run, tmp_path_factory) -> Path:
    """The real records plus one with hostile names, and a governor sweep with power and a
    trace on copies of a real record (test data for the sections a host run cannot fill)."""
    run_dir = tmp_path_factory.mktemp("hostile") / "run"
    run_dir.mkdir()
    shutil.copy(real_run / "run.json", run_dir / "run.json")
    records = [json.loads(line) for line in (real_run / "results.jsonl").read_text().splitlines()]
    ok = next(r for r in records if r["status"] == "ok" and r["suite"] == "latency")
    evil = json.loads(json.dumps(ok))
    evil["model"]["name"] = XSS_MODEL
    evil["device"].update(id="evil-1", model=XSS_DEVICE)
    sweep = []
    for governor, scale, mw in (("performance", 0.8, 3000), ("powersave", 1.9, 1200)):
        copy = json.loads(json.dumps(ok))
        copy["conditions"]["governor"] = copy["conditions"]["governor_requested"] = governor
        copy["latency"]["median_ms"] *= scale
        copy["power"] = {"mean_mw": mw}
        copy["extra"]["trace"] = [{"t_s": t / 2, "temp_c": 40 + t / 3, "freq_mhz": 2400 - 9 * t,
                                   "power_mw": mw + 20 * (t % 5)} for t in range(40)]
        sweep.append(copy)
    # and as run/sampling.py writes them: power from summarize(), the trace as named series
    # over shared times with the timed loop marked, a throttled record, one without power
    for governor, scale, mw, energy in (("performance", 0.7, 3400, 2.1), ("schedutil", 1.1, 1900, 1.4)):
        copy = json.loads(json.dumps(ok))
        copy["variant"]["id"] = "int8"
        copy["conditions"].update(governor=governor, governor_requested=governor,
                                  throttled=governor == "performance", temp_c=47.5,
                                  throttle={"changes": ["policy4 fell from 2367 to 1826 MHz at "
                                                        "+24.7 s (set level)"]} if governor ==
                                  "performance" else {"changes": []})
        copy["latency"]["median_ms"] *= scale
        copy["power"] = {"source": "battery", "avg_power_mw": mw, "idle_power_mw": 700,
                         "energy_per_inference_mj": energy, "ci95_mj": [energy - .1, energy + .1]}
        copy["extra"]["trace"] = {"t_s": [t / 4 for t in range(60)],
                                  "freq_mhz": {"policy4": [2367 - (t > 40) * 541 for t in range(60)],
                                               "policy0": [1197] * 60},
                                  "temp_c": {"BIG": [35 + t / 5 for t in range(60)]},
                                  "power_mw": [mw + 30 * (t % 4) for t in range(60)],
                                  "timed_s": [3.0, 14.0]}
        sweep.append(copy)
    missing = json.loads(json.dumps(ok))
    missing["power"] = {"source": None, "unavailable": "no /sys/class/powercap: this kernel "
                        "exposes no RAPL (usual in VMs and containers)"}
    sweep.append(missing)
    # a phone cell as a benchmark tool reports it: a summary, no samples, outputs never checked
    phone = json.loads(json.dumps(ok))
    phone["device"].update(id="phone-1", kind="android", model="SM-A525F")
    phone["latency"] = {"n": 50, "mean_ms": 12.5, "min_ms": 11.0, "max_ms": 15.0, "std_ms": 0.9,
                        "median_ms": None, "summary_only": True}
    phone.update(samples_ms=[12.5], fidelity=None)
    phone["variant"]["sha256"] = "0" * 64             # a file no host run of this run checked
    phone["extra"] = {"tool": {"file": "benchmark_model"}, "summary_only": True}
    lines = [json.dumps(r) for r in records + [evil, phone] + sweep]
    (run_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    write_report(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=ARGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


def open_report(browser, path: Path):
    page = browser.new_page()
    problems, dialogs = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("html[data-ready='1']", timeout=15000)
    return page, problems, dialogs


def column(page, table: str, label: str) -> list[str]:
    headers = page.locator(f".etable[data-table={table}] thead th").all_inner_texts()
    index = next(i for i, h in enumerate(headers) if h.split(" ")[0] == label.split(" ")[0]
                 and h.startswith(label))
    return page.locator(f".etable[data-table={table}] tbody tr.row td:nth-child({index + 1})").all_inner_texts()


def test_real_run_report_renders_sorts_and_filters(browser, real_run, tmp_path):
    page, problems, dialogs = open_report(browser, real_run / "report.html")
    latency = page.locator(".etable[data-table=latency]")
    assert latency.locator("tbody tr.row").count() >= 2
    assert page.locator("#devices tbody th", has_text="host").count() == 1
    box = latency.locator(".box .iqr").first
    assert box.bounding_box()["width"] > 0                      # distribution plots drew
    # sorting: median ascending then descending reverses the order
    latency.locator("thead th button", has_text="latency ms").click()
    ascending = [float(v) for v in column(page, "latency", "latency ms")]
    assert ascending == sorted(ascending)
    latency.locator("thead th button", has_text="latency ms").click()
    assert [float(v) for v in column(page, "latency", "latency ms")] == sorted(ascending, reverse=True)
    assert latency.locator("thead th[aria-sort=descending]").count() == 1
    # filtering: one model, then the search box
    before = latency.locator("tbody tr.row").count()
    latency.locator("select[data-col=model]").select_option("ppocr_cls")
    assert set(column(page, "latency", "model")) == {"ppocr_cls"}
    assert latency.locator("tbody tr.row").count() < before
    latency.locator("select[data-col=model]").select_option("")
    latency.locator("input[type=search]").fill("face_landmark")
    assert set(column(page, "latency", "model")) == {"face_landmark"}
    # drill-down: a row opens its details
    latency.locator("tbody tr.row").first.click()
    assert latency.locator("tr.detail dl").inner_text().count("engine version") == 1
    # compat matrix: the reason is on hover (title) and on click (live region)
    unsupported = page.locator(".compat button.st-unsupported").first
    reason = unsupported.get_attribute("title")
    assert ": unsupported — " in reason and "records ok" in reason
    unsupported.focus()
    page.keyboard.press("Enter")                                # keyboard works, not only the mouse
    assert page.locator(".compat-detail", has_text=reason).count() == 1
    assert unsupported.get_attribute("aria-pressed") == "true"
    assert page.locator("#governor-none").inner_text() == "no governor sweep in this run."
    page.screenshot(path=str(tmp_path / "report-real.png"), full_page=True)
    assert (tmp_path / "report-real.png").stat().st_size > 10_000
    assert problems == [] and dialogs == []


def test_hostile_names_stay_text_and_charts_draw(browser, hostile_run, tmp_path):
    page, problems, dialogs = open_report(browser, hostile_run / "report.html")
    assert dialogs == [] and problems == []
    assert page.locator("img").count() == 0                     # no element from data
    assert page.locator("td", has_text=XSS_MODEL).count() >= 1  # the name, shown literally
    assert page.locator("#devices td", has_text=XSS_DEVICE).count() == 1
    assert page.locator("#compat h3", has_text=XSS_MODEL).count() == 1
    charts = page.locator("svg.chart")
    assert charts.count() >= 3                                  # Pareto scatter + 2 traces
    assert all(charts.nth(i).bounding_box()["height"] > 50 for i in range(charts.count()))
    assert page.locator("svg .pt.front").count() >= 1
    page.screenshot(path=str(tmp_path / "report-hostile.png"), full_page=True)


def test_governor_table_and_trace_charts_from_telemetry_records(browser, hostile_run, tmp_path):
    page, problems, dialogs = open_report(browser, hostile_run / "report.html")
    table = page.locator(".etable[data-table=governor_variants]")
    table.scroll_into_view_if_needed()
    claims = column(page, "governor_variants", "as the seed says it")
    assert any(c.startswith("INT8 @ performance: ") and " ms vs " in c for c in claims), claims
    assert any("(the reference)" in c for c in claims), claims
    assert "throttled" in column(page, "governor_variants", "throttled")
    # a trace as the sampler writes it: series by name, the timed loop shaded
    trace = page.locator("svg.chart.trace", has_text="throttled").first
    assert trace.bounding_box()["height"] > 100
    assert trace.locator("polyline.series.freq_mhz").count() == 2   # policy4 and policy0
    assert trace.locator("rect.timed").bounding_box()["width"] > 10
    warnings = page.locator("#summary").inner_text()
    assert "ran throttled on host: host " in warnings and "(policy4 fell from 2367 to 1826 MHz" in warnings
    assert warnings.count("power unavailable for ") == 1 and "no /sys/class/powercap" in warnings
    page.screenshot(path=str(tmp_path / "report-governors.png"), full_page=True)
    assert problems == [] and dialogs == []


def test_tool_summary_row_and_unchecked_outputs_are_marked(browser, hostile_run):
    page, problems, dialogs = open_report(browser, hostile_run / "report.html")
    latency = page.locator(".etable[data-table=latency]")
    latency.locator("input[type=search]").fill("phone-1")
    row = latency.locator("tbody tr.row").first
    assert "tool mean" in row.inner_text() and "12.500" in row.inner_text()
    assert row.locator(".box.tool .mean").bounding_box()["width"] > 0   # a diamond, no box
    assert row.locator(".box .iqr").count() == 0
    assert row.locator(".box").get_attribute("title") == \
        "tool summary, no samples: min 11 – max 15 ms, mean 12.5 ms"
    unchecked = page.locator(".compat button.st-unchecked")
    assert unchecked.count() == 1 and "output not checked" in unchecked.get_attribute("title")
    assert page.locator("#compat .legend", has_text="ran, output not checked").count() == 1
    assert problems == [] and dialogs == []


def test_latency_by_engine_and_size_vs_latency_charts_render(browser, real_run, hostile_run,
                                                             tmp_path):
    """Issue 19 item 5: per model and device, grouped latency bars (with whiskers) and the
    size-vs-latency Pareto; a phone tool's mean is marked ◆ on its bar and the chart says so."""
    page, problems, dialogs = open_report(browser, real_run / "report.html")
    section = page.locator("#charts")
    section.scroll_into_view_if_needed()
    bars_charts = section.locator("svg.chart", has_text="latency by variant and engine: ")
    pareto = section.locator("svg.chart", has_text="size vs latency: ")
    assert bars_charts.count() == 2 and pareto.count() == 2   # ppocr_cls and face_landmark, host
    for chart in bars_charts.all() + pareto.all():
        box = chart.bounding_box()
        assert box["width"] > 200 and box["height"] > 200, box
    bars = section.locator("rect.bar")
    assert bars.count() >= 6                                  # fp32 + int8 x engines
    assert all(bars.nth(i).bounding_box()["height"] > 0 for i in range(bars.count()))
    assert section.locator("path.whisker").count() >= 1
    assert pareto.first.locator("circle.pt.front").count() >= 1
    assert page.locator("nav a[href='#charts']").count() == 1
    # the engine table marks each row's fastest engine (issue 19 item 4)
    engines = page.locator(".etable[data-table=engines] tbody tr.row")
    assert engines.count() >= 2
    assert page.locator(".etable[data-table=engines] td.best").count() == engines.count()
    section.screenshot(path=str(tmp_path / "charts.png"))
    assert (tmp_path / "charts.png").stat().st_size > 10_000
    assert problems == [] and dialogs == []

    page, problems, dialogs = open_report(browser, hostile_run / "report.html")
    phone = page.locator("#charts svg.chart", has_text="on phone-1")
    assert phone.count() == 1                                  # one tool cell: bars, no Pareto
    assert phone.locator("rect.bar.tool").bounding_box()["height"] > 0
    assert phone.locator("path.mean-mark").bounding_box()["width"] > 0   # ◆ at the tool mean
    assert phone.locator("text.chart-note").text_content() == "◆ tool mean · whiskers: min–max"
    assert phone.locator("path.whisker.tool").count() == 1    # its min–max
    assert problems == [] and dialogs == []
