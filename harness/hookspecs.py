"""Hooks a lab's conftest.py can implement to change edgelab's policy without forking it."""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec(firstresult=True)
def edgelab_select_devices(config, found, wanted):
    """Pick the devices to measure; return a list of DeviceInfo to replace the default choice.

    ``found`` is every DeviceInfo discovery returned, ``wanted`` the ``--device`` ids. The default
    honours ``--device``. Example, a lab that never benchmarks on phones below 30 % battery::

        def edgelab_select_devices(config, found, wanted):
            return [d for d in found if d.details.get("battery_pct", 100) >= 30]
    """


@hookspec
def edgelab_update_run_info(config, info):
    """Add to the run's ``run.json`` (e.g. the lab's rack id or CI build URL) by mutating ``info``.

    Example::

        def edgelab_update_run_info(config, info):
            info["lab"] = {"rack": "r3", "build": os.environ.get("BUILD_URL")}
    """
