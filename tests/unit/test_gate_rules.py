"""The gate's thresholds: the rule grammar, [tool.edgelab.gate] checked like the other lab keys,
--gate on the command line, per-model overrides and which one wins."""
from __future__ import annotations

import argparse
import re

import pytest

from harness.config import build_config, parse_baseline_name, parse_gate
from harness.errors import UsageError
from harness.results.gate_rules import (GRAMMAR, METRICS, GateRules, Rule, RuleError,
                                        parse_gate_text, parse_rule, parse_setting,
                                        rules_from_table)


@pytest.mark.parametrize("metric, text, rule", [
    ("latency", "median:5%", Rule("latency", "median", 5.0, True)),
    ("latency", " mean : 2.5 % ", Rule("latency", "mean", 2.5, True)),
    ("latency", "median:0.2", Rule("latency", "median", 0.2, False)),   # absolute, in ms
    ("memory", "peak:10%", Rule("memory", "peak", 10.0, True)),
    ("energy", "per_inference:8%", Rule("energy", "per_inference", 8.0, True)),
    ("latency", "median:.5%", Rule("latency", "median", 0.5, True)),
])
def test_good_rules(metric, text, rule):
    assert parse_rule(metric, text) == rule


def test_off_disables_a_metric_and_thresholds_scale_with_the_baseline():
    assert parse_rule("latency", "off") is None
    assert parse_rule("latency", "median:5%").threshold(2.0) == pytest.approx(0.1)
    assert parse_rule("latency", "median:0.3").threshold(2.0) == 0.3
    assert parse_rule("memory", "peak:10%").text == "peak:10%"


def test_every_metric_declares_its_better_direction_and_unit():
    assert {m.name: (m.better, m.unit) for m in METRICS.values()} == {
        "latency": ("lower", "ms"), "memory": ("lower", "MB"), "energy": ("lower", "mJ")}


@pytest.mark.parametrize("metric, text, bad_part", [
    ("latency", "median5%", "missing ':'"),
    ("latency", "medain:5%", "'medain' is not a latency statistic (median, mean)"),
    ("latency", "p90:5%", "'p90' is not a latency statistic"),
    ("memory", "median:5%", "'median' is not a memory statistic (peak)"),
    ("latency", "median:5x", "'5x' is not an amount"),
    ("latency", "median:-5%", "'-5%' is not an amount"),
    ("latency", "median:", "'' is not an amount"),
    ("latncy", "median:5%", "unknown metric 'latncy' (known: latency, memory, energy)"),
    ("latency", 5, "a rule is a string"),
])
def test_malformed_rules_name_the_bad_part_and_show_the_grammar(metric, text, bad_part):
    with pytest.raises(RuleError) as info:
        parse_rule(metric, text)
    message = str(info.value)
    assert bad_part in message and message.endswith(GRAMMAR)
    assert "STAT:N%" in message and "latency = median|mean" in message


def test_command_line_gate_text():
    assert parse_gate("") == {}                     # --gate alone: pyproject's rules as they are
    values = parse_gate("latency=median:3%, alpha=0.05,latency_floor_ms=0.1,memory=off,run_cv=0.03")
    assert values == {"latency": Rule("latency", "median", 3.0, True), "alpha": 0.05,
                      "latency_floor_ms": 0.1, "memory": None, "run_cv": 0.03}


@pytest.mark.parametrize("text, bad_part", [
    ("latency=median:3", None),                            # fine: absolute 3 ms
    ("suites/", "'suites/' is not KEY=VALUE (e.g. latency=median:3%); put --gate after the test "
                "paths or write --gate=RULES"),
    ("latency=median3%", "latency=median3%: missing ':'"),
    ("alpha=0.7", "alpha=0.7: alpha must be between 0 and 0.5"),
    ("latency_floor_ms=-1", "latency_floor_ms=-1: latency_floor_ms must be a number >= 0"),
    ("run_cv=5", "run_cv=5: run_cv is a fraction between 0 and 1 (e.g. 0.01 for 1%)"),
    ("speed=median:3%", "speed=median:3%: unknown setting 'speed'"),
])
def test_bad_command_line_gate_is_an_argument_error(text, bad_part):
    if bad_part is None:
        parse_gate(text)
        return
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_gate(text)
    assert bad_part in str(info.value) and str(info.value).endswith(GRAMMAR)


def test_table_with_floors_alpha_and_per_model_overrides():
    rules = rules_from_table({"latency": "median:5%", "memory": "peak:10%", "alpha": 0.02,
                              "latency_floor_ms": 0.1,
                              "models": {"ppocr_cls": {"latency": "median:3%", "memory": "off"}}})
    base, cls = rules.for_model("face_landmark"), rules.for_model("ppocr_cls")
    assert base.rules["latency"].amount == 5 and base.rules["memory"].amount == 10
    assert base.floors["latency"] == 0.1 and base.alpha == 0.02
    assert cls.rules["latency"].amount == 3 and cls.rules["memory"] is None
    assert cls.floors["latency"] == 0.1 and cls.alpha == 0.02    # inherited
    # the command line wins over pyproject, per-model tables included
    now = rules.with_overrides(parse_gate("latency=median:20%"))
    assert now.for_model("ppocr_cls").rules["latency"].amount == 20
    assert now.for_model("ppocr_cls").rules["memory"] is None    # not overridden: stays off
    assert "latency median:20% (floor 0.1 ms)" in now.describe()


def test_defaults_gate_latency_only():
    settings = GateRules().for_model("anything")
    assert settings.rules == {"latency": Rule("latency", "median", 5.0, True)}
    assert settings.floors["latency"] == 0.05 and settings.alpha == 0.01 and settings.run_cv == 0.01
    assert GateRules().with_overrides({"run_cv": 0.037}).for_model("det").run_cv == 0.037


def _lab(tmp_path, body: str, **options):
    (tmp_path / "pyproject.toml").write_text(body)
    return build_config(argparse.Namespace(**options), tmp_path)


@pytest.mark.parametrize("body, message", [
    ('[tool.edgelab.gate]\nlatency = "medain:5%"',
     r'\[tool.edgelab.gate\] latency = "medain:5%": \'medain\' is not a latency statistic '
     r'\(median, mean\); rules are STAT:N%'),
    ('[tool.edgelab.gate]\nalpha = 2', r'\[tool.edgelab.gate\] alpha = 2: alpha must be between 0 '
                                      r'and 0.5'),
    ('[tool.edgelab.gate]\nlatency_floor_ms = true', r'latency_floor_ms = true: not a number'),
    ('[tool.edgelab.gate]\nspeed = "median:5%"', r"speed = \"median:5%\": unknown setting 'speed'"),
    ('[tool.edgelab.gate.models.ppocr_cls]\nlatency = "median3%"',
     r'\[tool.edgelab.gate\] models.ppocr_cls.latency = "median3%": missing \':\''),
    ('[tool.edgelab]\ngate = "median:5%"', r'\[tool.edgelab.gate\] gate = "median:5%": '
                                          r'\[tool.edgelab.gate\] must be a table'),
])
def test_pyproject_gate_is_checked_like_the_other_lab_keys(tmp_path, body, message):
    with pytest.raises(UsageError) as info:
        _lab(tmp_path, body + "\n")
    assert re.search(message, str(info.value)), str(info.value)
    assert "\n" not in str(info.value) and str(info.value).endswith(GRAMMAR)


def test_config_carries_rules_and_whether_the_gate_is_enforced(tmp_path):
    run = tmp_path / "reports" / "base-run"
    run.mkdir(parents=True)
    (run / "results.jsonl").write_text("")
    body = '[tool.edgelab.gate]\nlatency = "median:4%"\n'
    plain = _lab(tmp_path, body, edgelab_baseline=str(run))
    assert plain.baseline == run and not plain.gate_enforced
    assert plain.gate.for_model("m").rules["latency"].amount == 4
    gated = _lab(tmp_path, body, edgelab_baseline=str(run), edgelab_gate=parse_gate("alpha=0.05"))
    assert gated.gate_enforced and gated.gate.for_model("m").alpha == 0.05
    assert gated.as_dict()["gate"]["latency"] == "median:4%"
    with pytest.raises(UsageError, match=r"^--gate needs a baseline to compare with: add "
                                         r"--baseline NAME\|RUN_DIR"):
        _lab(tmp_path, body, edgelab_gate={})


def test_baseline_names(tmp_path):
    assert parse_baseline_name("release-1.2_rc") == "release-1.2_rc"
    for bad in ("../x", "a/b", ".hidden", "", "with space"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a baseline name"):
            parse_baseline_name(bad)


def test_rule_error_keeps_key_value_and_problem():
    with pytest.raises(RuleError) as info:
        parse_gate_text("memory=peak:ten%")
    assert (info.value.key, info.value.value) == ("memory", "peak:ten%")
    assert info.value.problem == "'ten%' is not an amount (a number >= 0, optionally followed by %)"


def test_rechecks_setting_bounds_re_measurement():
    assert GateRules().for_model("m").rechecks == 2  # the default: two more looks at most
    assert parse_setting("rechecks", "0") == 0 and parse_setting("rechecks", 5) == 5
    rules = rules_from_table({"rechecks": 1, "models": {"slow_det": {"rechecks": 4}}})
    assert rules.for_model("x").rechecks == 1 and rules.for_model("slow_det").rechecks == 4
    assert rules.with_overrides({"rechecks": 0}).for_model("slow_det").rechecks == 0
    assert "rechecks 1" in rules.describe() and rules.as_dict()["rechecks"] == 1
    for bad in ("-1", "2.5", "11", "many"):
        with pytest.raises(RuleError, match="rechecks"):
            parse_setting("rechecks", bad)
