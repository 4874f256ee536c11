"""The parameter grid: device x model x variant x engine, with readable, stable test ids."""
from __future__ import annotations

from dataclasses import dataclass

from ..devices.base import DeviceInfo


@dataclass(frozen=True)
class BenchCase:
    device: DeviceInfo
    model: str
    variant: str
    engine: str

    @property
    def id(self) -> str:
        return f"{self.device.id}-{self.model}-{self.variant}-{self.engine}"


def build_cases(devices: list[DeviceInfo], models: tuple[str, ...], variants: tuple[str, ...],
                engines: tuple[str, ...]) -> list[BenchCase]:
    # device outermost: with --dist loadgroup each device's cells stay on one worker anyway,
    # and in a serial run one device finishes before the next starts (one prepare/restore each)
    return [BenchCase(d, m, v, e) for d in devices for m in models for v in variants for e in engines]
