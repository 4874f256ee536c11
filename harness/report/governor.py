"""Governor sweep: latency vs energy per inference, with the Pareto front marked.

Data arrives with the DVFS issue (``conditions.governor`` varied per cell, ``power`` filled in).
The section renders when a device was measured under more than one governor or any record has
power; otherwise the page says in one line that there was no sweep.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import svg
from .tables import central_columns, col, table

GROUP = ["device", "abi", "model"]  # one chart: every variant x engine x governor of a model
MAX_CHARTS = 12  # the table below the charts holds every point; charts are for a glance
UNKNOWN = {"", "unavailable", "unknown"}


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where no other point is at least as good on both axes and better on one (min, min)."""
    order = np.lexsort((y, x))
    front = np.zeros(len(x), dtype=bool)
    best_y = np.inf
    for i in order:
        if y[i] < best_y:
            front[i] = True
            best_y = y[i]
    return front


def governor_section(cells: pd.DataFrame) -> dict[str, Any]:
    known = cells[~cells["governor"].isin(UNKNOWN)]
    per_device = known.groupby("device")["governor"].nunique()
    swept = bool((per_device > 1).any())
    has_energy = bool(cells["energy_mj"].notna().any())
    if not (swept or has_energy):
        return {"present": False, "note": "no governor sweep in this run"}
    view = cells.reset_index(drop=True)
    at = np.flatnonzero(view["energy_mj"].notna().to_numpy())  # positions of points with energy
    points = view.iloc[at]
    front = np.zeros(len(view), dtype=bool)
    x, y = points["central_ms"].to_numpy(), points["energy_mj"].to_numpy()
    for rows in points.groupby(GROUP, sort=False).indices.values():
        front[at[rows]] = pareto_front(x[rows], y[rows])
    view["front"] = front
    governors = sorted(view["governor"].unique())
    classes = {g: i for i, g in enumerate(governors)}
    charts = _charts(view[view["energy_mj"].notna()], classes)
    if swept:
        view = view[view["device"].isin(per_device[per_device > 1].index) | view["energy_mj"].notna()]
    view = view.assign(pareto=np.where(view["front"], "yes", ""))
    columns = [col("device", "device", filter=True), col("abi", "ABI"), col("model", "model", filter=True),
               col("variant", "variant", filter=True), col("engine", "engine", filter=True),
               col("governor", "governor", filter=True), *central_columns(),
               col("energy_mj", "energy mJ/inference", "num", 3), col("power_mw", "mean power mW", "num", 0),
               col("temp_max_c", "max temp °C", "num", 1),
               col("pareto", "Pareto front", filter=True,
                   title="no other configuration of this device and model is both faster and "
                         "uses less energy per inference")]
    note = "" if has_energy else "governors were swept but no record carries power: latency only"
    return {"present": True, "note": note, "charts": charts, "legend": governors,
            "chart_groups": int(points.groupby(GROUP).ngroups) if len(points) else 0,
            "table": table(columns, view.sort_values(GROUP + ["central_ms"]))}


def _charts(points: pd.DataFrame, classes: dict[str, int]) -> list[Any]:
    groups = sorted(points.groupby(GROUP, sort=True), key=lambda kv: -len(kv[1]))[:MAX_CHARTS]
    charts = []
    for (device, abi, model), part in groups:
        # one device per chart, so one statistic: medians on the host, tool means on a phone
        data = [{"x": r.central_ms, "y": r.energy_mj, "series": r.governor, "front": bool(r.front),
                 "label": f"{r.variant} {r.engine} {r.governor}: {r.central_ms:.3g} ms "
                          f"({r.central_kind}), {r.energy_mj:.3g} mJ"
                          + (" (Pareto front)" if r.front else "")}
                for r in part.itertuples()]
        kinds = " / ".join(sorted(part["central_kind"].unique()))
        charts.append(svg.scatter(data, f"latency ms ({kinds})", "energy mJ / inference",
                                  f"{model} on {device} ({abi})", classes))
    return charts
