"""Android profile assembly and device-profile matching from real captures (no adb)."""
from __future__ import annotations

import fnmatch
import shlex
from pathlib import Path

import pytest

from harness.devices import probe
from harness.devices.android import abis_of
from harness.devices.base import ExecResult

CAPTURES = Path(__file__).resolve().parents[2] / "device_profiles" / "captures"
PHONES = {
    "pixel8": ("google_tensor_g3_pixel8_android14_arm64only.txt", "armv8_google_tensor_g3_pixel8.txt",
               "google_tensor_g3_pixel8.txt"),
    "nexus4": ("qualcomm_apq8064_lg_nexus4_android51_armv7only.txt",
               "armv7_qualcomm_apq8064_lg_nexus4.txt", "armv7_qualcomm_apq8064_lg_nexus4.txt"),
    "mate20": ("hisilicon_kirin980_huawei_mate20_android9.txt",
               "armv8_hisilicon_kirin980_huawei_mate20.txt", "hisilicon_kirin980_huawei_mate20.txt"),
}
TOYBOX_DF = ("Filesystem      1K-blocks    Used Available Use% Mounted on\n"
             "/dev/block/dm-8 115059416 9223812 105704532   9% /data\n")
TOOLBOX_DF = ("Filesystem               Size     Used     Free   Blksize\n"
              "/data/local/tmp         12.9G     1.4G    11.5G   4096\n")


def _sysfs_files(cpufreq_capture: str) -> dict[str, str]:
    files = {}
    for line in cpufreq_capture.splitlines():
        path, sep, value = line.partition(": ")
        if sep and path.startswith("/sys/"):
            files[path] = value
    files["/sys/class/thermal/thermal_zone0/type"] = "cpu-0-0-usr"
    files["/sys/class/thermal/thermal_zone0/temp"] = "41500"
    return files


class CaptureShell:
    """Answers the probe's commands with real captures (a sysfs tree from the cpufreq capture);
    Android 5 lacks getconf and the helpers."""

    def __init__(self, phone: str, page: str = "4096", old: bool = False):
        getprop, cpuinfo, cpufreq = PHONES[phone]
        self.files = _sysfs_files((CAPTURES / "cpufreq" / cpufreq).read_text())
        self.answers = {
            ("getprop",): (CAPTURES / "getprop" / getprop).read_text(),
            ("cat", "/proc/cpuinfo"): (CAPTURES / "cpuinfo" / cpuinfo).read_text(),
            ("cat", "/proc/meminfo"): "MemTotal:        7824256 kB\nMemFree:  100 kB\n",
            ("getconf", "PAGESIZE"): None if old else page,
            ("df", "/data/local/tmp"): TOOLBOX_DF if old else TOYBOX_DF,
            ("dumpsys", "battery"): (CAPTURES / "battery" /
                                     "dumpsys_battery_pixel_c_dragon_syzkaller79.txt").read_text(),
        }
        self.helpers = "" if old else "timeout\nsha256sum\n"
        self.commands: list[str] = []

    def shell(self, argv, timeout=60.0):
        text = self.answers.get(tuple(argv))
        return ExecResult(127, "", "not found", 0.0) if text is None else ExecResult(0, text, "", 0.0)

    def command(self, command, timeout=60.0):
        self.commands.append(command)
        if command == probe.HELPERS:
            return ExecResult(0, self.helpers, "", 0.0)
        words = shlex.split(command)
        if words[0] == "echo" and words[1] != "-n":  # glob listing
            found = [p for pattern in words[1:] for p in sorted(self.files)
                     if fnmatch.fnmatchcase(p, pattern)]
            return ExecResult(0, " ".join(found) + "\n", "", 0.0)
        out = [f"{words[i + 1]}: {self.files.get(words[i + 1], '')}\n"
               for i, word in enumerate(words) if word == "cat"]
        return ExecResult(0, "".join(out), "", 0.0)


@pytest.mark.parametrize("phone, abis, arch", [
    ("pixel8", ["arm64-v8a"], "armv8"),
    ("nexus4", ["armeabi-v7a", "armeabi"], "armv7"),
    ("mate20", ["arm64-v8a", "armeabi-v7a", "armeabi"], "armv8")])
def test_profile_from_real_captures(phone, abis, arch):
    profile = probe.probe(CaptureShell(phone, old=phone == "nexus4"))
    assert abis_of(profile) == abis and profile["arch"] == arch
    assert profile["kind"] == "android" and profile["model"] and profile["os"].startswith("Android")
    assert isinstance(profile["governors"], dict) and profile["governors"]
    assert profile["thermal_zones"] == ["cpu-0-0-usr"]
    assert profile["mem_total_mb"] == 7641
    assert probe.match_profile(profile, probe.load_profiles()) == phone


def test_android5_has_no_getconf_or_helpers_and_says_so():
    profile = probe.probe(CaptureShell("nexus4", old=True))
    assert profile["sdk"] == 22 and profile["page_size"] is None
    assert profile["shell"] == {"timeout": False, "sha256sum": False}
    assert profile["free_storage_mb"] == 11776.0


def test_16k_page_variant_matches_its_own_profile():
    profile = probe.probe(CaptureShell("pixel8", page="16384"))
    assert profile["page_size"] == 16384 and profile["free_storage_mb"] == 103227.1
    assert probe.match_profile(profile, probe.load_profiles()) == "pixel8_16k"


def test_sysfs_reads_are_batched_below_the_old_adbd_limit_and_globs_listed_once():
    shell = CaptureShell("mate20")
    reader = probe.SysfsReader(shell)
    text = reader.read(probe.CPUFREQ_GLOBS)
    assert text.count("\n") == len(reader.paths(probe.CPUFREQ_GLOBS)) > 50
    assert all(len(c) < 4000 for c in shell.commands) and len(shell.commands) > 2
    listings = sum(1 for c in shell.commands if not c.startswith("echo -n"))
    reader.read(probe.CPUFREQ_GLOBS)
    assert sum(1 for c in shell.commands if not c.startswith("echo -n")) == listings == 1


def test_no_thermal_zones_is_unavailable_not_a_guess():
    shell = CaptureShell("pixel8")
    shell.files = {k: v for k, v in shell.files.items() if "thermal" not in k}
    assert probe.probe(shell)["thermal_zones"] == "unavailable"


def test_unknown_phone_matches_no_profile():
    profile = probe.probe(CaptureShell("pixel8"))
    profile["props"] = {"ro.product.model": "Galaxy S24", "ro.board.platform": "pineapple"}
    assert probe.match_profile(profile, probe.load_profiles()) is None


def test_sample_reads_battery_and_frequencies():
    sample = probe.sample(CaptureShell("pixel8"))
    assert {"governor", "temp_c", "charging", "battery_pct", "cpu_freq_mhz"} <= set(sample)
    assert sample["governor"] != "unavailable" and sample["cpu_freq_mhz"]


@pytest.mark.parametrize("text, mb", [(TOYBOX_DF, 103227.1), (TOOLBOX_DF, 11776.0), ("", None),
                                      ("df: /data/local/tmp: Permission denied\n", None)])
def test_free_storage(text, mb):
    assert probe.free_storage_mb(text) == mb
