"""One frozen ``RunConfig`` built from pytest options and ``[tool.edgelab]`` in pyproject.toml.

Option values are parsed as soon as argparse reads them (``type=parse_*``), so a bad value is a
usage error naming the option before anything runs. ``[tool.edgelab]`` values go through the same
parsers (``check_lab_table``): both front doors accept and refuse the same values.
"""
from __future__ import annotations

import argparse
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import UsageError

DEFAULT_COMPUTE_UNITS = "all"  # Core ML's own default (MLComputeUnits.all) on iPhones

DEFAULTS: dict[str, Any] = {
    "models": ["ppocr_cls", "face_landmark"],
    "variants": ["fp32", "fp16", "int8", "int8-dynamic", "int8-weight"],
    "engines": [],  # empty: every registered engine
    "governors": ["default"],  # default: leave each device's governors as found
    "ios_compute_units": [DEFAULT_COMPUTE_UNITS],  # Core ML MLComputeUnits on iPhones (an axis of iOS cells)
    "warmup": 10,
    "iterations": 50,
    # independent process-level repeats of each latency cell (one record each); repeats_phone,
    # when set, is the default for phones (their tool prints one mean per run: docs/gating.md)
    "repeats": 1,
    "min_time_s": 0.0,
    "threads": 1,
    "timeout_s": 600.0,
    # before each latency cell, the device at rest: its power is subtracted from the run's
    # (energy per inference); taken only where power is read (phones, hosts with RAPL)
    "idle_window_s": 1.0,
    "power_window_s": 1.0,
    # a phone another edgelab process holds (devices/lease.py): wait this long, then its cells
    # are infra_error naming the holder
    "lease_wait_s": 0.0,
    # a phone that dropped off adb mid-run (devices/link.py): how long it may take to be listed
    # again. A real phone's reboot takes 30-90 s to reappear; with -n each phone has its own
    # worker, so the wait delays only that phone's cells, and a phone truly gone costs it once
    "reboot_wait_s": 120.0,
    "report_dir": "reports",
    # run history (SQLite, docs/gating.md "Nightly history"): "" = <report_dir>/history.sqlite,
    # "off" = none
    "history": "",
    "manifest": "models/manifest.toml",
    # a run is flagged noisy (not silently trusted) past any of these
    "noise_other_cpu_pct": 25.0,
    "noise_tail_ratio": 1.15,
    "noise_cv": 0.15,
}


def parse_csv(text: str) -> tuple[str, ...]:
    """Comma-separated names, each once, in the order given (``a,b,a`` is ``a,b``): a name
    given twice would otherwise be measured twice under two test ids."""
    items = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, got nothing")
    return items


def _int_at_least(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} must be {what}")
    return value


def parse_positive_int(text: str) -> int:
    return _int_at_least(text, 1, "at least 1")


def parse_non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "0 or more")


def parse_seconds(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (e.g. 2 or 0.5s)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more seconds")
    return value


def parse_non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value


def parse_host_port(text: str) -> str:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:5037)")
    return f"{host or '127.0.0.1'}:{port}"


_GOVERNOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def parse_governors(text: str) -> tuple[str, ...]:
    """``default,performance,powersave``: the governor axis. ``default`` leaves a device as
    found, ``fixed-performance`` is Android's fixed performance mode (no root needed), other
    names are cpufreq governors, checked against the devices once they are found."""
    names = parse_csv(text)
    bad = [n for n in names if not _GOVERNOR_NAME.fullmatch(n)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"{', '.join(repr(b) for b in bad)} is not a governor name (letters, digits, _ . -; "
            f"e.g. default,performance,powersave,schedutil,fixed-performance)")
    return names


IOS_COMPUTE_UNITS = ("cpuOnly", "cpuAndGPU", "all", "cpuAndNeuralEngine")  # MLComputeUnits


def parse_ios_compute_units(text: str) -> tuple[str, ...]:
    """``cpuOnly,all``: the Core ML compute-units axis of iPhone cells (MLComputeUnits names)."""
    names = parse_csv(text)
    bad = [n for n in names if n not in IOS_COMPUTE_UNITS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"{', '.join(repr(b) for b in bad)} is not a Core ML compute-units name; use "
            f"{', '.join(IOS_COMPUTE_UNITS)}")
    return tuple(dict.fromkeys(names))


COOLDOWN_FORMAT = "auto, off, or MAX_C[,status=N][,timeout=SECONDS] (e.g. 36,timeout=300)"
# auto: each device's own limits (device profile; run/cooldown.py); the timeout bounds the wait
COOLDOWN_DEFAULT: dict[str, Any] = {"enabled": True, "max_c": None, "status_max": None,
                                    "timeout_s": 120.0}


def parse_temperature(text: str) -> float:
    try:
        value = float(str(text).strip().lower().removesuffix("c").removesuffix("°"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a temperature in degC (e.g. 34)") from None
    if not -40 < value < 150:
        raise argparse.ArgumentTypeError(f"{value} degC is outside -40..150")
    return value


def parse_thermal_status(text: str) -> int:
    value = _int_at_least(text, 0, "0 or more")
    if value > 6:
        raise argparse.ArgumentTypeError(f"{value} is not a thermal status (0 NONE .. 6 SHUTDOWN)")
    return value


def parse_cooldown(text: str) -> dict[str, Any]:
    """``--cooldown``: ``auto`` (the device profile's limits), ``off``, or a temperature with
    optional ``status=N`` and ``timeout=S``; only what is given, merged by cooldown_settings."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in str(text).split(",")):
        key, sep, value = part.partition("=")
        try:
            if part in ("auto", "off"):
                out.update({"enabled": False} if part == "off" else
                           {"enabled": True, "max_c": None, "status_max": None})
            elif sep and key.strip() == "status":
                out["status_max"] = parse_thermal_status(value.strip())
            elif sep and key.strip() == "timeout":
                out["timeout_s"] = parse_seconds(value.strip())
            elif not sep and part:
                out.update(enabled=True, max_c=parse_temperature(part))
            else:
                raise argparse.ArgumentTypeError(f"{part!r} is not part of {COOLDOWN_FORMAT}")
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{exc}; --cooldown takes {COOLDOWN_FORMAT}") from None
    return out


def cooldown_settings(lab: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """The cooldown gate's settings: defaults < [tool.edgelab] cooldown_* keys < its
    ``cooldown`` spec < ``--cooldown``."""
    out = dict(COOLDOWN_DEFAULT)
    for key, name in (("cooldown_max_c", "max_c"), ("cooldown_status_max", "status_max"),
                      ("cooldown_timeout_s", "timeout_s")):
        if lab.get(key) is not None:
            out[name] = lab[key]
    out.update(lab.get("cooldown") or {})
    out.update(given or {})
    return out


def parse_gate(text: str) -> dict[str, Any]:
    """``--gate`` alone ("": the ``[tool.edgelab.gate]`` rules as they are) or overrides such as
    ``latency=median:3%,alpha=0.05`` (results/gate_rules.py has the grammar)."""
    from .results.gate_rules import RuleError, parse_gate_text

    try:
        return parse_gate_text(text)
    except RuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_baseline_name(text: str) -> str:
    from .results.baselines import NAME, NAME_RULE

    if not NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a baseline name ({NAME_RULE})")
    return text


# --gate: the same option in pytest's edgelab group and in `python -m harness compare`
GATE_OPTION: dict[str, Any] = dict(
    nargs="?", const="", type=parse_gate, default=None, metavar="RULES",
    help="fail when a cell regressed against the baseline (pytest: exit 8 after every cell "
         "ran; compare: exit 1): worse at alpha (one-sided Mann-Whitney U), by at least the "
         "rule and the floor. Alone: [tool.edgelab.gate] rules (default latency=median:5%%, "
         "latency_floor_ms=0.05, alpha=0.01, run_cv=0.01, rechecks=2: an inconclusive cell is "
         "measured again up to twice); or overrides, e.g. "
         "--gate \"latency=median:3%%,memory=peak:10%%\" (docs/gating.md)")


def export_adb_environment(server, connect: tuple[str, ...] | None) -> None:
    """``--adb-server`` (repeatable: one per lab host) / ``--adb-connect`` (pytest and
    ``python -m harness devices``) as the environment the Android backend reads: xdist workers
    and child processes inherit it."""
    import os

    servers = [server] if isinstance(server, str) else list(server or ())
    if servers:
        os.environ["EDGELAB_ADB_SERVER"] = ",".join(
            dict.fromkeys(parse_host_port(s) for s in servers))
    if connect:
        os.environ["EDGELAB_ADB_CONNECT"] = ",".join(parse_host_port(t) for t in connect)


INPUT_SHAPE_FORMAT = "NAME=DIMS, DIMS positive integers joined by x (e.g. x=1x3x48x192)"


def parse_input_shapes(text: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``x=1x3x48x192[,y=1x10]`` -> ((name, dims), ...). The name is the model's input name;
    ``rpartition`` keeps names that contain ``=`` whole."""
    shapes = []
    for part in (p.strip() for p in text.split(",")):
        name, sep, dims = part.rpartition("=")
        values = dims.strip().lower().split("x")
        if not sep or not name.strip() or not all(v.strip().isdigit() and int(v) > 0 for v in values):
            raise argparse.ArgumentTypeError(f"{part!r} is not {INPUT_SHAPE_FORMAT}")
        shapes.append((name.strip(), tuple(int(v) for v in values)))
    return tuple(shapes)


def merge_input_shapes(groups) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """One entry per input name from repeated ``--input-shape`` options; two different shapes
    for one name is a mistake, not something to resolve by order."""
    merged: dict[str, tuple[int, ...]] = {}
    for name, dims in (pair for group in groups or () for pair in group):
        if merged.setdefault(name, dims) != dims:
            raise UsageError(f"--input-shape {name}: given twice, as {format_dims(merged[name])} "
                             f"and {format_dims(dims)}; give one shape per input")
    return tuple(merged.items())


def format_dims(dims) -> str:
    return "x".join(str(d) for d in dims)


def read_pyproject_defaults(rootdir: Path) -> dict[str, Any]:
    """``[tool.edgelab]`` checked and normalised (lists as tuples), or {} without a pyproject.

    A broken file is an error, not an empty table: silently ignoring it would run with the
    built-in defaults while the user believes their lab settings apply."""
    path = Path(rootdir) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{_shown(path)} is not valid TOML ({exc}): fix it, [tool.edgelab] "
                         f"is read from it") from None
    table = data.get("tool", {}).get("edgelab", {})
    if not isinstance(table, dict):
        raise UsageError(f"{_shown(path)} [tool.edgelab] must be a table of settings, got "
                         f"{_toml(table)}")
    return check_lab_table(table, _shown(path))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _toml(value: Any) -> str:
    """A value as it is spelled in the TOML file (JSON agrees for strings, numbers, arrays)."""
    import json

    return json.dumps(value, default=str)


def _names_or_none(text: str) -> tuple[str, ...]:
    return parse_csv(text) if text.strip() else ()


def _path_text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path")
    return text


# [tool.edgelab] key -> (the command-line parser it shares, what is allowed). Lists take a TOML
# array or a comma-separated string, like the command line.
_LISTS = "(an array or a comma-separated string)"
LAB_KEYS: dict[str, tuple[Any, str]] = {
    "models": (parse_csv, f"a non-empty list of model names or .onnx/.tflite paths {_LISTS}"),
    "variants": (parse_csv, f"a non-empty list of variant names {_LISTS}"),
    "engines": (_names_or_none, f"a list of engine names, empty for all {_LISTS}"),
    "devices": (parse_csv, f"a non-empty list of device ids, or all {_LISTS}"),
    "governors": (parse_governors, f"a non-empty list of governor names, default or "
                                   f"fixed-performance {_LISTS}"),
    "ios_compute_units": (parse_ios_compute_units,
                          f"a non-empty list of {', '.join(IOS_COMPUTE_UNITS)} {_LISTS}"),
    "warmup": (parse_non_negative_int, "an integer >= 0"),
    "iterations": (parse_positive_int, "an integer >= 1"),
    "repeats": (parse_positive_int, "an integer >= 1 (independent runs of each cell)"),
    "repeats_phone": (parse_positive_int, "an integer >= 1 (repeats on phones; default: repeats)"),
    "threads": (parse_positive_int, "an integer >= 1"),
    "min_time_s": (parse_seconds, "a number of seconds >= 0"),
    "timeout_s": (parse_seconds, "a number of seconds >= 0"),
    "cooldown": (parse_cooldown, COOLDOWN_FORMAT),
    "cooldown_max_c": (parse_temperature, "a temperature in degC, -40..150 (e.g. 34)"),
    "cooldown_status_max": (parse_thermal_status, "a thermal status 0..6 (0 NONE)"),
    "cooldown_timeout_s": (parse_seconds, "a number of seconds >= 0 (0: read once, never wait)"),
    "idle_window_s": (parse_seconds, "a number of seconds >= 0 (0: no idle window)"),
    "lease_wait_s": (parse_seconds, "a number of seconds >= 0 (0: do not wait for a busy phone)"),
    "reboot_wait_s": (parse_seconds, "a number of seconds >= 0 (how long a phone that dropped "
                                     "off adb may take to come back)"),
    "power_window_s": (parse_seconds, "a number of seconds >= 0 (0: never raise a phone's "
                                      "iterations for power)"),
    "report_dir": (_path_text, "a directory path (string)"),
    "history": (lambda text: parse_history(text, empty_ok=True),
                "a file path (string), \"\" for <report_dir>/history.sqlite, or off"),
    "manifest": (_path_text, "a file path (string)"),
    "noise_other_cpu_pct": (parse_non_negative_float, "a number >= 0 (percent of a core)"),
    "noise_tail_ratio": (parse_non_negative_float, "a number >= 0 (p90 / median)"),
    "noise_cv": (parse_non_negative_float, "a number >= 0 (std / mean)"),
}
_LIST_KEYS = {"models", "variants", "engines", "devices", "governors", "ios_compute_units"}
_TEXT_KEYS = {"report_dir", "manifest", "history"}


def check_lab_table(table: dict[str, Any], source: str = "pyproject.toml") -> dict[str, Any]:
    """Every ``[tool.edgelab]`` value through the parser its command-line option uses, so both
    front doors accept and refuse the same values; one line naming key, value and what fits."""
    where = f"{source} [tool.edgelab]"
    known = sorted([*LAB_KEYS, "fidelity", "gate"])
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {unknown}; valid: {known}")
    checked: dict[str, Any] = {}
    for key, value in table.items():
        if key == "fidelity":
            checked[key] = _check_fidelity(value, f"{source} [tool.edgelab.fidelity]")
            continue
        if key == "gate":
            checked[key] = _check_gate(value, f"{source} [tool.edgelab.gate]")
            continue
        parse, allowed = LAB_KEYS[key]
        try:
            checked[key] = parse(_as_option_text(key, value))
        except (argparse.ArgumentTypeError, TypeError):
            raise UsageError(f"{where} {key} = {_toml(value)}: must be {allowed}") from None
    return checked


def _as_option_text(key: str, value: Any) -> str:
    """The text the same setting would have on the command line, or TypeError."""
    if key in _LIST_KEYS and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise TypeError(key)
        return ",".join(value)
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise TypeError(key)  # true is not 1 iteration, and a table is no number
    if key in _TEXT_KEYS and not isinstance(value, str):
        raise TypeError(key)
    return str(value)


def _check_fidelity(table: Any, where: str) -> dict[str, float]:
    from .models.fidelity import DEFAULT_THRESHOLDS

    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table of thresholds, got {_toml(table)}")
    unknown = sorted(set(table) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {unknown}; valid: {sorted(DEFAULT_THRESHOLDS)}")
    checked = {}
    for key, value in table.items():
        try:
            if isinstance(value, (bool, list, dict)):
                raise TypeError(key)
            checked[key] = parse_non_negative_float(str(value))
        except (argparse.ArgumentTypeError, TypeError):
            raise UsageError(f"{where} {key} = {_toml(value)}: must be a number >= 0") from None
    return checked


def _check_gate(table: Any, where: str):
    """``[tool.edgelab.gate]`` -> GateRules; a bad setting is one line naming its key, value and
    the grammar."""
    from .results.gate_rules import GRAMMAR, RuleError, rules_from_table

    try:
        return rules_from_table(table)
    except RuleError as exc:
        raise UsageError(f"{where} {exc.key} = {_toml(exc.value)}: {exc.problem}; {GRAMMAR}") from None


def _gate_fields(option, lab: dict[str, Any], report_dir: Path) -> dict[str, Any]:
    """--baseline (a run directory or a saved baseline's name), --gate, --save-baseline."""
    from .results.baselines import resolve
    from .results.gate_rules import GateRules

    given = getattr(option, "edgelab_baseline", None)
    overrides = getattr(option, "edgelab_gate", None)
    if overrides is not None and not given:
        raise UsageError("--gate needs a baseline to compare with: add --baseline NAME|RUN_DIR "
                         "(save one with --save-baseline NAME)")
    return {"baseline": resolve(given, report_dir) if given else None,
            "gate": (lab.get("gate") or GateRules()).with_overrides(overrides or {}),
            "gate_enforced": overrides is not None,
            "save_baseline": getattr(option, "edgelab_save_baseline", None)}


@dataclass(frozen=True)
class RunConfig:
    rootdir: Path
    devices: tuple[str, ...] = ("host",)
    engines: tuple[str, ...] = ()
    models: tuple[str, ...] = tuple(DEFAULTS["models"])
    variants: tuple[str, ...] = tuple(DEFAULTS["variants"])
    governors: tuple[str, ...] = tuple(DEFAULTS["governors"])
    ios_compute_units: tuple[str, ...] = tuple(DEFAULTS["ios_compute_units"])
    warmup: int = DEFAULTS["warmup"]
    iterations: int = DEFAULTS["iterations"]
    repeats: int = DEFAULTS["repeats"]
    repeats_phone: int | None = None  # [tool.edgelab] repeats_phone; --repeats overrides both
    min_time_s: float = DEFAULTS["min_time_s"]
    threads: int = DEFAULTS["threads"]
    timeout_s: float = DEFAULTS["timeout_s"]
    idle_window_s: float = DEFAULTS["idle_window_s"]
    lease_wait_s: float = DEFAULTS["lease_wait_s"]
    reboot_wait_s: float = DEFAULTS["reboot_wait_s"]
    power_window_s: float = DEFAULTS["power_window_s"]
    iterations_given: bool = False  # --iterations on the command line: kept as asked, never raised
    report_dir: Path = Path("reports")
    manifest: Path = Path("models/manifest.toml")
    cache_dir: Path | None = None
    baseline: Path | None = None
    gate: Any = None             # results.gate_rules.GateRules: the regressions' rules
    gate_enforced: bool = False  # --gate: a regressed cell fails the run (exit 8)
    save_baseline: str | None = None  # --save-baseline NAME
    history: Path | None = None  # run-history database; None: off (results/history.py)
    run_id: str = ""
    noise: dict[str, float] = field(default_factory=dict)
    fidelity: Any = None  # fidelity.Thresholds from [tool.edgelab.fidelity]
    # --input-shape: (input name, dims) for models whose inputs have dynamic dims
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # --cooldown: enabled, max_c / status_max (None: the device's own), timeout_s (cooldown.py)
    cooldown: dict[str, Any] = field(default_factory=lambda: dict(COOLDOWN_DEFAULT))

    def repeats_for(self, kind: str) -> int:
        """Repeats of a latency cell on a device of this kind ("host", "android", ...)."""
        if kind != "host" and self.repeats_phone is not None:
            return self.repeats_phone
        return self.repeats

    def with_run_id(self, run_id: str) -> "RunConfig":
        return replace(self, run_id=run_id)

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple)
                    else v.as_dict() if hasattr(v, "as_dict") else v)
                for k, v in self.__dict__.items()}


def _repeats_fields(option, lab: dict[str, Any]) -> dict[str, Any]:
    """--repeats K sets every device kind; else [tool.edgelab] repeats, and repeats_phone for
    phones when the lab set it."""
    given = getattr(option, "edgelab_repeats", None)
    if given is not None:
        return {"repeats": given, "repeats_phone": None}
    return {"repeats": lab["repeats"], "repeats_phone": lab.get("repeats_phone")}


def parse_history(text: str, empty_ok: bool = False) -> str:
    """--edgelab-history PATH|off (and [tool.edgelab] history, where "" means the default)."""
    if not isinstance(text, str):
        raise argparse.ArgumentTypeError(f"{text!r} is not a path or off")
    if not text.strip():
        if empty_ok:
            return ""
        raise argparse.ArgumentTypeError("empty path (use off for no history)")
    return "off" if text.strip().lower() == "off" else text


def _history_path(given: str | None, lab: dict[str, Any], report_dir: Path,
                  under_root) -> Path | None:
    value = lab.get("history", "") if given is None else given
    if value == "off":
        return None
    return under_root(value) if value else report_dir / "history.sqlite"


def build_config(option, rootdir: Path) -> RunConfig:
    """``option`` is pytest's ``config.option`` (or an argparse namespace with the same names)."""
    lab = {**DEFAULTS, **read_pyproject_defaults(rootdir)}

    def pick(name: str, lab_key: str):
        value = getattr(option, name, None)
        return lab[lab_key] if value is None else value

    def under_root(path: Any) -> Path:
        path = Path(path)
        return path if path.is_absolute() else Path(rootdir) / path

    cache = getattr(option, "edgelab_cache", None)
    from .models.fidelity import Thresholds

    return RunConfig(
        rootdir=Path(rootdir),
        devices=tuple(getattr(option, "edgelab_device", None) or lab.get("devices") or ("host",)),
        engines=tuple(pick("edgelab_engine", "engines")),
        models=tuple(pick("edgelab_model", "models")),
        variants=tuple(pick("edgelab_variant", "variants")),
        governors=tuple(pick("edgelab_governor", "governors")),
        ios_compute_units=tuple(pick("edgelab_ios_compute_units", "ios_compute_units")),
        warmup=pick("edgelab_warmup", "warmup"),
        iterations=pick("edgelab_iterations", "iterations"),
        iterations_given=getattr(option, "edgelab_iterations", None) is not None,
        **_repeats_fields(option, lab),
        min_time_s=pick("edgelab_min_time", "min_time_s"),
        threads=pick("edgelab_threads", "threads"),
        timeout_s=pick("edgelab_timeout", "timeout_s"),
        idle_window_s=pick("edgelab_idle_window", "idle_window_s"),
        lease_wait_s=pick("edgelab_lease_wait", "lease_wait_s"),
        reboot_wait_s=pick("edgelab_reboot_wait", "reboot_wait_s"),
        power_window_s=lab["power_window_s"],
        report_dir=under_root(pick("edgelab_report_dir", "report_dir")),
        manifest=under_root(pick("edgelab_manifest", "manifest")),
        cache_dir=Path(cache) if cache else None,
        **_gate_fields(option, lab, under_root(pick("edgelab_report_dir", "report_dir"))),
        history=_history_path(getattr(option, "edgelab_history", None), lab,
                              under_root(pick("edgelab_report_dir", "report_dir")), under_root),
        noise={k: float(lab[k]) for k in ("noise_other_cpu_pct", "noise_tail_ratio", "noise_cv")},
        fidelity=Thresholds.from_table(lab.get("fidelity")),  # checked by check_lab_table
        input_shapes=merge_input_shapes(getattr(option, "edgelab_input_shape", None)),
        cooldown=cooldown_settings(lab, getattr(option, "edgelab_cooldown", None)),
    )
