"""pytest-xdist for a device farm: one worker per device, each device's cells on one worker.

A device is one physical thing: two workers measuring it at once would measure each other. Its
cells carry ``xdist_group(<device id>)`` marks, which only ``--dist loadgroup`` honours, so
whenever ``-n`` is used on suites edgelab picks loadgroup itself (``-n`` alone means ``--dist
load`` to xdist, which spreads one phone's cells over workers). Other modes are refused: each
of them can put two workers on one phone. ``-n auto`` means one worker per device (discovery
runs once, on the controller, before the workers start), not one per host CPU: the work of a
phone cell is on the phone, and the host's part is orchestration.
"""
from __future__ import annotations

from ..errors import UsageError

SAFE_MODES = ("no", "loadgroup")


def choose_distribution(option) -> None:
    """Set ``--dist loadgroup`` for a run of suites with ``-n``; refuse a mode that splits
    devices. Called before xdist's own ``pytest_cmdline_main`` (which turns "no" into "load")."""
    if getattr(option, "distload", False):  # `-d`: the old spelling of --dist load
        option.dist = "load"
    if not getattr(option, "numprocesses", None) and option.dist == "no":
        return
    if option.dist == "no":
        option.dist = "loadgroup"
    elif option.dist not in SAFE_MODES:
        raise UsageError(f"--dist {option.dist}: edgelab needs --dist loadgroup so that one "
                         f"device's cells stay on one worker (two workers on one phone measure "
                         f"each other); drop --dist and edgelab sets it with -n")


def workers_for(devices) -> int:
    """``-n auto``: one worker per device (at least one)."""
    return max(1, len(devices))
