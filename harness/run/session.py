"""``BenchSession``: everything one pytest session needs, built once and kept in ``config.stash``.

On the xdist controller (or a plain run) it discovers devices, fetches models and creates the
run directory; workers receive the run id, device list and model paths through ``workerinput``
so every process collects the same test ids and writes into the same run.
"""
from __future__ import annotations

import datetime as _dt
import platform
import sys
from pathlib import Path
from typing import Any

from .cases import BenchCase, build_cases
from ..config import RunConfig
from ..devices.base import DeviceInfo
from ..devices.discovery import discover_all, open_device, select
from ..engines import REGISTRY as ENGINE_REGISTRY
from ..engines import get_engine
from ..errors import UsageError
from ..models.fetch import default_cache_dir, fetch
from ..models.inputs import check_input_shapes
from ..models.manifest import ModelSpec, adhoc_model, load_manifest, resolve_model
from .governors import check_governors
from .measure import CellRunner
from ..results.store import RunStore, new_run_id
from .recheck import Recheck
from ..models.variants import VARIANTS


def resolve_models(names: tuple[str, ...], manifest: dict[str, ModelSpec],
                   input_shapes=()) -> dict[str, ModelSpec]:
    chosen: dict[str, ModelSpec] = {}
    for name in names:
        spec = resolve_model(name, manifest).with_input_shapes(input_shapes)
        chosen[spec.name] = spec
    return chosen


def check_choices(option: str, given: tuple[str, ...], valid) -> None:
    unknown = [g for g in given if g not in valid]
    if unknown:
        raise UsageError(f"{option}: unknown value(s) {', '.join(unknown)}; valid: {', '.join(valid)}")


class BenchSession:
    def __init__(self, config: RunConfig, devices: list[DeviceInfo], models: dict[str, ModelSpec],
                 model_paths: dict[str, Path], engines: tuple[str, ...], notes: list[str]):
        self.config = config
        self.devices = devices
        self.models = models
        self.model_paths = model_paths
        self.engines = engines
        self.notes = notes
        self.store = RunStore(config.report_dir / config.run_id)
        self.runner = CellRunner(config, models, model_paths, self.store)
        # --baseline X --gate: an inconclusive cell is measured again before its verdict
        self.recheck = Recheck(config.baseline, config.gate) \
            if getattr(config, "gate_enforced", False) and config.baseline else None
        self.started = _dt.datetime.now(_dt.timezone.utc)
        self.hook = self.pytest_config = None  # set on the controller only
        self.report_model: dict | None = None  # set at session end (terminal summary tables)
        self.planned: list[str] | None = None  # test ids of the cells collected (controller)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def on_controller(cls, config: RunConfig, log=print, hook=None,
                      pytest_config=None) -> "BenchSession":
        engines = config.engines or tuple(ENGINE_REGISTRY)
        check_choices("--engine", engines, list(ENGINE_REGISTRY))
        check_choices("--variant", config.variants, list(VARIANTS))
        models = resolve_models(config.models, load_manifest(config.manifest), config.input_shapes)
        if config.baseline:
            check_baseline(config.baseline)
        notes = Notes(log)  # discovery notes show in the terminal as they happen
        found = discover_all(notes=notes, timeout_s=config.timeout_s)
        chosen = hook.pytest_edgelab_select_devices(config=pytest_config, found=found,
                                             wanted=config.devices) if hook else None
        devices = chosen if chosen is not None else select(found, config.devices)
        check_governors(config.governors, devices,  # before anything is fetched or measured
                        lambda info: open_device(info, timeout_s=config.timeout_s))
        cache = config.cache_dir or default_cache_dir()
        paths = {name: fetch(spec, cache, log=log) for name, spec in models.items()}
        for line in check_input_shapes(models, paths, config.input_shapes):
            log(f"edgelab: {line}")  # before the run: a guessed shape times another computation
        session = cls(config.with_run_id(new_run_id()), devices, models, paths, engines, notes)
        session.store.create()
        session.hook, session.pytest_config = hook, pytest_config
        session.store.write_run_info(session.run_info())
        return session

    def to_workerinput(self) -> dict[str, Any]:
        return {"run_id": self.config.run_id, "devices": [d.as_dict() for d in self.devices],
                "model_paths": {k: str(v) for k, v in self.model_paths.items()},
                "engines": list(self.engines), "notes": list(self.notes),
                "adhoc": {k: str(v.path) for k, v in self.models.items() if v.package is None}}

    @classmethod
    def on_worker(cls, config: RunConfig, data: dict[str, Any]) -> "BenchSession":
        manifest = load_manifest(config.manifest)
        models = {name: (manifest[name] if name in manifest else adhoc_model(data["adhoc"][name])
                         ).with_input_shapes(config.input_shapes) for name in data["model_paths"]}
        return cls(config.with_run_id(data["run_id"]),
                   [DeviceInfo.from_dict(d) for d in data["devices"]], models,
                   {k: Path(v) for k, v in data["model_paths"].items()},
                   tuple(data["engines"]), list(data["notes"]))

    # -- use ----------------------------------------------------------------------------
    def cases(self) -> list[BenchCase]:
        return build_cases(self.devices, tuple(self.models), self.config.variants, self.engines,
                           self.config.governors, self.config.ios_compute_units)

    def plan(self, test_ids: list[str]) -> None:
        """Record the cells this run means to measure, once collected: a report of a run that
        was killed compares them with what was recorded."""
        self.planned = list(test_ids)
        self.store.write_run_info(self.run_info())

    def run_info(self, **more: Any) -> dict[str, Any]:
        info = {
            "run_id": self.config.run_id, "started": self.started.isoformat(),
            "argv": sys.argv, "options": self.config.as_dict(),
            "devices": [d.as_dict() for d in self.devices],
            "models": {name: {**spec.as_dict(), "path": str(self.model_paths[name])}
                       for name, spec in self.models.items()},
            "engines": {name: get_engine(name).version() for name in self.engines},
            "environment": {"python": sys.version.split()[0], "platform": platform.platform(),
                            "machine": platform.machine(), "edgelab": _edgelab_version()},
            "notes": list(self.notes), **more,
        }
        if self.planned is not None:
            info["planned"] = {"cells": len(self.planned), "test_ids": self.planned}
        if self.hook is not None:
            self.hook.pytest_edgelab_update_run_info(config=self.pytest_config, info=info)
        return info


class Notes(list):
    """Notes for run.json and the report that are also shown in the terminal when added:
    a discovery problem (no adb server there) must not surface only in report.html."""

    def __init__(self, log):
        super().__init__()
        self._log = log

    def append(self, note: str) -> None:
        super().append(note)
        self._log(f"edgelab: {note}")


def check_baseline(run_dir: Path) -> None:
    """Refuse a --baseline the report could not compare with, before anything is measured."""
    from ..report.load import read_run

    if not (run_dir / "results.jsonl").is_file():
        raise UsageError(f"--baseline {run_dir}: no results.jsonl there; pass an "
                         f"earlier run directory such as reports/<run-id>")
    try:
        table = read_run(run_dir)[1]
    except UsageError as exc:
        raise UsageError(f"--baseline {run_dir}: {exc}") from None
    if table.torn_lines:
        raise UsageError(f"--baseline {run_dir}: the last line of results.jsonl is cut short (that "
                         f"run was killed while writing); remove that line or pass another run")
    if not len(table.frame):
        raise UsageError(f"--baseline {run_dir}: results.jsonl holds no records; pass a run that "
                         f"measured something")


def _edgelab_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edgelab")
    except PackageNotFoundError:
        return "unknown"
