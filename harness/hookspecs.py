"""Hooks a lab's conftest.py can implement to change edgelab's policy without forking it.

Named pytest_edgelab_*: pytest only picks up conftest functions with the pytest_ prefix as hook
implementations (unless each is decorated), the same reason pytest-benchmark names its hooks
pytest_benchmark_*.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec(firstresult=True)
def pytest_edgelab_select_devices(config, found, wanted):
    """Pick the devices to measure; return a list of DeviceInfo to replace the default choice.

    ``found`` is every DeviceInfo discovery returned, ``wanted`` the ``--device`` ids. The default
    honours ``--device``. Example, a lab that never benchmarks on phones below 30 % battery::

        def pytest_edgelab_select_devices(config, found, wanted):
            return [d for d in found if d.details.get("battery_pct", 100) >= 30]
    """


@hookspec
def pytest_edgelab_update_run_info(config, info):
    """Add to the run's ``run.json`` (e.g. the lab's rack id or CI build URL) by mutating ``info``.

    Example::

        def pytest_edgelab_update_run_info(config, info):
            info["lab"] = {"rack": "r3", "build": os.environ.get("BUILD_URL")}
    """
