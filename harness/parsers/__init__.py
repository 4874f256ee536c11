"""Pure text parsers for device and tool outputs, behind one front door.

``parse(tool, text)`` turns what a phone or a benchmark tool printed into a
plain dict (see each module's docstring, and docs/parsers.md, for the keys and
units).  Parsers never raise on bad input: they return what they could read
plus an ``"error"`` key saying why the rest is missing.

``detect(text)`` guesses which tool printed a text (used by the CLI when
``--tool`` is omitted).
"""

from __future__ import annotations

import importlib
import re

from ._text import as_text

# tool name -> module path; modules are imported on first use only.
TOOLS: dict[str, str] = {
    "getprop": "harness.parsers.getprop",
    "battery": "harness.parsers.battery",
    "tflite_benchmark_model": "harness.parsers.tflite_benchmark_model",
    "benchncnn": "harness.parsers.benchncnn",
    "mnn_benchmark": "harness.parsers.mnn_benchmark",
    "onnxruntime_perf_test": "harness.parsers.onnxruntime_perf_test",
    "cpuinfo": "harness.parsers.cpuinfo",
    "cpufreq": "harness.parsers.cpufreq",
    "thermal": "harness.parsers.thermal",
    "meminfo": "harness.parsers.meminfo",
    "adb_devices": "harness.parsers.adb_devices",
    "ios_info": "harness.parsers.ios_info",
    "exec_failure": "harness.parsers.exec_failure",
    "sampler_stream": "harness.parsers.sampler_stream",
}

# Other names callers use for a tool: expected.json's "kind" says "ios", and the benchmark tools'
# own file names (what `python -m harness tools list` shows, engines/tools.py TOOL_SPECS).
ALIASES: dict[str, str] = {
    "ios": "ios_info",
    "benchmark_model": "tflite_benchmark_model",
    "benchmark.out": "mnn_benchmark",
}

# Ordered: the first tool whose signature matches wins.  Specific, rarely
# shared phrases come first; generic shapes (key: value lines) come last.
_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("getprop", re.compile(r"^\s*\[[\w.\-]+\]\s*:\s*\[", re.M)),
    ("sampler_stream", re.compile(r"^# edgelab-sampler \d+", re.M)),
    ("tflite_benchmark_model", re.compile(
        r"Inference timings in us|Running benchmark for at least|"
        r"Initialized session in [\d.]+ms|^\W*(?:INFO: )?STARTING!", re.M)),
    ("benchncnn", re.compile(
        r"^\s*loop_count = -?\d+|^\s*\S+\s+(?:[cg]pu\s+)?min = \s*[\d.]+\s+max = ", re.M)),
    ("mnn_benchmark", re.compile(r"Forward type:|^\[ - \] .*max =", re.M)),
    ("onnxruntime_perf_test", re.compile(
        r"Average inference time cost|Total inference requests|"
        r"Average time cost:|P50 Latency|Session creation time cost")),
    ("battery", re.compile(r"Current Battery Service state|^\s*AC powered:", re.M | re.I)),
    ("thermal", re.compile(
        r"Temperature\{mValue=|Thermal Status:|CoolingDevice\{|raw data:|"
        r"thermal_zone\d|cat \S*/temp\b")),
    ("meminfo", re.compile(
        r"\*\* MEMINFO in pid|Applications Memory Usage|^\s*MemTotal:|"
        r"^\s*Vm(?:HWM|RSS):|Total PSS by process", re.M)),
    ("adb_devices", re.compile(r"List of devices attached")),
    ("exec_failure", re.compile(
        r"CANNOT LINK EXECUTABLE|Exec format error|not executable: \d+-bit|"
        r"cannot execute binary file|INSTALL_FAILED_|^error: (?:device|no devices)|"
        r"device unauthorized|device offline|No space left on device", re.M)),
    ("cpufreq", re.compile(r"/sys/devices/system/cpu/\S*:|(?:^|/)cpu\d+/cpufreq/\w+\s*:", re.M)),
    ("cpuinfo", re.compile(r"^(?:CPU implementer|CPU part|BogoMIPS|processor)\s*:", re.M | re.I)),
    ("ios_info", re.compile(
        r"ProductType|ProductVersion|UniqueDeviceID|List of apple devices attached|"
        r"\"OSVersion\"")),
)


def parse(tool: str, text: str) -> dict:
    """Parse ``text`` printed by ``tool``; unknown tool -> ValueError."""
    tool = ALIASES.get(tool, tool)
    if tool not in TOOLS:
        valid = ", ".join(sorted(TOOLS))
        raise ValueError(f"unknown tool {tool!r}; valid tools: {valid} (also: "
                         f"{', '.join(ALIASES)})")
    try:
        module = importlib.import_module(TOOLS[tool])
        return module.parse(as_text(text))
    except Exception as exc:  # parsers must never take the caller down
        return {"error": f"parser crashed: {type(exc).__name__}: {exc}"}


def __getattr__(name: str):
    """``parsers.exec_failure`` and friends import their module on first use (PEP 562)."""
    if name in TOOLS:
        return importlib.import_module(TOOLS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def detect(text: str) -> str | None:
    """Best-effort guess of the tool that printed ``text`` (None if unsure)."""
    sample = as_text(text)
    for tool, signature in _SIGNATURES:
        if signature.search(sample):
            return tool
    return None
