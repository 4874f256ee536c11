"""One error tree for the harness.

``HarnessError`` is the root. What a caller does with an error decides its class:

- ``UsageError``: bad input from the person running the harness (unknown device, bad option value,
  missing model). Shown as one message naming the problem and the fix; nothing has been measured.
- ``InfraError``: the device or its transport failed (offline, unauthorized, storage full, hung tool).
  Recorded as ``infra_error``; it is never a regression and the rest of the run goes on.
- ``Unsupported``: the combination cannot work (a .tflite model on ONNX Runtime, an arm64 tool on an
  ARMv7-only phone). Recorded as ``unsupported`` with the reason.
- ``MeasurementError``: the thing under test failed (corrupt model, engine crash, output drift).
  Recorded as ``failed``.
"""
from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """Bad input from the user: the message says what is wrong and how to fix it."""


class InfraError(HarnessError):
    """A device or transport problem: not the model's fault, not a regression."""

    def __init__(self, message: str, *, serial: str | None = None, command: str | None = None,
                 stderr_tail: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.serial = serial
        self.command = command
        self.stderr_tail = stderr_tail
        self.fix = fix

    def __str__(self) -> str:
        text = super().__str__()
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class Unsupported(HarnessError):
    """The requested combination cannot run; ``reason`` says why in one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MeasurementError(HarnessError):
    """The measured thing failed: corrupt model, engine error, output drift."""


TIMEOUT_PREFIX = "timeout:"  # how a timed-out cell's reason starts (readers: results/schema.py)


class ToolTimeout(MeasurementError):
    """The measured tool (a phone's benchmark tool, a host engine child) did not finish within
    the timeout and was killed, while the device itself still answered. Recorded as ``failed``
    with a reason that starts with ``timeout:`` (results/schema.py ``is_timeout``): the thing
    under test stopped making progress, unlike a device that stopped answering (``InfraError``,
    devices/hang.py). The gate calls such a cell "broke", not "outputs drifted"."""

    def __init__(self, tool: str, limit_s: float, how: str):
        super().__init__(f"{TIMEOUT_PREFIX} {tool} did not finish within {limit_s:g} s; {how}")
        self.tool, self.limit_s, self.how = tool, limit_s, how

