"""The virtual phone's battery: /sys/class/power_supply/battery in a vendor's convention (SIMULATED).

Current grows with the load (``battery_idle_ma`` + ``battery_ma_per_busy_core`` per busy core,
scaled by (f / f_max)**2 like the heat), with a little sample-to-sample noise so that a
confidence interval computed from it is not zero; the voltage sags under load through the
internal resistance. The files are written the way the profile's vendor convention says:
``current_now`` in uA or mA, charge-positive (Android's BatteryManager convention: discharging
is negative) or discharge-positive, ``voltage_now`` in uV or mV, ``temp`` in tenths of a degree,
``status`` as the kernel's power_supply class prints it. ``dumpsys battery`` is rewritten to
agree (plugged state, status code, voltage, temperature).
"""
from __future__ import annotations

import random
import re

from .simulation import Simulation

STATUS_CODES = {"Charging": 2, "Discharging": 3, "Not charging": 4, "Full": 5}
SYSFS_DIR = "/sys/class/power_supply/battery"


class BatteryModel:
    def __init__(self, constants: Simulation, level_pct: int = 80, seed: int = 17):
        self.constants = constants
        self.level_pct = level_pct
        self._random = random.Random(seed)  # seeded: a test run is reproducible

    @property
    def charging(self) -> bool:
        return self.constants.battery_status == "Charging"

    def current_ma(self, busy: list[tuple[int, float]]) -> float:
        """Discharge current (positive = drawn from the battery) for the load ``busy``."""
        c = self.constants
        load = c.battery_idle_ma + c.battery_ma_per_busy_core * sum(n * r ** 2 for n, r in busy)
        noisy = load * (1 + self._random.gauss(0, c.battery_noise_pct / 100))
        return -noisy if self.charging else noisy  # a charger pushes current in instead

    def voltage_mv(self, discharge_ma: float) -> float:
        c = self.constants
        return c.battery_voltage_mv - c.battery_resistance_mohm * discharge_ma / 1000

    def current_text(self, discharge_ma: float) -> str:
        c = self.constants
        signed = discharge_ma if c.battery_current_sign == "discharge-positive" else -discharge_ma
        scale = 1000 if c.battery_current_unit == "uA" else 1
        return str(int(round(signed * scale)))

    def voltage_text(self, voltage_mv: float) -> str:
        scale = 1000 if self.constants.battery_voltage_unit == "uV" else 1
        return str(int(round(voltage_mv * scale)))

    @staticmethod
    def temp_text(temp_c: float) -> str:
        return str(int(round(temp_c * 10)))  # power_supply temp: tenths of a degree

    def dumpsys(self, capture: str, voltage_mv: float, temp_c: float) -> str:
        """The captured ``dumpsys battery`` with plugged state, status, voltage, temperature
        replaced (first occurrence only: vendor lines further down repeat keys)."""
        status = self.constants.battery_status
        plugged = status in ("Charging", "Full")
        values = {"AC powered": "true" if plugged else "false", "USB powered": "false",
                  "Wireless powered": "false", "status": str(STATUS_CODES[status]),
                  "voltage": str(int(round(voltage_mv))), "temperature": self.temp_text(temp_c)}
        text = capture
        for key, value in values.items():
            text = re.sub(rf"^(\s*{re.escape(key)}: ).*$", lambda m: m.group(1) + value, text,
                          count=1, flags=re.M)
        return text
