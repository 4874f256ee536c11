"""Thermal / frequency / power traces carried by records (``extra.trace``), as SVG panels.

A trace is what telemetry/trace.py writes (series by name over shared bucket times, the timed
loop marked) or, from other writers, a list of point dicts; ``svg.trace_panels`` reads both.

Traces are per record, so they are the one part of the report that grows with the record count;
it shows the most telling few (throttled first, then the hottest) and says how many it left out.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from . import svg
from .frame import RecordTable

MAX_TRACES = 12


def _peak_temp(trace) -> float:
    temps = [float(v.max()) for key, _, lines in svg.trace_panels(trace) if key == "temp_c"
             for _, _, v in lines]
    return max(temps) if temps else float("-inf")


def trace_section(table: RecordTable) -> dict[str, Any]:
    if not table.traces:
        return {"charts": [], "total": 0}
    frame: pd.DataFrame = table.frame
    ranked = sorted(table.traces, key=lambda i: (not frame.at[i, "throttled"],
                                                 -_peak_temp(table.traces[i]), i))
    charts = []
    for idx in ranked:
        if len(charts) == MAX_TRACES:
            break
        row = frame.loc[idx]
        title = (f"{row['device']} · {row['model']} {row['variant']} {row['engine']}"
                 + (f" · {row['governor']}" if row["governor"] else "")
                 + (" · throttled" if row["throttled"] else ""))
        chart = svg.trace_chart(table.traces[idx], title)
        if chart is not None:
            charts.append(chart)
    return {"charts": charts, "total": len(table.traces)}
