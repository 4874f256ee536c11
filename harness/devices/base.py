"""The ``Device`` interface every device kind implements, and its identity record.

A device is borrowed: ``prepare(conditions)`` snapshots whatever it changes (governors, ...) and
restores it on exit, whatever happens inside. Constructors never talk to the device; ``probe``
and ``profile`` do.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: devices do not import engines at run time
    from ..engines.base import RawRun


@dataclass(frozen=True)
class DeviceInfo:
    """Identity of one device as discovery found it: serialisable, passed to xdist workers."""
    id: str               # what --device accepts and test ids show: "host", a serial, ...
    kind: str             # host | android | ios | virtual-android
    serial: str
    model: str = ""
    state: str = "device"  # android states: device, unauthorized, offline, ...
    virtual: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeviceInfo":
        return cls(**data)


@dataclass(frozen=True)
class ExecResult:
    rc: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.rc == 0


@runtime_checkable
class Device(Protocol):
    info: DeviceInfo

    def profile(self) -> dict[str, Any]:
        """ABIs, OS, SoC/CPU, cores, governors, thermal zones (probed once, then cached)."""

    def exec(self, argv: list[str], timeout: float | None = None) -> ExecResult:
        """Run a command on the device (each argument quoted for the device's shell); the
        timeout defaults to the one the device was opened with (the run's)."""

    def push(self, local: Path, remote_dir: str) -> str:
        """Copy a file, or a directory with everything in it (Core ML's ``.mlpackage`` and
        ``.mlmodelc`` are directories), to ``remote_dir`` if its content is not there yet;
        return the device path of the copy."""

    def pull(self, remote: str, local: Path) -> Path: ...

    def prepare(self, conditions: dict[str, Any]) -> contextlib.AbstractContextManager[dict]:
        """Apply run conditions, yield what was actually set, restore on exit."""

    def sample(self) -> dict[str, Any]:
        """One telemetry sample: temperatures, frequencies, battery/charging where known."""

    def run_engine(self, engine, artifact, spec, settings) -> "RawRun":
        """Measure one engine job here, the way this kind of device runs one: a child process
        on the host, the engine's official tool over adb on Android, the runner app on iOS.
        ``artifact`` is a ``models.variants.Artifact``, ``spec`` its ``ModelSpec``, ``settings``
        the ``engines.base.RunSettings``; errors are ``Unsupported``/``InfraError``/
        ``MeasurementError`` like everywhere else. The engines layer does the work: each
        device imports its runner lazily (devices stay importable without engines)."""


@contextlib.contextmanager
def no_preparation(current: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """For devices whose state the harness cannot change: report what is, change nothing."""
    yield dict(current)
