"""A host engine child that runs past --edgelab-timeout is killed and recorded like a phone tool
killed by the device's `timeout`: failed, with a reason that starts with "timeout:"."""
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.engines.base import RunSettings
from harness.engines.hostrun import run_on_host
from harness.errors import InfraError, ToolTimeout
from harness.models.manifest import InputSpec
from harness.results.schema import is_timeout


def test_a_host_child_past_the_timeout_is_killed_and_is_a_timeout(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"never loaded: the child is killed while it still imports")
    settings = RunSettings(warmup=1, iterations=1, threads=1, timeout_s=0.05)
    started = time.monotonic()
    with pytest.raises(ToolTimeout) as info:
        run_on_host(SimpleNamespace(name="onnxruntime"), Path(model), InputSpec(), settings)
    assert time.monotonic() - started < 5  # killed at the bound, not left to run
    assert not isinstance(info.value, InfraError)
    assert str(info.value).startswith("timeout: the engine child running m.onnx did not finish "
                                      "within 0.05 s; killed by the host")
    assert is_timeout("failed", str(info.value)) and not is_timeout("infra_error", str(info.value))
