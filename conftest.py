"""Lab-level conftest shared by suites/ and tests/.

The edgelab plugin itself loads through its pytest11 entry point (harness.plugin); this file is
the place for lab-specific policy (device allow-lists, extra hooks) and stays thin.
"""
