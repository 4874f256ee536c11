"""Parse memory dumps: ``dumpsys meminfo <pkg>``, ``/proc/meminfo``, ``/proc/<pid>/status``.

One text may hold several of them (crash reports paste /proc/meminfo and the
process status together).  Returned keys (kB unless noted, None if absent):

- ``kind``: "dumpsys_meminfo", "proc_meminfo", "proc_status", or "mixed";
  ``kinds``: every kind found, in that order.
- dumpsys meminfo: ``pid``, ``package``, ``total_pss_kb`` (TOTAL row "Pss
  Total", else "TOTAL PSS:" of the App Summary), ``total_private_dirty_kb``,
  ``total_private_clean_kb``, ``total_swap_kb`` (the "Swapped Dirty" or
  "SwapPss Dirty" column), ``total_rss_kb``, ``native_heap_kb`` /
  ``dalvik_heap_kb`` (Pss Total of those rows), ``rows``: ``{row label:
  {column_kb: int}}`` for the whole table; system-wide dumps give
  ``total_ram_kb``, ``free_ram_kb``, ``used_ram_kb``, ``lost_ram_kb``.
- /proc/meminfo: ``mem_total_kb``, ``mem_free_kb``, ``mem_available_kb``
  (None on kernels < 3.14, which lack MemAvailable),
  ``mem_available_estimated_kb`` (MemAvailable, else MemFree + Buffers +
  Cached), ``swap_total_kb``, ``swap_free_kb``, ``meminfo_kb`` (every line).
- /proc/<pid>/status: ``process_name``, ``process_pid``, ``vm_hwm_kb`` (peak
  RSS), ``vm_rss_kb``, ``vm_peak_kb``, ``vm_size_kb``, ``vm_swap_kb``,
  ``rss_anon_kb``, ``rss_file_kb``, ``rss_shmem_kb``, ``threads``.
- ``error``: when none of the three layouts was recognised.

Quirks: dumpsys columns are right-aligned under a two-row header; values are
assigned to columns by position (rows omit trailing heap columns) and, if the
alignment was lost, left to right.  Truncated tables keep the rows read.
System-wide figures are printed as "3,834,416K".
"""

from __future__ import annotations

import re

from ._text import clean_lines, to_int

_KB_LINE = re.compile(r"^\s*(\w[\w()]*):\s+(\d+)\s*kB\b", re.I)
_STATUS_LINE = re.compile(r"^\s*(Name|State|Pid|Tgid|PPid|Threads):\s*(.*)$")
_MEMINFO_HDR = re.compile(r"\*\*\s*MEMINFO in pid (\d+) \[([^\]]*)\]")
_DASHES = re.compile(r"-{3,}")
_ROW = re.compile(r"^(\s*\S.*?)\s+(\d[\d\s]*)$")
_RAM = re.compile(r"^\s*(Total|Free|Used|Lost) RAM:\s*(-?[\d,]+)\s*K", re.I)
_SUMMARY_PSS = re.compile(r"TOTAL(?: PSS)?:\s*(\d+)")


def _columns(header1: str, header2: str, dashes: str) -> list[tuple[int, int, str]]:
    """Column spans from the dash line, named by the two header rows above it.

    Header words are right-aligned like the numbers and may be wider than the
    dashes ("Private" over "------"), so each word goes to the span whose end
    is nearest to the word's end.
    """
    spans = [(m.start(), m.end()) for m in _DASHES.finditer(dashes)]
    names: list[list[str]] = [[] for _ in spans]
    for header in (header1, header2):
        for word in re.finditer(r"\S+", header):
            nearest = min(range(len(spans)), key=lambda i: abs(spans[i][1] - word.end()))
            names[nearest].append(word.group(0))
    return [(start, end, "_".join(w.lower() for w in words) + "_kb")
            for (start, end), words in zip(spans, names)]


def _row_values(line: str, label_end: int, spans: list) -> dict[str, int]:
    values: dict[str, int] = {}
    tokens = list(re.finditer(r"\d+", line[label_end:]))
    for index, token in enumerate(tokens):
        end = label_end + token.end()
        column = next((key for start, stop, key in spans if start <= end - 1 < stop + 1), None)
        if column is None or column in values:  # alignment lost: fall back to order
            column = spans[index][2] if index < len(spans) else None
        if column:
            values[column] = int(token.group(0))
    return values


def _dumpsys_table(lines: list[str]) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    spans: list = []
    for index, line in enumerate(lines):
        if _DASHES.search(line) and index >= 2 and not re.search(r"[A-Za-z0-9]", line):
            # Only the per-category table ("Pss / Total" header); the App
            # Summary below it has its own dashes and a different layout.
            if re.search(r"\bTotal\b", lines[index - 1]):
                spans = _columns(lines[index - 2], lines[index - 1], line)
            continue
        match = _ROW.match(line)
        if spans and match:
            label = match.group(1).strip()
            rows.setdefault(label, _row_values(line, match.end(1), spans))
        elif spans and not line.strip():
            spans = [] if rows else spans  # a blank line ends the table
    return rows


def _dumpsys(lines: list[str], text: str) -> dict:
    header = _MEMINFO_HDR.search(text)
    rows = _dumpsys_table(lines)
    total = rows.get("TOTAL", {})
    summary = _SUMMARY_PSS.search(text[text.find("App Summary"):]) if "App Summary" in text else None
    out = {
        "pid": int(header.group(1)) if header else None,
        "package": header.group(2) if header else None,
        "total_pss_kb": total.get("pss_total_kb", int(summary.group(1)) if summary else None),
        "total_private_dirty_kb": total.get("private_dirty_kb"),
        "total_private_clean_kb": total.get("private_clean_kb"),
        "total_swap_kb": total.get("swapped_dirty_kb", total.get("swappss_dirty_kb")),
        "total_rss_kb": total.get("rss_total_kb"),
        "native_heap_kb": rows.get("Native Heap", {}).get("pss_total_kb"),
        "dalvik_heap_kb": rows.get("Dalvik Heap", {}).get("pss_total_kb"),
        "rows": rows,
    }
    for line in lines:
        if (m := _RAM.match(line)):
            out[f"{m.group(1).lower()}_ram_kb"] = int(m.group(2).replace(",", ""))
    return out


def _proc_meminfo(kb: dict[str, int]) -> dict:
    estimate = kb.get("MemAvailable")
    if estimate is None and "MemFree" in kb:
        estimate = kb["MemFree"] + kb.get("Buffers", 0) + kb.get("Cached", 0)
    return {"mem_total_kb": kb.get("MemTotal"), "mem_free_kb": kb.get("MemFree"),
            "mem_available_kb": kb.get("MemAvailable"), "mem_available_estimated_kb": estimate,
            "swap_total_kb": kb.get("SwapTotal"), "swap_free_kb": kb.get("SwapFree"),
            "meminfo_kb": {k: v for k, v in kb.items() if not k.startswith(("Vm", "Rss"))}}


def _proc_status(kb: dict[str, int], status: dict[str, str]) -> dict:
    return {"process_name": status.get("Name"), "process_pid": to_int(status.get("Pid")),
            "threads": to_int(status.get("Threads")),
            **{name: kb.get(key) for name, key in (
                ("vm_hwm_kb", "VmHWM"), ("vm_rss_kb", "VmRSS"), ("vm_peak_kb", "VmPeak"),
                ("vm_size_kb", "VmSize"), ("vm_swap_kb", "VmSwap"), ("rss_anon_kb", "RssAnon"),
                ("rss_file_kb", "RssFile"), ("rss_shmem_kb", "RssShmem"))}}


def parse(text: str) -> dict:
    lines = clean_lines(text)
    joined = "\n".join(lines)
    kb: dict[str, int] = {}
    status: dict[str, str] = {}
    for line in lines:
        if (m := _KB_LINE.match(line)):
            kb.setdefault(m.group(1), int(m.group(2)))
        elif (m := _STATUS_LINE.match(line)):
            status.setdefault(m.group(1), m.group(2).strip())
    kinds = []
    if _MEMINFO_HDR.search(joined) or "Applications Memory Usage" in joined or _RAM.search(joined):
        kinds.append("dumpsys_meminfo")
    if "MemTotal" in kb or "MemFree" in kb:
        kinds.append("proc_meminfo")
    if any(k.startswith(("Vm", "Rss")) for k in kb) or ("Name" in status and "Pid" in status):
        kinds.append("proc_status")
    result: dict = {"kind": kinds[0] if len(kinds) == 1 else ("mixed" if kinds else None),
                    "kinds": kinds}
    result.update(_dumpsys(lines, joined) if "dumpsys_meminfo" in kinds else {})
    result.update(_proc_meminfo(kb) if "proc_meminfo" in kinds else {})
    result.update(_proc_status(kb, status) if "proc_status" in kinds else {})
    if not kinds:
        result["error"] = "no dumpsys meminfo table, /proc/meminfo or /proc/<pid>/status lines"
    return result
