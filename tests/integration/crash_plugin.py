"""A pytest plugin that kills the xdist worker running a chosen cell (tests of worker crashes).

Loaded into a suite run with ``-p crash_plugin`` (tests/integration on PYTHONPATH). When the test
id contains ``$EDGELAB_TEST_CRASH_CELL``, the worker process dies on the spot (``os._exit``: no
teardown, no session finish), as one killed by a segfault or the OOM killer would.
"""
import os


def pytest_runtest_call(item):
    wanted = os.environ.get("EDGELAB_TEST_CRASH_CELL")
    if wanted and wanted in item.nodeid and os.environ.get("PYTEST_XDIST_WORKER"):
        os._exit(70)
