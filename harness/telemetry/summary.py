"""One measurement's telemetry as a record-ready dict: what measure.py stores (pure).

    summary = summarize(timed, idle=idle, inferences=n, set_levels_khz=None,
                        unavailable=host_sampler.rapl_unavailable, trace_window=run)

Power sources, in order of preference for the headline (``power.source``):

- ``battery`` (phones): current x voltage, units and sign detected (power.py); invalid while
  charging, with the reason;
- ``odpm`` (Pixels' on-device power monitor): every rail's energy counter, summed (device-side
  meters of the SoC rails: not the whole phone, so battery wins when valid);
- ``rapl`` (hosts): the package domains' energy counters (or psys).

Each source present is kept in ``power.sources`` with its own figures. A source needs at least
``MIN_READINGS`` power readings in the timed window: one reading of a 50 ms loop is a snapshot,
not an average (the reason says how long the window was and how to lengthen it). A window whose
sampler died says so in ``lost``; whatever it sampled before is still summarised.
"""
from __future__ import annotations

from .energy import energy_per_inference
from .power import (battery_convention, battery_power_mw, charging_reason, counter_keys,
                    counter_power_mw)
from .sample import Sample, Window
from .throttle import detect_throttle
from .trace import downsample


MIN_READINGS = 2


def summarize(timed: Window, idle: Window | None = None, inferences: int | None = None,
              set_levels_khz: dict[str, int] | None = None, unavailable: str | None = None,
              trace_points: int = 200, trace_window: Window | None = None) -> dict:
    """``trace_window``: the stretch the trace covers (default the timed window; the runner
    passes the whole engine run, so load and warm-up show beside the timed loop)."""
    sources = power_sources(timed, idle, inferences)
    primary = next((name for name in ("battery", "odpm", "rapl")
                    if sources.get(name, {}).get("valid")), None)
    power = {"source": primary, "sources": sources}
    if primary:
        chosen = sources[primary]
        power.update({key: chosen.get(key) for key in
                      ("energy_per_inference_mj", "ci95_mj", "method", "net_power_mw")},
                     avg_power_mw=chosen["power_mw"]["mean_mw"],
                     idle_power_mw=(chosen.get("idle_power_mw") or {}).get("mean_mw"))
        if primary == "battery":
            power["battery_convention"] = chosen["convention"]
    else:
        reasons = [f"{name}: {s['reason']}" for name, s in sources.items() if s.get("reason")]
        power["unavailable"] = "; ".join(reasons) or unavailable or "no power readings sampled"
    traced = trace_window or timed
    # a timed loop too short to average still has its power in a trace of the whole run
    drawn = primary or next((name for name in ("battery", "odpm", "rapl")
                             if sources.get(name, {}).get("short")), None)
    series = _series_for_trace(traced, sources, drawn)
    return {"window": timed.summary(), "idle_window": idle.summary() if idle else None,
            "lost": timed.lost or (idle.lost if idle else None), "temps": temps_summary(timed),
            "throttle": detect_throttle(timed.samples, set_levels_khz), "power": power,
            "trace": downsample(traced.samples, series, max_points=trace_points)}


def power_sources(timed: Window, idle: Window | None, inferences: int | None) -> dict:
    """Energy per inference from every power source the windows hold."""
    both = timed.samples + (idle.samples if idle else [])
    out = {}
    if any(s.battery for s in both):
        out["battery"] = _battery(timed, idle, both, inferences)
    counters = counter_keys(both, "host" if timed.source == "host" else "android")
    if counters:
        name = "rapl" if timed.source == "host" else "odpm"
        series = [counter_power_mw(w.samples, counters, w.energy_range_uj) if w else None
                  for w in (timed, idle)]
        result = energy_per_inference(series[0], series[1], timed.duration_s or 0.0, inferences)
        out[name] = {"valid": result["power_mw"]["points"] >= MIN_READINGS - 1,
                     "counters": counters, **result}
        if not out[name]["valid"]:
            out[name]["short"] = True
            out[name]["reason"] = _too_short(timed, "intervals between counter readings",
                                             result["power_mw"]["points"], MIN_READINGS - 1)
    return out


def _too_short(timed: Window, what: str, got: int, needs: int) -> str:
    """Said the same way for every record (the report counts records per reason); how long the
    window was and how many samples it held are in the record's window summary."""
    return (f"the timed loop was too short to average power: fewer than {needs} {what} in it; "
            f"lengthen it (--iterations or --min-time)")


def _battery(timed: Window, idle: Window | None, both: list[Sample], inferences: int | None) -> dict:
    convention = battery_convention(both)  # one convention for both windows: they must agree
    if not convention["found"]:
        return {"valid": False, "reason": convention["reason"], "convention": convention}
    charging = charging_reason(both, "ios" if timed.source.startswith("ios:") else "android")
    if charging:
        return {"valid": False, "reason": charging, "convention": convention}
    result = energy_per_inference(battery_power_mw(timed.samples, convention),
                                  battery_power_mw(idle.samples, convention) if idle else None,
                                  timed.duration_s or 0.0, inferences)
    readings = result["power_mw"]["points"]
    if readings < MIN_READINGS:
        return {"valid": False, "short": True, "convention": convention, **result,
                "reason": _too_short(timed, "battery readings", readings, MIN_READINGS)}
    return {"valid": True, "convention": convention, **result}


def _series_for_trace(timed: Window, sources: dict, primary: str | None) -> list:
    if primary == "battery":
        return battery_power_mw(timed.samples, sources["battery"]["convention"])
    if primary in ("odpm", "rapl"):
        return counter_power_mw(timed.samples, sources[primary]["counters"], timed.energy_range_uj)
    return []


def temps_summary(window: Window) -> dict:
    """Hottest zone at the window's start and end, the peak, and the battery's temperature."""
    samples = window.samples
    if not samples:
        return {"start_c": None, "end_c": None, "max_c": None, "max_zone": None,
                "battery_start_c": None, "battery_end_c": None}
    hottest = [(max(s.temp_c.values()) if s.temp_c else None) for s in samples]
    peak = max(((t, zone) for s in samples for zone, t in s.temp_c.items()), default=(None, None))
    battery = [s.battery.get("temp_c") for s in samples if s.battery and s.battery.get("temp_c")]
    return {"start_c": hottest[0], "end_c": hottest[-1], "max_c": peak[0], "max_zone": peak[1],
            "battery_start_c": battery[0] if battery else None,
            "battery_end_c": battery[-1] if battery else None}
