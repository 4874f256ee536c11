"""Telemetry: what a device did while a model ran: frequencies, temperatures, power.

- ``android.StreamingSampler``: one sh loop per measurement on its own adb stream (script.py);
- ``host.HostSampler``: a thread reading psutil, thermal zones and RAPL;
- both give ``sample.Window``s of ``sample.Sample``s (``sampler.window("timed")``);
- pure computations: ``power`` (battery units and sign, charging, energy counters), ``energy``
  (average power, energy per inference and its CI), ``throttle``, ``trace``; ``summary``
  combines them into the dict a record keeps.

See docs/telemetry.md. Samplers never raise into a measurement: they report ``lost``.
"""
from __future__ import annotations

from .android import StreamingSampler, probe_plan
from .host import HostSampler
from .sample import Sample, Window
from .summary import summarize

__all__ = ["HostSampler", "Sample", "StreamingSampler", "Window", "probe_plan", "summarize"]
