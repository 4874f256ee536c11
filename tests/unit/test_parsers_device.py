"""Hand-written variations of device-side outputs (getprop, dumpsys, /proc, /sys, adb, iOS).

Each test feeds a shape the real tool prints but the shared captures do not
show: other spacing, CRLF, multi-line values, duplicates, cut-off files.
"""

from __future__ import annotations

import pytest

from harness import parsers
from harness.parsers import (adb_devices, battery, cpufreq, cpuinfo, exec_failure, getprop,
                             ios_info, meminfo, thermal)


# -------------------------------------------------------------- getprop
def test_getprop_multiline_value_crlf_and_abi_fallback():
    text = ("[ro.product.model]: [Nexus 5]\r\n[ro.build.version.sdk]: [19]\r\n"
            "[ro.product.cpu.abi]: [armeabi-v7a]\r\n[ro.product.cpu.abi2]: []\r\n"
            "[persist.sys.banner]: [line one\r\nline two]\r\n[ro.product.cpu.pagesize.max]: [16384]\r\n")
    result = getprop.parse(text)
    assert result["abis"] == ["armeabi-v7a"] and result["armv7"] and not result["arm64"]
    assert result["props"]["persist.sys.banner"] == "line one\nline two"
    assert (result["sdk"], result["page_size"]) == (19, 16384)


def test_getprop_truncated_value_and_missing_sdk():
    result = getprop.parse("[ro.product.model]: [Pixel 8]\n[ro.build.fingerprint]: [google/shib")
    assert result["model"] == "Pixel 8" and result["sdk"] is None
    assert result["fingerprint"] == "google/shib"


# -------------------------------------------------------------- battery
def test_battery_updates_stopped_case_and_spacing():
    text = ("Current Battery Service state:\n  (UPDATES STOPPED -- use 'reset' to restart)\n"
            "  AC POWERED:false\n  usb powered :  false\n  Wireless powered: true\n"
            "  status: 3\n  health: 3\n  level: 57\n  scale: 100\n  voltage: 3900\n  temperature: -15\n")
    result = battery.parse(text)
    assert result["updates_stopped"] is True
    assert result["charging"] is True  # wireless
    assert (result["status_name"], result["health_name"]) == ("discharging", "overheat")
    assert result["temperature_c"] == pytest.approx(-1.5)


def test_battery_garbage_has_error():
    assert "error" in battery.parse("Can't find service: battery\n")


# -------------------------------------------------------------- cpuinfo
def test_cpuinfo_x86_emulator_and_truncated_arm():
    x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 lm avx2\nmodel name\t: Intel(R) Xeon\n"
    result = cpuinfo.parse(x86)
    assert result["arch"] == "x86_64" and result["processors"] == 1 and not result["neon"]
    cut = cpuinfo.parse("processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\nCPU implementer\t: 0x41\nCPU par")
    assert cut["arch"] == "armv8" and cut["dotprod"] and cut["i8mm"]


# -------------------------------------------------------------- cpufreq
def test_cpufreq_grep_style_policy_paths_and_ranges():
    text = ("/sys/devices/system/cpu/online:0-3,6\n"
            "/sys/devices/system/cpu/cpufreq/policy0/related_cpus:0 1 2 3\n"
            "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor:schedutil\n"
            "/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq:1800000\n"
            "/sys/devices/system/cpu/cpufreq/policy0/stats/time_in_state:300000 120\n"
            "/sys/devices/system/cpu/cpufreq/policy0/stats/time_in_state:1800000 45\n")
    result = cpufreq.parse(text)
    assert result["online"] == [0, 1, 2, 3, 6]
    assert result["cpus"]["cpu2"]["governor"] == "schedutil"
    assert result["policies"]["policy0"]["cpus"] == [0, 1, 2, 3]
    assert result["cpus"]["cpu0"]["available_frequencies_khz"] == [300000, 1800000]
    assert result["cpus"]["cpu0"]["time_in_state_10ms"] == {300000: 120, 1800000: 45}


# -------------------------------------------------------------- thermal
def test_thermal_dumpsys_names_with_spaces_status_and_cooling():
    text = ("Thermal Status: 1\nCached temperatures:\n"
            "\tTemperature{mValue=30.8, mType=3, mName=test temperature sensor, mStatus=0}\n"
            "HAL Ready: true\nCurrent temperatures from HAL:\n"
            "\tTemperature{mValue=42.5, mType=0, mName=soc0, mStatus=2}\n"
            "\tTemperature{mValue=NaN, mType=1, mName=gpu, mStatus=0}\n"
            "\tTemperature{mValue=4000.0, mType=6, mName=vbat, mStatus=0}\n"
            "Current cooling devices from HAL:\n"
            "\tCoolingDevice{mValue=100, mType=0, mName=test cooling device}\n")
    result = thermal.parse(text)
    assert result["temps_c"] == {"test temperature sensor": 30.8, "soc0": 42.5}
    assert (result["thermal_status"], result["throttling_status"]) == (1, 2)
    assert result["throttling_status_name"] == "MODERATE"
    assert result["cooling_devices"][0] == {"name": "test cooling device", "value": 100,
                                            "type": 0, "type_name": "FAN"}
    vbat = next(z for z in result["zones"] if z["name"] == "vbat")
    assert (vbat["unit"], vbat["temp_c"]) == ("mV", None)


def test_thermal_sysfs_units_heuristic_and_unreadable_zone():
    text = ("$ cat /sys/class/thermal/thermal_zone*/temp\n45000\ncat: thermal_zone1/temp: Invalid argument\n"
            "385\n37\n$ cat /sys/class/thermal/thermal_zone*/type\ncpu0\nmodem\ngpu\nxo_therm\n$ exit\n")
    zones = {z["name"]: z for z in thermal.parse(text)["zones"]}
    assert zones["cpu0"]["temp_c"] == 45.0 and zones["cpu0"]["zone"] == "thermal_zone0"
    assert zones["modem"]["temp_c"] is None and zones["modem"]["zone"] == "thermal_zone1"
    assert zones["gpu"]["temp_c"] == 38.5 and zones["gpu"]["zone"] == "thermal_zone2"
    assert zones["xo_therm"]["temp_c"] == 37.0


def test_thermal_sysfs_zone_names_follow_shell_glob_order():
    temps = "".join(f"{30000 + i}\n" for i in range(11))
    types = "".join(f"t{i}\n" for i in range(11))
    result = thermal.parse(f"# cat */temp\n{temps}# cat */type\n{types}")
    zone_of = {z["name"]: z["zone"] for z in result["zones"]}
    # */temp expands as thermal_zone0, thermal_zone1, thermal_zone10, thermal_zone2, ...
    assert (zone_of["t1"], zone_of["t2"], zone_of["t3"]) == ("thermal_zone1", "thermal_zone10", "thermal_zone2")


def test_thermal_pixel_hal_logcat_brief_prefix():
    text = "I/pixel-thermal(  812): VIRTUAL-SKIN:38.2 raw data: VIRTUAL-SKIN:38200 soc_therm:41000\r\n"
    result = thermal.parse(text)
    assert result["source"] == "logcat"
    assert result["temps_c"] == {"VIRTUAL-SKIN": 38.2, "soc_therm": 41.0}


# -------------------------------------------------------------- meminfo
def test_meminfo_modern_dumpsys_layout_and_proc_status():
    text = ("** MEMINFO in pid 1234 [com.example] **\n"
            "                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap\n"
            "                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free\n"
            "                ------   ------   ------   ------   ------   ------   ------   ------\n"
            "  Native Heap    10468    10408        0        0    12000    20480    14462     6017\n"
            "        TOTAL    42000    30000     2000       12    60000    24018    16231     7786\n\n"
            " App Summary\n                       Pss(KB)\n                        ------\n"
            "               TOTAL:    42000       TOTAL SWAP PSS:       12\n")
    result = meminfo.parse(text)
    assert (result["kind"], result["pid"], result["package"]) == ("dumpsys_meminfo", 1234, "com.example")
    assert (result["total_pss_kb"], result["total_rss_kb"], result["total_swap_kb"]) == (42000, 60000, 12)
    status = meminfo.parse("Name:\tbenchmark_model\r\nPid:\t4242\r\nVmHWM:\t  81234 kB\r\nVmRSS:\t  80000 kB\r\n")
    assert (status["kind"], status["vm_hwm_kb"], status["process_pid"]) == ("proc_status", 81234, 4242)


def test_meminfo_proc_meminfo_with_mem_available():
    result = meminfo.parse("MemTotal:        7824580 kB\nMemFree:          251124 kB\nMemAvailable:    3215816 kB\n")
    assert (result["kind"], result["mem_available_kb"]) == ("proc_meminfo", 3215816)
    assert result["mem_available_estimated_kb"] == 3215816


# ---------------------------------------------------------- adb devices
def test_adb_devices_states_daemon_lines_and_crlf():
    text = ("* daemon not running; starting now at tcp:5037\r\n* daemon started successfully\r\n"
            "List of devices attached\r\n"
            "emulator-5554          device product:sdk_gphone64_arm64 model:sdk_gphone64_arm64 "
            "device:emu64a transport_id:1\r\n"
            "0123456789ABCDEF       no permissions (missing udev rules? user is in the plugdev group); "
            "see [http://developer.android.com/tools/device.html] usb:1-1 transport_id:2\r\n"
            "192.168.1.5:5555\toffline\r\nR58M123ABC\tunauthorized\r\nZX1G22\trecovery\r\n")
    result = adb_devices.parse(text)
    assert [d["state"] for d in result["devices"]] == ["device", "no permissions", "offline",
                                                       "unauthorized", "recovery"]
    assert result["ready"] == ["emulator-5554"] and result["daemon_started"] is True
    assert result["devices"][1]["usb"] == "1-1" and result["devices"][0]["transport_id"] == 1


def test_adb_devices_empty_list_is_not_an_error():
    result = adb_devices.parse("List of devices attached\n\n")
    assert result["devices"] == [] and "error" not in result


# ------------------------------------------------------------------ iOS
def test_ios_plist_and_truncated_rsd_json():
    plist = ("<dict>\n<key>ProductType</key>\n<string>iPhone14,2</string>\n"
             "<key>ProductVersion</key>\n<string>16.5</string>\n</dict>")
    assert ios_info.parse(plist)["product_type"] == "iPhone14,2"
    cut = '{"Properties": {"CPUArchitecture": "arm64e", "OSVersion": "17.2", "ThinningProductType": "iPhone15,2", "Pro'
    result = ios_info.parse(cut)
    assert (result["product_version"], result["product_type"]) == ("17.2", None)


def test_ios_tidevice_name_with_spaces():
    text = "List of apple devices attached\n00008030-001A35E40212402E   Bob's iPhone   14.3   usb\n"
    result = ios_info.parse(text)
    assert result["product_version"] == "14.3" and result["devices"][0]["name"] == "Bob's iPhone"


# -------------------------------------------------------- exec failures
@pytest.mark.parametrize("text, kind", [
    ("error: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set", "unauthorized"),
    ("adb: device offline", "offline"),
    ("error: device 'emulator-5556' not found", "not_found"),
    ("adb: error: failed to copy 'x' to '/data/local/tmp/x': remote No space left on device", "storage_full"),
    ("/system/bin/sh: ./bench: can't execute: Permission denied", "permission_denied"),
    ("/system/bin/sh: ./bench: inaccessible or not found", "not_found"),
    ("adb: error: connect failed: operation timed out", "timeout"),
    ("bash: ./bench: cannot execute binary file: Exec format error\r\n", "wrong_abi"),
])
def test_exec_failure_kinds(text, kind):
    assert exec_failure.classify(text)["kind"] == kind


def test_exec_failure_library_name_and_return_codes():
    result = exec_failure.classify('CANNOT LINK EXECUTABLE "./b": library "libOpenCL.so" not found\nAborted')
    assert (result["kind"], result["library"]) == ("missing_library", "libOpenCL.so")
    assert exec_failure.classify("", rc=126)["kind"] == "wrong_abi"
    assert exec_failure.classify("", rc=127)["kind"] == "not_found"
    assert exec_failure.classify("something odd")["kind"] == "unknown"
    assert parsers.parse("exec_failure", "Exec format error")["fix"]
