"""Battery current x voltage -> power, with the vendor's units and sign worked out (pure).

``/sys/class/power_supply/battery/current_now`` is microamps by the kernel's ABI, but vendors
ship milliamps (Samsung, some Huawei builds), and its sign is charge-positive on some phones
(the kernel ABI's and Android BatteryManager's: discharging < 0) and discharge-positive on
others (many Qualcomm kernels). ``voltage_now`` is microvolts, or millivolts on the same
vendors. Neither says which, so the convention is decided per window, from all its samples:

- current unit: a phone running a benchmark draws 0.1-5 A. A median |current| of 20000 or more
  can only be uA (20 A in mA is impossible); below that it is mA when the voltage is in mV
  (vendors that scale one scale both), else uA with a note (a phone drawing under 20 mA).
- voltage unit: above 100000 is uV (a Li-ion cell is 3-4.5 V), 1000-100000 is mV.
- sign: while the status says Discharging, the sign the current mostly has is the discharge
  sign; while Charging, the opposite. With no such status (Full, Not charging, no status file)
  the kernel ABI's charge-positive is assumed, and the convention says "assumed".

Power is only valid while the battery discharges: a charger feeds the phone and the battery at
once, so the battery current is not the phone's draw. Then ``valid`` is False with the reason.
``dumpsys battery unplug`` does not help: it changes what BatteryService reports (batterystats,
apps), while the charger keeps feeding the phone and ``current_now`` keeps measuring that; so
edgelab never issues it and there is nothing to reset.
"""
from __future__ import annotations

from statistics import median
from typing import Iterable

from .sample import Sample

UA_FLOOR = 20000          # |current| at or above this is microamps whatever the vendor
UV_FLOOR = 100000         # voltage at or above this is microvolts


def battery_convention(samples: Iterable[Sample]) -> dict:
    """How this window's battery files are scaled and signed, and what told us."""
    rows = [s.battery for s in samples if s.battery and s.battery.get("current_raw") is not None
            and s.battery.get("voltage_raw") is not None]
    if not rows:
        return {"found": False, "reason": "no battery current_now/voltage_now samples"}
    current = median(abs(r["current_raw"]) for r in rows)
    voltage = median(r["voltage_raw"] for r in rows)
    voltage_unit = "uV" if voltage >= UV_FLOOR else "mV"
    notes = []
    if current >= UA_FLOOR:
        current_unit = "uA"
    elif voltage_unit == "mV":
        current_unit = "mA"
        notes.append(f"|current| median {current:g} with voltage in mV: read as mA")
    else:
        current_unit = "uA"
        notes.append(f"|current| median {current:g} is small: read as uA (under 20 mA drawn)")
    sign, evidence = _sign(rows)
    notes.append(evidence)
    return {"found": True, "current_unit": current_unit, "voltage_unit": voltage_unit,
            "sign": sign, "evidence": "; ".join(notes)}


def _sign(rows: list[dict]) -> tuple[str, str]:
    votes = {"charge-positive": 0, "discharge-positive": 0}
    for row in rows:
        status, value = (row.get("status") or "").strip(), row["current_raw"]
        if value == 0 or status not in ("Discharging", "Charging"):
            continue
        positive = value > 0
        discharge_positive = positive if status == "Discharging" else not positive
        votes["discharge-positive" if discharge_positive else "charge-positive"] += 1
    if not any(votes.values()):
        return "charge-positive", ("sign assumed charge-positive (kernel ABI): no sample with "
                                   "status Discharging or Charging and a non-zero current")
    sign = max(votes, key=votes.get)
    return sign, f"sign {sign} from {votes[sign]} of {sum(votes.values())} samples' status"


UNPLUG = {
    "android": ("unplug it (a switchable USB hub, or adb over Wi-Fi), since `dumpsys battery "
                "unplug` only changes what Android reports, not the current"),
    # an iPhone on a USB cable is always on external power: usbmux over Wi-Fi, or a hub port
    # whose charging is switched off while data stays up
    "ios": ("take it off USB power: pair it for Wi-Fi (Finder/Xcode 'Show this iPhone when on "
            "Wi-Fi'; usbmuxd lists it as Network) and unplug it, or use a hub port with charging "
            "switched off"),
}


def charging_reason(samples: Iterable[Sample], platform: str = "android") -> str | None:
    """Why battery power is invalid in this window, or None when it discharged throughout;
    ``platform`` ("android", "ios") picks how to take the phone off the charger."""
    statuses = {(s.battery or {}).get("status") for s in samples if s.battery}
    plugged = sorted(x for x in statuses if x and x != "Discharging" and x != "Unknown")
    if plugged:
        return (f"battery status {', '.join(plugged)}: a charger powers the phone, so the battery "
                f"current is not its draw; {UNPLUG.get(platform, UNPLUG['android'])}")
    return None


def battery_power_mw(samples: list[Sample], convention: dict) -> list[tuple[float, float]]:
    """(t_s, power drawn from the battery in mW) per sample with both readings."""
    if not convention.get("found"):
        return []
    to_ma = 1000.0 if convention["current_unit"] == "uA" else 1.0
    to_mv = 1000.0 if convention["voltage_unit"] == "uV" else 1.0
    sign = 1.0 if convention["sign"] == "discharge-positive" else -1.0
    series = []
    for s in samples:
        battery = s.battery or {}
        current, voltage = battery.get("current_raw"), battery.get("voltage_raw")
        if current is None or voltage is None:
            continue
        series.append((s.t_s, sign * current / to_ma * (voltage / to_mv) / 1000.0))
    return series


def counter_power_mw(samples: list[Sample], keys: list[str],
                     range_uj: dict[str, float] | None = None) -> list[tuple[float, float]]:
    """(midpoint t_s, mW) per interval between samples from cumulative energy counters (ODPM
    rails, RAPL domains), summed over ``keys``; a counter that went down wrapped at its range."""
    series = []
    for before, after in zip(samples, samples[1:]):
        span = after.t_s - before.t_s
        if span <= 0 or not all(k in before.energy_uj and k in after.energy_uj for k in keys):
            continue
        joules_uj = sum(counter_delta(before.energy_uj[k], after.energy_uj[k],
                                      (range_uj or {}).get(k)) for k in keys)
        series.append(((before.t_s + after.t_s) / 2, joules_uj / span / 1000.0))
    return series


def counter_delta(first: float, last: float, range_uj: float | None) -> float:
    """``last - first`` of an energy counter, across one wrap-around at ``range_uj``."""
    if last >= first:
        return last - first
    return last + range_uj - first if range_uj else 0.0


def counter_keys(samples: list[Sample], source: str) -> list[str]:
    """The counters to sum: every ODPM rail (rails do not overlap); on the host the RAPL
    top-level domains, or psys alone where present (it already contains the packages)."""
    keys = sorted({k for s in samples for k in s.energy_uj})
    if source == "host":
        if "psys" in keys:
            return ["psys"]
        return [k for k in keys if "/" not in k]
    return keys
