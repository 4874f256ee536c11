"""The versioned ``Measurement`` record: one line of ``results.jsonl`` per test cell.

Format history (bump ``SCHEMA_VERSION`` and add an upgrade step in ``_UPGRADES`` for every change):
  1 - first version: identity (run, test, device, model, variant, engine), conditions,
      latency/memory/power/fidelity summaries, raw samples, status + reason.

Sub-objects are plain dicts so that new engines and device kinds can add keys without a schema
change; the keys every record has are checked in ``__post_init__``.
"""
from __future__ import annotations

import dataclasses
import functools
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable

SCHEMA_VERSION = 1

STATUSES = ("ok", "unsupported", "failed", "infra_error", "skipped")


def is_timeout(status: str | None, reason: str | None) -> bool:
    """A ``failed`` record whose tool ran out of time and was killed (errors.ToolTimeout), as
    opposed to one whose outputs failed their check or whose engine crashed."""
    from ..errors import TIMEOUT_PREFIX

    return status == "failed" and (reason or "").startswith(TIMEOUT_PREFIX)


class SchemaError(ValueError):
    """A record that cannot be read: unknown status, missing identity, newer schema."""


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Measurement:
    run_id: str
    test_id: str
    suite: str
    status: str
    device: dict[str, Any]
    model: dict[str, Any]
    variant: dict[str, Any]
    engine: dict[str, Any]
    reason: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    power: dict[str, Any] | None = None
    fidelity: dict[str, Any] | None = None
    samples_ms: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    timestamp: str = field(default_factory=_now_iso)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.status not in STATUSES:
            raise SchemaError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.status != "ok" and not self.reason:
            raise SchemaError(f"a {self.status!r} record needs a reason (test {self.test_id})")
        if self.status == "ok" and self.suite == "latency" and not self.latency:
            raise SchemaError(f"an ok latency record needs a latency summary (test {self.test_id})")
        for name in ("device", "model", "variant", "engine"):
            if "id" not in getattr(self, name) and "name" not in getattr(self, name):
                raise SchemaError(f"record {self.test_id}: {name} has neither 'id' nor 'name'")
        object.__setattr__(self, "samples_ms", tuple(float(v) for v in self.samples_ms))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["samples_ms"] = list(self.samples_ms)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        data = upgrade(dict(data))
        unknown = data.keys() - _field_names(cls)
        if unknown:
            raise SchemaError(f"unknown record fields {sorted(unknown)} for schema {SCHEMA_VERSION}")
        return cls(**data)

    def replace(self, **changes: Any) -> "Measurement":
        return dataclasses.replace(self, **changes)


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


# version N -> function turning a version-N dict into a version-(N+1) dict
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise SchemaError(f"bad schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaError(f"record has schema_version {version}, this edgelab reads up to "
                          f"{SCHEMA_VERSION}: upgrade edgelab to read it")
    while version < SCHEMA_VERSION:
        data = _UPGRADES[version](data)
        version += 1
        data["schema_version"] = version
    return data
