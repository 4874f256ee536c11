"""harness.parsers.sampler_stream on lines in the format the on-device sampler prints.

Values are real-format: sysfs integers as kernels print them (kHz, millidegrees, tenths), the
battery files of a phone, the ODPM ``energy_value`` lines of AOSP's pixel powerstats HAL
(``t=<ms>`` then ``CH<n>(T=<ms>)[<rail>], <uWs>``), dumpsys thermalservice's status line.
"""
from __future__ import annotations

from harness import parsers
from harness.parsers.sampler_stream import SamplerStream, parse

HEADER = """# edgelab-sampler 1 interval_s=0.04 thermal_every=20
@ t uptime 1 /proc/uptime
@ f0 freq 1 policy0
@ f1 freq 1 policy4
@ z0 temp 1000 BIG
@ z1 temp 10 tsens_tz_sensor9
@ z2 temp 1 xo_therm
@ bi current 1 current_now
@ bv voltage 1 voltage_now
@ bt battery_temp 10 temp
@ bs status 1 status
"""
BLOCK = """t 2073.75 16797.36
f0 1704000
f1 2367000
z0 26000
z1 309
z2 31
bi -184329
bv 3828532
bt 221
bs Discharging
t=358356
CH3(T=358356)[S2M_VDD_CPUCL2], 761330
CH4(T=358356)[S3M_VDD_CPUCL1], 120034
.
"""


def test_a_block_becomes_a_sample_in_the_tags_units():
    result = parse(HEADER + BLOCK)
    assert (result["format"], result["interval_s"], result["thermal_every"]) == (1, 0.04, 20)
    assert result["tags"]["z1"] == {"kind": "temp", "factor": 10, "name": "tsens_tz_sensor9"}
    [sample] = result["samples"]
    assert sample["t_s"] == 2073.75
    assert sample["freq_khz"] == {"policy0": 1704000, "policy4": 2367000}
    assert sample["temp_c"] == {"BIG": 26.0, "tsens_tz_sensor9": 30.9, "xo_therm": 31.0}
    assert sample["battery"] == {"current_raw": -184329, "voltage_raw": 3828532, "temp_c": 22.1,
                                 "status": "Discharging"}
    assert sample["energy_uj"] == {"S2M_VDD_CPUCL2": 761330, "S3M_VDD_CPUCL1": 120034}
    assert sample["thermal_status"] is None and result["ignored_lines"] == 0


def test_thermal_status_belongs_to_the_next_sample():
    text = HEADER + BLOCK + "Thermal Status: 2\n" + BLOCK.replace("2073.75", "2073.79")
    first, second = parse(text)["samples"]
    assert first["thermal_status"] is None and second["thermal_status"] == 2


def test_a_block_cut_before_its_clock_is_dropped_and_junk_is_counted():
    cut = "f0 1704000\n.\n"  # the stream started mid-block: no time to place it at
    noise = "/system/bin/sh: read: can't open\n"
    result = parse(HEADER + cut + noise + BLOCK)
    assert len(result["samples"]) == 1 and result["ignored_lines"] == 1


def test_missing_files_leave_keys_out_and_no_battery_is_none():
    result = parse(HEADER + "t 10.00 5.00\nz0 41000\n.\n")
    [sample] = result["samples"]
    assert sample["battery"] is None and sample["freq_khz"] == {} and sample["temp_c"] == {"BIG": 41.0}


def test_incremental_feed_returns_each_sample_at_its_end():
    stream = SamplerStream()
    for line in (HEADER + BLOCK).splitlines()[:-1]:
        assert stream.feed(line) is None
    assert stream.feed(".")["t_s"] == 2073.75
    assert stream.feed("\r\n") is None  # blank lines (CRLF from old adb) are no sample


def test_front_door_and_detect():
    assert parsers.detect(HEADER + BLOCK) == "sampler_stream"
    assert parsers.parse("sampler_stream", HEADER + BLOCK)["samples"][0]["t_s"] == 2073.75
    assert "error" in parse("t 1.0\n.\n")  # no header: tags unknown, nothing to read
