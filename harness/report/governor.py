"""Governor sweep: latency vs energy per inference, with the Pareto front marked, and the
governor x variant table in the seed's form.

Cells carry ``conditions.governor_requested`` and the record's ``power`` (telemetry/summary.py:
average power, energy per inference net of the idle window). The section renders when a device
was measured under more than one governor or any record has power; otherwise the page says in
one line that there was no sweep.

The seed's claims read "INT8 @ powersave: 680 ms vs 1240 ms, -34% power": each cell against fp32
on the same device, ABI, model, engine and threads at the reference governor: ``default`` (the
device as found) when the run measured it, else the first of performance, schedutil, or the
alphabetically first governor measured; the table says which it used.
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
REFERENCE = ("default", "performance", "schedutil")  # fp32 at the first measured is the baseline
SEED_KEY = ["device", "abi", "model", "engine", "threads"]


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
            "table": table(columns, view.sort_values(GROUP + ["central_ms"])),
            "variants_table": seed_table(cells)}


def _reference_governor(governors) -> str:
    present = set(governors)
    return next((g for g in REFERENCE if g in present), min(present))


def seed_table(cells: pd.DataFrame) -> dict[str, Any]:
    """Every cell against fp32 at the reference governor of its device/ABI/model/engine/threads:
    latency, average power and energy per inference, each as a change, and the claim in words."""
    fp32 = cells[cells["variant"] == "fp32"]
    if fp32.empty:
        return table(_seed_columns(), cells.iloc[0:0].assign(**dict.fromkeys(_SEED_NEW, "")))
    chosen = fp32.groupby(SEED_KEY, dropna=False)["governor"].agg(_reference_governor)
    ref = fp32.join(chosen.rename("ref_governor"), on=SEED_KEY)
    ref = ref[ref["governor"] == ref["ref_governor"]].drop_duplicates(SEED_KEY)
    ref = ref[SEED_KEY + ["ref_governor", "central_ms", "central_kind", "power_mw", "energy_mj"]]
    view = cells.merge(ref.rename(columns={"central_ms": "ref_ms", "central_kind": "ref_kind",
                                           "power_mw": "ref_power_mw", "energy_mj": "ref_energy_mj"}),
                       on=SEED_KEY, how="inner")
    same = view["central_kind"] == view["ref_kind"]
    view["latency_change"] = (view["central_ms"] / view["ref_ms"] - 1.0).where(same)
    view["power_change"] = view["power_mw"] / view["ref_power_mw"] - 1.0
    view["energy_change"] = view["energy_mj"] / view["ref_energy_mj"] - 1.0
    view["reference"] = "fp32 @ " + view["ref_governor"]
    view["claim"] = [_claim(r) for r in view.itertuples()]
    view["throttled_flag"] = np.where(view["throttled"].astype(bool), "throttled", "")
    order = SEED_KEY[:4] + ["variant", "governor"]
    return table(_seed_columns(), view.sort_values(order))


_SEED_NEW = ("reference", "ref_ms", "latency_change", "power_change", "energy_change", "claim",
             "throttled_flag", "ref_power_mw", "ref_energy_mj")


def _seed_columns() -> list[dict[str, Any]]:
    return [col("device", "device", filter=True), col("abi", "ABI"),
            col("model", "model", filter=True), col("engine", "engine", filter=True),
            col("variant", "variant", filter=True), col("governor", "governor", filter=True),
            col("claim", "as the seed says it",
                title="variant @ governor: its latency vs the reference's, then the change in "
                      "average power and in energy per inference"),
            *central_columns(), col("reference", "vs", filter=True,
                                    title="fp32 at the default governor where measured, else "
                                          "performance, schedutil, or the first measured"),
            col("ref_ms", "reference ms", "num", 3),
            col("latency_change", "latency vs ref", "pct", 1),
            col("power_mw", "avg power mW", "num", 0),
            col("power_change", "power vs ref", "pct", 1),
            col("energy_mj", "energy mJ/inference", "num", 3),
            col("energy_change", "energy vs ref", "pct", 1),
            col("temp_max_c", "max temp °C", "num", 1),
            col("throttled_flag", "throttled", filter=True)]


def _pct(value: float, what: str) -> str | None:
    if value is None or not np.isfinite(value):
        return None
    return f"{value * 100:+.0f}% {what}".replace("-", "\u2212")


def _claim(row) -> str:
    head = f"{str(row.variant).upper()} @ {row.governor}: "
    if not np.isfinite(row.central_ms):
        return head + "no latency"
    text = f"{row.central_ms:.3g} ms"
    if row.variant == "fp32" and row.governor == row.ref_governor:
        figures = [f"{row.power_mw:.0f} mW" if np.isfinite(row.power_mw) else "",
                   f"{row.energy_mj:.3g} mJ/inference" if np.isfinite(row.energy_mj) else ""]
        return head + ", ".join([text, *filter(None, figures)]) + " (the reference)"
    if np.isfinite(row.ref_ms) and row.central_kind == row.ref_kind:
        text += f" vs {row.ref_ms:.3g} ms"
    changes = [c for c in (_pct(row.power_change, "power"), _pct(row.energy_change, "energy"))
               if c]
    return head + ", ".join([text, *changes])


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
