"""The parameter grid: device x governor x model x variant x engine, with readable, stable test ids.

Test ids name the governor only when the run has a governor axis (``--governor`` other than the
lone ``default``): ``pixel8-ppocr_cls-fp32-tflite-powersave``. A run without one keeps the ids
it always had (baselines, CI filters and history name cells by them); within one run every id
has the same shape.

The Core ML compute-units axis (``--ios-compute-units``) is an axis of iPhone Core ML cells only:
each such cell runs once per value (into the runner's job), and their ids name the value when
more than one is asked (``<udid>-ppocr_cls-fp32-coreml-cpuOnly``); other cells are not
multiplied and keep their ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..config import DEFAULT_COMPUTE_UNITS
from ..devices.base import DeviceInfo

DEFAULT_GOVERNOR = "default"


@dataclass(frozen=True)
class BenchCase:
    device: DeviceInfo
    model: str
    variant: str
    engine: str
    governor: str = DEFAULT_GOVERNOR
    governor_in_id: bool = False  # the run has a governor axis: the id names the governor
    compute_units: str | None = None  # iPhone Core ML cells only (--ios-compute-units)
    compute_units_in_id: bool = False  # more than one value asked: the id names it

    @property
    def id(self) -> str:
        base = f"{self.device.id}-{self.model}-{self.variant}-{self.engine}"
        if self.governor_in_id:
            base = f"{base}-{self.governor}"
        return f"{base}-{self.compute_units}" if self.compute_units_in_id else base


def build_cases(devices: list[DeviceInfo], models: tuple[str, ...], variants: tuple[str, ...],
                engines: tuple[str, ...],
                governors: tuple[str, ...] = (DEFAULT_GOVERNOR,),
                ios_compute_units: tuple[str, ...] = (DEFAULT_COMPUTE_UNITS,)) -> list[BenchCase]:
    # device outermost: with --dist loadgroup each device's cells stay on one worker anyway,
    # and in a serial run one device finishes before the next starts. Governor next: a
    # device's cells of one governor are contiguous, so it is applied once per device and value.
    # Compute units multiply only the cells they mean something for (Core ML on an iPhone):
    # host and Android cells are not repeated per value
    axis = tuple(governors) != (DEFAULT_GOVERNOR,)
    units_axis = len(ios_compute_units) > 1
    return [BenchCase(d, m, v, e, g, axis, units, units_axis and units is not None)
            for d in devices for g in governors for m in models for v in variants
            for e in engines for units in _compute_units_for(d, e, ios_compute_units)]


def _compute_units_for(device: DeviceInfo, engine: str,
                       values: tuple[str, ...]) -> tuple[str | None, ...]:
    return tuple(values) if device.kind == "ios" and engine == "coreml" else (None,)


def group_by_device_and_governor(items: list, case_of: Callable[[Any], BenchCase | None]) -> list:
    """Test items reordered so that each device's cells of one governor run back to back across
    suite files (pytest collects test_compat's cells, then test_latency's: a two-governor sweep
    would otherwise switch each phone's governor four times instead of twice). Stable: within a
    group the suites keep their order (compat before latency); other items keep their places."""
    slots = [i for i, item in enumerate(items) if case_of(item) is not None]
    rank: dict[tuple[str, str], int] = {}
    devices: dict[str, int] = {}
    for i in slots:
        case = case_of(items[i])
        devices.setdefault(case.device.id, len(devices))
        rank.setdefault((case.device.id, case.governor), len(rank))

    def key(item) -> tuple[int, int]:
        case = case_of(item)
        return devices[case.device.id], rank[(case.device.id, case.governor)]

    ordered = sorted((items[i] for i in slots), key=key)
    out = list(items)
    for slot, item in zip(slots, ordered):
        out[slot] = item
    return out
