"""The parameter grid: device x governor x model x variant x engine, with readable, stable test ids.

Test ids name the governor only when the run has a governor axis (``--governor`` other than the
lone ``default``): ``pixel8-ppocr_cls-fp32-tflite-powersave``. A run without one keeps the ids
it always had (baselines, CI filters and history name cells by them); within one run every id
has the same shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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

    @property
    def id(self) -> str:
        base = f"{self.device.id}-{self.model}-{self.variant}-{self.engine}"
        return f"{base}-{self.governor}" if self.governor_in_id else base


def build_cases(devices: list[DeviceInfo], models: tuple[str, ...], variants: tuple[str, ...],
                engines: tuple[str, ...],
                governors: tuple[str, ...] = (DEFAULT_GOVERNOR,)) -> list[BenchCase]:
    # device outermost: with --dist loadgroup each device's cells stay on one worker anyway,
    # and in a serial run one device finishes before the next starts. Governor next: a
    # device's cells of one governor are contiguous, so it is applied once per device and value
    axis = tuple(governors) != (DEFAULT_GOVERNOR,)
    return [BenchCase(d, m, v, e, g, axis) for d in devices for g in governors
            for m in models for v in variants for e in engines]


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
