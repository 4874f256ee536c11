"""Tiny text helpers shared by the parsers (pure, stdlib only).

Every parser receives whatever a device or tool printed, so these helpers
accept anything: ``None``, ``bytes``, CRLF or lone-CR line endings, NUL bytes,
numbers such as ``3.02496e+07`` or ``1,234`` and Android log prefixes.
"""

from __future__ import annotations

import math
import re

# One number as C/C++ tools print it: optional sign, optional thousands
# separators ("1,234" from dumpsys), optional fraction, optional exponent
# ("3.02496e+07" is what std::ostream prints for a large double), or nan/inf
# (printf of 0/0 or DBL_MAX-style sentinels).  The integer part is matched
# before the grouping form so "855, First" stops at "855".
NUM = (
    r"[-+]?(?:"
    r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?"
    r"|\.\d+(?:[eE][-+]?\d+)?"
    r"|(?i:nan|inf(?:inity)?)"
    r")"
)
_NUM_RE = re.compile(NUM)

# logcat "threadtime"/"time"/"epoch" prefixes, optionally with a uid column:
#   05-30 15:16:44.857  3380  3380 I tflite  : msg
#   2024-05-30 15:16:44.857  3380  3380 I tflite: msg
#   1713330306.678  1000  1819  1826 I pixel-thermal: msg
_LOGCAT_THREADTIME = re.compile(
    r"^(?:(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d(?:\.\d+)?|\d{9,}\.\d+)"
    r"(?:\s+[+-]\d{4})?\s+(?:[\w.]+\s+)?\d+\s+\d+\s+[VDIWEFSA]\s+[^:]*?\s*:\s?"
)
# logcat "brief"/"tag"/"time" prefixes: "I/tflite  ( 1234): msg", "I/tflite: msg"
_LOGCAT_BRIEF = re.compile(
    r"^(?:(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d(?:\.\d+)?\s+)?"
    r"[VDIWEFSA]/[^\s(:][^(:]*?\s*(?:\(\s*\d+\s*\))?\s*:\s?"
)
# Tag prefixes some engines add on their own (MNN_PRINT on Android -> "MNN: ").
_TAG_PREFIX = re.compile(r"^(?:MNN|MNNJNI)\s*:\s?")


def as_text(text: object) -> str:
    """Coerce any input to ``str`` (bytes are decoded leniently)."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", errors="replace")
    return text if isinstance(text, str) else str(text)


def clean_lines(text: object) -> list[str]:
    """Split into lines; CRLF/CR endings and NUL bytes are tolerated."""
    raw = as_text(text).replace("\x00", "")
    # splitlines() also splits on \x0b, \x0c, \x1c.. which only occur in junk.
    return raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def strip_log_prefix(line: str) -> str:
    """Remove a logcat / engine tag prefix so the tool's own text remains."""
    for pattern in (_LOGCAT_THREADTIME, _LOGCAT_BRIEF, _TAG_PREFIX):
        match = pattern.match(line)
        if match:
            return line[match.end():]
    return line


def log_lines(text: object) -> list[str]:
    """clean_lines() with log prefixes removed and trailing blanks stripped."""
    return [strip_log_prefix(line).rstrip() for line in clean_lines(text)]


def to_float(value: object) -> float | None:
    """Parse one number ("3.60", "3.02496e+07", "1,234"); None if not finite."""
    if value is None:
        return None
    match = _NUM_RE.search(str(value))
    if not match:
        return None
    try:
        number = float(match.group(0).replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def to_int(value: object) -> int | None:
    """Parse an integer; "42", "1,234", "42.0" and "4.2e+01" all give 42."""
    number = to_float(value)
    if number is None or number != int(number):
        return None
    return int(number)


def to_hex(value: object) -> int | None:
    """Parse "0x51" / "51" (hex as /proc/cpuinfo prints it)."""
    match = re.search(r"(?:0[xX])?([0-9a-fA-F]+)", str(value or ""))
    return int(match.group(1), 16) if match else None


def to_bool(value: object) -> bool | None:
    """Parse true/false/1/0/yes/no as dumpsys and tool echoes print them."""
    word = str(value or "").strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    return None


def split_kv(line: str, sep: str = ":") -> tuple[str, str] | None:
    """Split "key<sep>value" on the first separator; None when absent."""
    if sep not in line:
        return None
    key, value = line.split(sep, 1)
    return key.strip(), value.strip()


def int_list(value: object) -> list[int]:
    """Parse "0 1 2 3", "0-3", "0-3,6" or "324000 610000 " into ints."""
    out: list[int] = []
    for token in re.split(r"[\s,]+", str(value or "").strip()):
        span = re.fullmatch(r"(\d+)-(\d+)", token)
        if span:
            low, high = int(span.group(1)), int(span.group(2))
            out.extend(range(low, min(high, low + 4096) + 1))
        elif token.isdigit():
            out.append(int(token))
    return out


# Why a benchmark parser found no result, in ``error_kind`` beside ``error``. A caller acts on
# them differently: the wrong file or --tool (NOT_TOOL_OUTPUT), a capture to take again in full
# (CUT_SHORT), or a real failure of the measured run to report (RUN_FAILED).
NOT_TOOL_OUTPUT = "not_tool_output"
CUT_SHORT = "cut_short"
RUN_FAILED = "run_failed"


def no_result(kind: str, message: str) -> dict:
    return {"error": message, "error_kind": kind}
