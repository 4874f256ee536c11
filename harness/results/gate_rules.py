"""The gate's thresholds: metrics, the rule grammar (pytest-benchmark's ``median:5%``), floors,
alpha and per-model overrides, from ``[tool.edgelab.gate]`` and ``--gate``. Pure.

Grammar (``GRAMMAR`` is what error messages show)::

    RULE    = STAT ":" NUMBER "%"    a change of at least NUMBER percent of the baseline's STAT
            | STAT ":" NUMBER        a change of at least NUMBER in the metric's unit
            | "off"                  this metric is not gated (e.g. for one model)
    latency = median | mean    (ms, lower is better)
    memory  = peak             (MB, lower is better)
    energy  = per_inference    (mJ, lower is better)

Settings beside the rules: ``<metric>_floor_<unit>`` (a change smaller than this never counts,
whatever the percentage: 5% of a 0.2 ms model is timer noise), ``alpha`` (significance level
of the one-sided rank test) and ``run_cv`` (how much a cell's figure moves between processes,
as a fraction: what per-iteration samples of one process cannot show; measured ~1% for 1-thread
host runs of PP-OCR cls here, 2.4% face_landmark, 3.7% PP-OCR det, docs/design.md) and
``rechecks`` (how many times a pytest run measures a cell again while its comparison is
inconclusive, run/recheck.py; default 2, 0 = never).
``[tool.edgelab.gate.models.NAME]`` overrides any of them for one model; ``--gate "latency=median:3%,alpha=0.05"`` overrides them everywhere (the command line
wins over per-model tables too: it is what the person running the gate asked for now).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    stats: tuple[str, ...]
    better: str            # "lower" or "higher": which direction is an improvement
    floor_key: str
    default_floor: float


METRICS: dict[str, Metric] = {
    "latency": Metric("latency", "ms", ("median", "mean"), "lower", "latency_floor_ms", 0.05),
    "memory": Metric("memory", "MB", ("peak",), "lower", "memory_floor_mb", 1.0),
    "energy": Metric("energy", "mJ", ("per_inference",), "lower", "energy_floor_mj", 0.0),
}
FLOOR_KEYS = {m.floor_key: m.name for m in METRICS.values()}
DEFAULT_ALPHA = 0.01
DEFAULT_RUN_CV = 0.01
DEFAULT_RECHECKS = 2  # inconclusive cells measured again, at most this many times (run/recheck.py)
MAX_RECHECKS = 10
GRAMMAR = ("rules are STAT:N% (percent of the baseline's STAT), STAT:X (in the metric's unit) "
           "or off, with latency = median|mean (ms), memory = peak (MB), energy = per_inference "
           "(mJ), lower is better for all three; settings: latency_floor_ms, memory_floor_mb, "
           "energy_floor_mj (numbers >= 0), alpha (0 < alpha < 0.5), run_cv (0 <= run_cv < 1), "
           "rechecks (0-10 re-measurements of an inconclusive cell); "
           "e.g. latency=median:5%, "
           "memory=peak:10%, energy=per_inference:8%, latency_floor_ms=0.05, alpha=0.01")
_RULE = re.compile(r"\s*([A-Za-z0-9_]*)\s*(:?)\s*(.*?)\s*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


class RuleError(ValueError):
    """A malformed gate setting: ``key`` names it, ``problem`` says which part is wrong."""

    def __init__(self, key: str, value: Any, problem: str):
        self.key, self.value, self.problem = key, value, problem
        where = key if value is None else f"{key}={value}"
        super().__init__(f"{where}: {problem}; {GRAMMAR}")


@dataclass(frozen=True)
class Rule:
    metric: str
    stat: str
    amount: float
    relative: bool  # amount is a percentage of the baseline's figure

    def threshold(self, reference: float) -> float:
        """The smallest change (in the metric's unit) that counts, for this baseline figure."""
        return abs(reference) * self.amount / 100.0 if self.relative else self.amount

    @property
    def text(self) -> str:
        return f"{self.stat}:{self.amount:g}{'%' if self.relative else ''}"


def parse_rule(metric: str, text: Any) -> Rule | None:
    """``"median:5%"`` -> Rule; ``"off"`` -> None; anything else names its bad part."""
    if metric not in METRICS:
        raise RuleError(metric, text, f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    spec = METRICS[metric]
    if not isinstance(text, str):
        raise RuleError(metric, text, "a rule is a string such as \"median:5%\"")
    if text.strip().lower() == "off":
        return None
    stat, colon, amount = _RULE.fullmatch(text).groups()
    if not colon:
        raise RuleError(metric, text, "missing ':' between the statistic and the amount")
    if stat not in spec.stats:
        raise RuleError(metric, text, f"{stat!r} is not a {metric} statistic "
                                      f"({', '.join(spec.stats)})")
    relative = amount.endswith("%")
    number = amount[:-1].strip() if relative else amount
    if not _NUMBER.fullmatch(number):
        raise RuleError(metric, text, f"{amount!r} is not an amount (a number >= 0, "
                                      f"optionally followed by %)")
    return Rule(metric, stat, float(number), relative)


def parse_number(key: str, value: Any) -> float:
    """A floor (>= 0) or alpha (0 < alpha < 0.5); bools and text that is no number refused."""
    try:
        if isinstance(value, bool) or isinstance(value, (list, dict)):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise RuleError(key, value, "not a number") from None
    if key == "alpha":
        if not 0.0 < number < 0.5:
            raise RuleError(key, value, "alpha must be between 0 and 0.5 (e.g. 0.01)")
    elif key == "run_cv":
        if not 0.0 <= number < 1.0:
            raise RuleError(key, value, "run_cv is a fraction between 0 and 1 (e.g. 0.01 for 1%)")
    elif key == "rechecks":
        if number != int(number) or not 0 <= number <= MAX_RECHECKS:
            raise RuleError(key, value, f"rechecks is a whole number from 0 to {MAX_RECHECKS} "
                                        f"(0: never measure an inconclusive cell again)")
        return int(number)
    elif not (math.isfinite(number) and number >= 0.0):
        raise RuleError(key, value, f"{key} must be a number >= 0")
    return number


def parse_setting(key: str, value: Any) -> Any:
    """One gate setting: a metric's rule, a floor or alpha."""
    if key in METRICS:
        return parse_rule(key, value)
    if key in FLOOR_KEYS or key in SETTINGS:
        return parse_number(key, value)
    raise RuleError(key, value, f"unknown setting {key!r} (known: "
                                f"{', '.join([*METRICS, *FLOOR_KEYS, *SETTINGS])})")


SETTINGS = ("alpha", "run_cv", "rechecks")  # beside the rules and floors


@dataclass(frozen=True)
class Settings:
    """What applies to one model: a rule (or None: not gated) per metric, floors, alpha, the
    between-process CV allowed for when each side is one process, and how many times a cell
    whose comparison is inconclusive is measured again before its verdict."""
    rules: Mapping[str, Rule | None]
    floors: Mapping[str, float]
    alpha: float
    run_cv: float = DEFAULT_RUN_CV
    rechecks: int = DEFAULT_RECHECKS

    def updated(self, values: Mapping[str, Any]) -> "Settings":
        rules, floors = dict(self.rules), dict(self.floors)
        for key, value in values.items():
            if key in METRICS:
                rules[key] = value
            elif key in FLOOR_KEYS:
                floors[FLOOR_KEYS[key]] = value
        return Settings(rules, floors, values.get("alpha", self.alpha),
                        values.get("run_cv", self.run_cv), values.get("rechecks", self.rechecks))

    def describe(self) -> str:
        parts = [f"{metric} {rule.text}" + (f" (floor {self.floors[metric]:g} "
                                            f"{METRICS[metric].unit})" if self.floors[metric] else "")
                 for metric, rule in self.rules.items() if rule is not None]
        return (", ".join(parts or ["nothing gated"]) + f", alpha {self.alpha:g}, "
                f"run_cv {self.run_cv:g}, rechecks {self.rechecks}")


DEFAULT_SETTINGS = Settings(rules={"latency": Rule("latency", "median", 5.0, True)},
                            floors={m.name: m.default_floor for m in METRICS.values()},
                            alpha=DEFAULT_ALPHA)


@dataclass(frozen=True)
class GateRules:
    base: Settings = DEFAULT_SETTINGS
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # parsed overrides

    def for_model(self, model: str) -> Settings:
        return self.base.updated(self.models.get(model, {}))

    def with_overrides(self, values: Mapping[str, Any]) -> "GateRules":
        """Command-line settings: applied at the top and over every model's own."""
        if not values:
            return self
        models = {name: {**own, **values} for name, own in self.models.items()}
        return replace(self, base=self.base.updated(values), models=models)

    def describe(self) -> str:
        text = self.base.describe()
        if self.models:
            text += "; own rules for " + ", ".join(sorted(self.models))
        return text

    def as_dict(self) -> dict[str, Any]:
        def plain(values: Mapping[str, Any]) -> dict[str, Any]:
            return {k: (v.text if isinstance(v, Rule) else "off" if v is None else v)
                    for k, v in values.items()}

        base = {**plain(self.base.rules), **{METRICS[m].floor_key: v for m, v in self.base.floors.items()},
                "alpha": self.base.alpha, "run_cv": self.base.run_cv,
                "rechecks": self.base.rechecks}
        return {**base, "models": {name: plain(own) for name, own in self.models.items()}}


def rules_from_table(table: Any) -> GateRules:
    """``[tool.edgelab.gate]`` (with its ``models`` sub-tables) -> GateRules; RuleError's key
    is the setting's path, e.g. ``models.ppocr_cls.latency``."""
    if not isinstance(table, dict):
        raise RuleError("gate", table, "[tool.edgelab.gate] must be a table of settings")
    top = {k: parse_setting(k, v) for k, v in table.items() if k != "models"}
    models_table = table.get("models", {})
    if not isinstance(models_table, dict):
        raise RuleError("models", models_table, "a table of per-model tables")
    models: dict[str, dict[str, Any]] = {}
    for name, own in models_table.items():
        if not isinstance(own, dict):
            raise RuleError(f"models.{name}", own, "a table of settings for that model")
        try:
            models[name] = {k: parse_setting(k, v) for k, v in own.items()}
        except RuleError as exc:
            raise RuleError(f"models.{name}.{exc.key}", exc.value, exc.problem) from None
    return GateRules(DEFAULT_SETTINGS.updated(top), models)


def parse_gate_text(text: str) -> dict[str, Any]:
    """``--gate`` value: "" (use pyproject's rules) or ``key=value`` pairs joined by commas."""
    values: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise RuleError(part, None, f"{part!r} is not KEY=VALUE (e.g. latency=median:3%); put "
                                      f"--gate after the test paths or write --gate=RULES")
        values[key.strip()] = parse_setting(key.strip(), value.strip())
    return values
