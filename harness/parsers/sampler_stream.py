"""Parse the on-device sampler's stream (the script harness/telemetry/script.py writes).

The script prints a header that says what each tag means, then one block per sample::

    # edgelab-sampler 1 interval_s=0.05 thermal_every=20
    @ t uptime 1 /proc/uptime
    @ f0 freq 1 policy0
    @ z0 temp 1000 BIG
    @ bi current 1 current_now
    @ bv voltage 1 voltage_now
    @ bt battery_temp 10 temp
    @ bs status 1 status
    t 2073.75 16797.36
    f0 1704000
    z0 26000
    bi -184329
    bv 3828532
    bt 221
    bs Discharging
    t=358356                                   <- ODPM energy_value, as the kernel prints it
    CH3(T=358356)[S2M_VDD_CPUCL2], 761330
    .
    Thermal Status: 1                          <- every thermal_every samples (dumpsys)

``@ TAG KIND FACTOR NAME``: raw value / FACTOR is the value in the kind's unit (degC for temps,
kHz for freqs, seconds for uptime); battery current and voltage stay raw because their vendor
unit and sign are decided over a whole window (harness/telemetry/power.py). ODPM lines are
``CH<n>(T=<ms>)[<rail>], <energy uWs>`` (AOSP pixel powerstats IioEnergyMeterDataProvider).
A ``Thermal Status`` line is the dumpsys reading taken after the previous sample: it belongs
to the next one.

Returned by ``parse(text)``: ``format`` (int), ``interval_s``, ``thermal_every``, ``tags``
{tag: {kind, factor, name}}, ``samples`` [{t_s, freq_khz {name: kHz}, temp_c {name: degC},
battery {current_raw, voltage_raw, temp_c, status} or None, energy_uj {rail: uJ},
thermal_status}], ``ignored_lines`` (count), ``error`` when no sample was found.
``SamplerStream`` does the same one line at a time for a live stream.
"""
from __future__ import annotations

import re

from ._text import clean_lines, to_float, to_int

_HEADER = re.compile(r"^# edgelab-sampler (\d+)(.*)$")
_SETTING = re.compile(r"(\w+)=([\d.]+)")
_TAG = re.compile(r"^@ (\S+) (\w+) (\d+) (.+)$")
_ODPM = re.compile(r"^CH\d+\(T=\d+\)\[([^\]]+)\], (\d+)$")
_STATUS = re.compile(r"^\s*Thermal Status: (\d+)")
_BATTERY_FIELDS = {"current": "current_raw", "voltage": "voltage_raw", "battery_temp": "temp_c",
                   "status": "status"}


class SamplerStream:
    """Feed lines as they arrive; ``feed`` returns each sample when its block ends."""

    def __init__(self) -> None:
        self.header: dict = {"format": None, "interval_s": None, "thermal_every": None}
        self.tags: dict[str, dict] = {}
        self.ignored_lines = 0
        self._current: dict | None = None
        self._status: int | None = None

    def feed(self, line: str) -> dict | None:
        line = line.rstrip("\r\n")
        if line == ".":
            return self._finish()
        if self._header_line(line):
            return None
        found = _STATUS.match(line)
        if found:
            self._status = int(found.group(1))
            return None
        if not self._value_line(line):
            self.ignored_lines += bool(line.strip())
        return None

    def _header_line(self, line: str) -> bool:
        found = _HEADER.match(line)
        if found:
            self.header["format"] = int(found.group(1))
            for key, value in _SETTING.findall(found.group(2)):
                self.header[key] = float(value) if "." in value else int(value)
            return True
        found = _TAG.match(line)
        if found:
            tag, kind, factor, name = found.groups()
            self.tags[tag] = {"kind": kind, "factor": int(factor) or 1, "name": name}
            return True
        return False

    def _value_line(self, line: str) -> bool:
        sample = self._sample()
        found = _ODPM.match(line)
        if found:
            sample["energy_uj"][found.group(1)] = int(found.group(2))
            return True
        if line.startswith("t="):  # the ODPM file's own timestamp line: the sample has one
            return True
        tag, _, value = line.partition(" ")
        meaning = self.tags.get(tag)
        if meaning is None or not value:
            return False
        return self._store(sample, meaning, value.strip())

    def _store(self, sample: dict, meaning: dict, value: str) -> bool:
        kind, factor, name = meaning["kind"], meaning["factor"], meaning["name"]
        if kind == "status":
            sample["battery"]["status"] = value
            return True
        number = to_float(value.split()[0])
        if number is None:
            return False
        if kind == "uptime":
            sample["t_s"] = number / factor
        elif kind == "freq":
            sample["freq_khz"][name] = int(number) // factor
        elif kind == "temp":
            sample["temp_c"][name] = round(number / factor, 3)
        elif kind in _BATTERY_FIELDS:
            field = _BATTERY_FIELDS[kind]
            sample["battery"][field] = round(number / factor, 3) if kind == "battery_temp" \
                else to_int(value.split()[0])
        else:
            return False
        return True

    def _sample(self) -> dict:
        if self._current is None:
            self._current = {"t_s": None, "freq_khz": {}, "temp_c": {}, "battery": {},
                             "energy_uj": {}, "thermal_status": None}
        return self._current

    def _finish(self) -> dict | None:
        sample, self._current = self._current, None
        if sample is None or sample["t_s"] is None:
            return None  # a block cut before its clock line: nothing to place in time
        sample["battery"] = sample["battery"] or None
        sample["thermal_status"], self._status = self._status, None
        return sample


def parse(text: str) -> dict:
    stream = SamplerStream()
    samples = [s for s in (stream.feed(line) for line in clean_lines(text)) if s is not None]
    result = {**stream.header, "tags": stream.tags, "samples": samples,
              "ignored_lines": stream.ignored_lines}
    if not samples:
        result["error"] = ("no complete sample block ('.' line after a clock line): not the "
                           "edgelab sampler's stream, or cut before its first sample")
    return result
