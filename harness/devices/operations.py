"""Device state a run borrows, as ordered operations (pyperf style): check, read, apply, restore.

``prepared(ops, conditions, journal)`` is the one ``prepare()`` every device kind uses:

1. a journal a dead run left for this device is restored first (its snapshot is the owner's
   state; snapshotting over it would make the killed run's settings permanent); a journal whose
   run is still alive means the device is busy (InfraError);
2. for each operation the conditions ask for, in list order: ``check`` (Unsupported with the
   reason, before anything is written), ``read`` the snapshot, write it to the journal, then
   ``apply`` (which reads back and verifies);
3. on exit, however it comes (a cell's error, KeyboardInterrupt from Ctrl-C or SIGTERM, an
   apply that was refused half-way), the engaged operations are restored in reverse order, and
   the journal is removed only when every restore worked.

A restore that fails never hides the error that was already on its way out: it is added to that
error as a note (records show notes, see run/measure.py), and the journal stays for
``python -m harness devices --restore``. Without an error on its way, the failed restore is the
error (InfraError).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ..errors import InfraError
from . import journal as journal_mod
from .journal import Journal

DEFAULT = "default"


class Operation:
    """One piece of device state. Subclasses override what they need; snapshots are JSON-able."""
    name = "operation"

    def wants(self, conditions: dict[str, Any]) -> bool:
        return False

    def check(self, conditions: dict[str, Any]) -> None:
        """Raise Unsupported(reason) when this device cannot do it; nothing written yet."""

    def read(self) -> Any:
        return None

    def apply(self, conditions: dict[str, Any], before: Any) -> dict[str, Any]:
        """Change the state, read it back, raise Unsupported when the device kept another value;
        return what was observed (merged into the conditions the cell records)."""
        return {}

    def restore(self, before: Any) -> None:
        """Put ``before`` back (idempotent: it also runs after a partial apply)."""


@contextlib.contextmanager
def prepared(ops: list[Operation], conditions: dict[str, Any], journal: Journal,
             fix_hint: str) -> Iterator[dict[str, Any]]:
    """``fix_hint``: the command that repairs this device by hand (said when a restore fails)."""
    state: dict[str, Any] = {"governor": conditions.get("governor") or DEFAULT,
                             "applied": []}
    repaired = repair_stale(ops, journal, fix_hint)
    if repaired:
        state["repaired"] = repaired
    engaged: list[tuple[Operation, Any]] = []
    error: BaseException | None = None
    try:
        for op in ops:
            if not op.wants(conditions):
                continue
            op.check(conditions)
            before = op.read()
            engaged.append((op, before))      # restored even if apply stops half-way
            journal.record(op.name, before)   # on disk before the first write
            state.update(op.apply(conditions, before) or {})
            state["applied"].append(op.name)
        yield state
    except BaseException as exc:
        error = exc
        raise
    finally:
        if engaged:
            restore_engaged(engaged, journal, error, fix_hint)


def restore_engaged(engaged: list[tuple[Operation, Any]], journal: Journal,
                    error: BaseException | None, fix_hint: str) -> None:
    failures = []
    for op, before in reversed(engaged):
        try:
            op.restore(before)
        except Exception as exc:  # every operation gets its restore, whatever the others did
            failures.append(f"{op.name}: {exc}")
    if not failures:
        journal.clear()
        return
    message = (f"restoring {journal.device.get('id')} failed ({'; '.join(failures)}); its "
               f"snapshot stays in {journal.path}: repair with `{fix_hint}`")
    if error is not None:
        error.add_note(message)  # the original error stays the error; the note travels with it
        return
    raise InfraError(message, serial=journal.device.get("serial"))


def repair_stale(ops: list[Operation], journal: Journal, fix_hint: str) -> str | None:
    """Restore what a dead run journaled for this device; None when there was nothing."""
    data = journal_mod.read(journal.path)
    if data is None:
        return None
    if journal_mod.holder_alive(data):
        holder = data.get("holder") or {}
        raise InfraError(f"device {journal.device.get('id')} is held by another edgelab run "
                         f"(pid {holder.get('pid')}, since {data.get('written')}): it has "
                         f"changed {', '.join(data['entries'])} and will restore them when it ends",
                         serial=journal.device.get("serial"),
                         fix="wait for that run, or stop it (it restores on SIGTERM)")
    by_name = {op.name: op for op in ops}
    failures = []
    for name, before in reversed(list(data["entries"].items())):
        op = by_name.get(name)
        try:
            if op is None:
                raise InfraError(f"no operation {name!r} on this device kind")
            op.restore(before)
        except Exception as exc:
            failures.append(f"{name}: {exc}")
    if failures:
        raise InfraError(f"device {journal.device.get('id')}: a run that died left "
                         f"{journal.path} and restoring it failed ({'; '.join(failures)})",
                         serial=journal.device.get("serial"), fix=fix_hint)
    journal.path.unlink(missing_ok=True)
    return (f"restored {', '.join(data['entries'])} left by a run that died (pid "
            f"{(data.get('holder') or {}).get('pid')}, journal written {data.get('written')})")
