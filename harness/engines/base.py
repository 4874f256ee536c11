"""What every engine provides, and the raw result of one engine run.

An engine is small (MLCommons-backend style): identity, ``supports`` with a reason, an in-process
``load`` used inside the measuring child process, and ``run`` that picks how to measure on a given
device kind (child process on the host; the engine's official benchmark tool on phones).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from ..models.manifest import TensorSpec  # noqa: F401 - engines take it from here
from ..versions import dist_version  # noqa: F401 - likewise


@dataclass(frozen=True)
class Support:
    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class RunSettings:
    warmup: int = 10
    iterations: int = 50
    min_time_s: float = 0.0
    max_iterations: int = 100_000
    threads: int = 1
    timeout_s: float = 600.0
    save_outputs: str | None = None  # .npz path: outputs of the last timed iteration (fidelity)
    compute_units: str | None = None  # Core ML on iPhones (--ios-compute-units); None: "all"


@dataclass(frozen=True)
class RawRun:
    """What one measured engine run produced, before any statistics."""
    samples_ms: tuple[float, ...]
    load_ms: float | None
    first_ms: float | None
    peak_rss_mb: float | None
    rss_before_load_mb: float | None
    engine_version: str | None
    backend: str
    threads: int
    other_cpu_pct: float | None = None  # CPU used by other processes during the timed loop
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # the record's ``memory`` beside peak_rss_mb: where that figure comes from (``source``), the
    # tool's own figure when a device reading won (``tool_reported_mb``), ...
    memory: dict[str, Any] = field(default_factory=dict)


class LoadedModel(Protocol):
    inputs: Sequence[TensorSpec]
    backend: str

    def set_inputs(self, feed: dict[str, Any]) -> None:
        """Bind input arrays once, outside the timed loop."""

    def invoke(self) -> None:
        """One inference: the only call inside the timed region."""

    def outputs(self) -> list[Any]:
        """Outputs of the last invoke (read after timing)."""


class Engine(Protocol):
    name: str
    formats: tuple[str, ...]

    def version(self) -> str | None: ...

    def supports(self, artifact_format: str, device_profile: dict[str, Any]) -> Support: ...

    def load(self, path: str, threads: int) -> LoadedModel: ...


def format_support(engine: Engine, artifact_format: str,
                   device_profile: dict[str, Any] | None = None) -> Support:
    if artifact_format not in engine.formats:
        return Support(False, f"{engine.name} runs {'/'.join(engine.formats)} models, "
                              f"not {artifact_format}")
    # phones run the engine's own tool for their ABI; whether it is registered is decided when
    # the tool is picked, not by what this host has installed
    on_host = device_profile is None or device_profile.get("kind", "host") == "host"
    if on_host and engine.version() is None:
        return Support(False, f"{engine.name} is not installed on this machine "
                              f"(pip install 'edgelab[engines]')")
    return Support(True)
