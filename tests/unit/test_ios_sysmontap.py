"""sysmontap's system CPU rows -> edgelab's reading (devices/ios_sysmontap.py), the reasons a
stream ends, and the virtual iPhone's sysmontap pushes (virtual/ios/sysmon.py) read back through
pymobiledevice3's own DTX decoder. No socket, no phone."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.devices.ios_sysmontap import lost_reason, system_cpu

REPO = Path(__file__).resolve().parents[2]


def _usage(total, nice=0.0):
    return {"CPU_TotalLoad": total, "CPU_UserLoad": -1.0, "CPU_SystemLoad": -1.0,
            "CPU_NiceLoad": nice}


# py-ios-device's README capture of one system row (an iPhone with 2 processors): the total is
# the SUM of the per-processor loads, 11.88 + 17.0
CAPTURED = {
    "PerCPUUsage": [_usage(11.881188118811878), _usage(17.0)],
    "EndMachAbsTime": 656566442146, "CPUCount": 2, "EnabledCPUs": 2,
    "SystemCPUUsage": _usage(28.881188118811878), "Type": 33,
    "StartMachAbsTime": 656542341717,
}


def test_a_captured_row_is_normalised_to_percent_of_all_cores():
    reading = system_cpu(CAPTURED)
    assert reading["cpu_pct"] == pytest.approx(28.881188118811878 / 2, abs=1e-3)
    assert (reading["cpu_total_load"], reading["cpu_count"], reading["cpu_count_from"],
            reading["cpu_enabled"], reading["source"]) == (
        28.881188118811878, 2, "CPUCount", 2, "sysmontap")
    # the phone lists processors last-first (insertObject:atIndex:0): back in processor order
    assert reading["cpu_per_core_pct"] == [17.0, 11.881]


@pytest.mark.parametrize("total, count, pct", [
    (450.0, 6, 75.0),       # a 6-core phone, four and a half cores busy
    (600.0, 6, 100.0),      # every core busy
    (97.0, 6, 16.167),      # one core busy: a sixth
    (0.0, 6, 0.0),
    (612.0, 6, 100.0),      # rounding above the top is clamped, never > 100
])
def test_the_sum_over_cores_becomes_a_share_of_all_cores(total, count, pct):
    row = {"CPUCount": count, "EnabledCPUs": count, "SystemCPUUsage": _usage(total)}
    reading = system_cpu(row)
    assert reading["cpu_pct"] == pytest.approx(pct, abs=1e-3)
    assert reading["cpu_total_load"] == total and "cpu_per_core_pct" not in reading


@pytest.mark.parametrize("row", [
    None, [], "SystemCPUUsage",
    {"Type": 5, "Processes": {1: [1, "launchd"]}},               # a process row
    {"CPUCount": 6, "EnabledCPUs": 6},                            # no SystemCPUUsage
    {"CPUCount": 6, "SystemCPUUsage": {"CPU_UserLoad": -1.0}},    # no CPU_TotalLoad
    {"CPUCount": 6, "SystemCPUUsage": _usage(-1.0)},              # "not measured"
    {"CPUCount": 6, "SystemCPUUsage": _usage(True)},              # not a number
    {"CPUCount": 6, "SystemCPUUsage": "busy"},
    {"SystemCPUUsage": _usage(50.0)},                             # no count anywhere
    {"CPUCount": 0, "SystemCPUUsage": _usage(50.0)},
    {"CPUCount": 6, "EnabledCPUs": 0, "SystemCPUUsage": _usage(0.0)},  # no core ticked
])
def test_rows_without_a_usable_system_load_are_none(row):
    assert system_cpu(row) is None


def test_the_count_falls_back_to_enabled_cpus_the_per_core_list_then_the_given_one():
    assert system_cpu({"EnabledCPUs": 4, "SystemCPUUsage": _usage(200.0)})["cpu_count_from"] \
        == "EnabledCPUs"
    per_core = system_cpu({"PerCPUUsage": [_usage(50.0), _usage(30.0)],
                           "SystemCPUUsage": _usage(80.0)})
    assert (per_core["cpu_count"], per_core["cpu_count_from"], per_core["cpu_pct"]) == (
        2, "PerCPUUsage", 40.0)
    given = system_cpu({"SystemCPUUsage": _usage(300.0)}, cpu_count=6)
    assert (given["cpu_count"], given["cpu_count_from"], given["cpu_pct"]) == (6, "given", 50.0)
    # the row's own count wins over the one given
    assert system_cpu({"CPUCount": 2, "SystemCPUUsage": _usage(100.0)}, cpu_count=6)[
        "cpu_pct"] == 50.0


def _named(name: str, text: str = "", base=Exception) -> BaseException:
    return type(name, (base,), {})(text)


@pytest.mark.parametrize("exc, major, words", [
    (_named("InvalidServiceError", "The device does not offer the requested service."), 13,
     ["developer disk image is not mounted", "pymobiledevice3 mounter auto-mount"]),
    (_named("InvalidServiceError"), 16, ["Developer Mode is off", "mounter auto-mount"]),
    (_named("PasswordRequiredError"), 16, ["locked", "unlock the device"]),
    (_named("NotPairedError"), 16, ["does not trust", "tap Trust"]),
    (_named("ConnectionTerminatedError", "closed"), 16, ["connection to the iPhone broke",
                                                         "replug the iPhone"]),
    (_named("QueueShutDown"), 16, ["connection to the iPhone broke"]),
    (BrokenPipeError(32, "Broken pipe"), 16, ["connection to the iPhone broke"]),
    (TimeoutError(), 16, ["did not answer (stage) within 15 s", "replug the iPhone"]),
    (_named("DeviceNotFoundError", "x"), 16, ["not reachable over usbmux"]),
    (_named("UnrecognizedSelectorError", "no"), 16, ["refused sysmontap"]),
    (_named("TunneldConnectionError"), 17, ["no RemoteXPC tunnel", "remote tunneld"]),
])
def test_each_way_a_stream_ends_names_the_fix(exc, major, words):
    reason = lost_reason(exc, "stage", major)
    for word in words:
        assert word in reason, reason
    assert "\n" not in reason


def test_the_missing_tunnel_of_ios_process_is_named_with_its_fix():
    from harness.errors import InfraError

    missing = InfraError("iPhone X: no RemoteXPC tunnel for it", serial="X",
                         fix="sudo python3 -m pymobiledevice3 remote tunneld, keep it running")
    assert "remote tunneld" in lost_reason(missing, "the developer services", 17)


def test_the_module_imports_no_pymobiledevice3():
    code = ("import sys, harness.devices.ios_sysmontap as m; "
            "print(sorted(k for k in sys.modules if k.startswith('pymobiledevice3')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr


# --- the virtual iPhone's side -------------------------------------------------------------

def _stand_in_tap(apps):
    from harness.virtual.ios.sysmon import PROCESS_ATTRIBUTES, SYSTEM_ATTRIBUTES, SysmonTap

    tap = SysmonTap(lambda: list(apps), cpu_count=6, seed=7)
    # the config pymobiledevice3's Sysmontap sends (services/dvt/instruments/sysmontap.py)
    tap.configure({"ur": 50, "bm": 0, "procAttrs": PROCESS_ATTRIBUTES,
                   "sysAttrs": SYSTEM_ATTRIBUTES, "cpuUsage": True, "physFootprint": True,
                   "sampleInterval": 50_000_000})
    tap.start()
    return tap


def _client_reads(data: bytes, channel: int):
    """The DATA message the phone sends, as pymobiledevice3's DTX decoder and Tap read it."""
    from bpylist2 import archiver
    from dtx_client import client_parse
    from pymobiledevice3.dtx.structs import DTXMessageType

    from harness.virtual.ios import dtx

    message = client_parse(dtx.encode(dtx.Message(dtx.DATA, 9, 0, channel, False, data)))
    assert message.type == DTXMessageType.DATA and message.channel_code == channel
    return archiver.unarchive(bytes(message.payload_data))  # TapMessageChannel.receive_plist


def test_the_stand_in_pushes_an_ack_then_a_first_sample_of_nothing_then_loads():
    pytest.importorskip("pymobiledevice3", reason="the ios extra: pip install -e '.[ios]'")
    apps: list[tuple[int, str]] = []
    tap = _stand_in_tap(apps)
    pushed: list[bytes] = []
    for step in range(4):
        tap.push_due(pushed.append, now=tap.due)  # each push when it is due
        if step == 2:
            apps.append((401, "EdgelabRunner"))
    ack, first, idle, busy = (_client_reads(p, -2) for p in pushed)
    assert ack == []
    system, processes = first
    assert (system["Type"], processes["Type"]) == (33, 5)
    assert system["SystemAttributes"][0] == "vmExtPageCount" and "pid" in system[
        "ProcessesAttributes"]
    assert system_cpu(system) is None  # EnabledCPUs 0: a client must not count it
    assert len(system["System"]) == len(system["SystemAttributes"])
    assert all(len(values) == len(system["ProcessesAttributes"])
               for values in processes["Processes"].values())
    quiet, loaded = system_cpu(idle[0]), system_cpu(busy[0])
    assert quiet["cpu_count"] == 6 and quiet["cpu_pct"] < 8
    # one virtual runner alive: about one core of six busy
    assert 15 < loaded["cpu_pct"] < 25 and loaded["cpu_total_load"] == pytest.approx(
        sum(loaded["cpu_per_core_pct"]), abs=1e-6)
    assert 401 in busy[1]["Processes"]
    tap.push_due(pushed.append, now=tap.due - 0.001)  # not yet due
    assert len(pushed) == 4
    late = tap.due + 10
    tap.push_due(pushed.append, now=late)  # late: one push, the next one interval on, no burst
    assert len(pushed) == 5 and tap.due == pytest.approx(late + tap.push_s)
    tap.stop()
    tap.push_due(pushed.append, now=tap.due + 20)
    assert len(pushed) == 5  # nothing after stop
