"""The governor axis without a device: option parsing, the grid, write ordering, the journal,
apply/verify/restore with a kernel-like fake, root detection, the per-device holder."""
from __future__ import annotations

import argparse
import json
import os

import pytest

from harness.config import build_config, parse_governors
from harness.devices import journal as journal_mod
from harness.devices.android_control import RootAccess
from harness.devices.base import DeviceInfo, ExecResult
from harness.devices.cpufreq_control import (GovernorOperation, Policy, limit_writes,
                                             restore_policies)
from harness.devices.journal import Journal
from harness.devices.operations import Operation, prepared
from harness.errors import InfraError, Unsupported, UsageError
from harness.run.cases import build_cases, group_by_device_and_governor
from harness.run.governors import GovernorHolder, check_governors, reason_of

GOVERNORS = ("schedutil", "performance", "powersave")
PHONE = DeviceInfo(id="SER1", kind="android", serial="SER1")


class KernelFiles:
    """Two policies in memory that refuse what the kernel refuses: an unknown governor, a min
    above the max (older kernels' EINVAL). ``keep`` names a governor the device silently
    keeps instead of the one written (a vendor daemon that resets it)."""
    where = "SER1"

    def __init__(self, keep: str | None = None, writable: bool = True):
        self.state = {"policy0": {"governor": "schedutil", "min": 300, "max": 1800},
                      "policy4": {"governor": "schedutil", "min": 500, "max": 2400}}
        self.hw = {"policy0": (300, 1800), "policy4": (500, 2400)}
        self.keep, self.writable, self.writes = keep, writable, []
        self.gone = False

    def read(self) -> dict[str, Policy]:
        if self.gone:
            raise InfraError("device SER1: adb shell: device offline")
        return {n: Policy(n, s["governor"], GOVERNORS, s["min"], s["max"], *self.hw[n],
                          {a: f"{n}/{a}" for a in ("scaling_governor", "scaling_min_freq",
                                                   "scaling_max_freq")})
                for n, s in self.state.items()}

    def write(self, writes):
        if self.gone:
            raise InfraError("device SER1: adb shell: device offline")
        said = []
        for path, value in writes:
            self.writes.append((path, value))
            name, attribute = path.split("/")
            s = self.state[name]
            if attribute == "scaling_governor":
                if value not in GOVERNORS:
                    said.append(f"{path}: Invalid argument")
                else:
                    s["governor"] = self.keep or value
            else:
                edge = "min" if attribute.endswith("min_freq") else "max"
                new = {**s, edge: int(value)}
                if new["min"] > new["max"]:
                    said.append(f"{path}: Invalid argument")
                else:
                    s[edge] = int(value)
        return "; ".join(said)

    def cannot_write(self):
        return None if self.writable else "setting governors needs root: adbd runs as uid=2000(shell)"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELAB_CACHE", str(tmp_path))
    return tmp_path


def _prepare(files, governor, ops=None):
    ops = ops or [GovernorOperation(files, "offers fixed-performance")]
    return prepared(ops, {"governor": governor}, Journal(PHONE.as_dict()), "repair-command")


# -- option, pyproject, grid --------------------------------------------------------------------
def test_governor_option_and_lab_key_are_parsed_alike(tmp_path):
    assert parse_governors("default, performance,powersave,performance") == \
        ("default", "performance", "powersave")
    for bad in ("perf ormance", "a;rm -rf", "$(id)", " , "):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_governors(bad)
    (tmp_path / "pyproject.toml").write_text('[tool.edgelab]\ngovernors = ["default", "powersave"]\n')
    assert build_config(argparse.Namespace(), tmp_path).governors == ("default", "powersave")
    assert build_config(argparse.Namespace(edgelab_governor=("performance",)),
                        tmp_path).governors == ("performance",)
    (tmp_path / "pyproject.toml").write_text('[tool.edgelab]\n')
    assert build_config(argparse.Namespace(), tmp_path).governors == ("default",)


def test_ids_name_the_governor_only_when_the_run_has_an_axis():
    host = DeviceInfo(id="host", kind="host", serial="h")
    plain = build_cases([host], ("m",), ("fp32",), ("tflite",))
    assert [c.id for c in plain] == ["host-m-fp32-tflite"] and plain[0].governor == "default"
    sweep = build_cases([host, PHONE], ("m",), ("fp32", "int8"), ("tflite",),
                        ("default", "powersave"))
    assert [c.id for c in sweep[:4]] == ["host-m-fp32-tflite-default", "host-m-int8-tflite-default",
                                         "host-m-fp32-tflite-powersave", "host-m-int8-tflite-powersave"]
    assert build_cases([PHONE], ("m",), ("fp32",), ("tflite",), ("powersave",))[0].id == \
        "SER1-m-fp32-tflite-powersave"


def test_suites_are_interleaved_so_each_device_governor_group_is_contiguous():
    cases = build_cases([PHONE, DeviceInfo(id="P2", kind="android", serial="P2")], ("m",),
                        ("fp32",), ("tflite",), ("performance", "powersave"))
    items = ["header"] + [("compat", c) for c in cases] + [("latency", c) for c in cases]
    ordered = group_by_device_and_governor(items, lambda i: i[1] if isinstance(i, tuple) else None)
    assert ordered[0] == "header"
    assert [(suite, c.device.id, c.governor) for suite, c in ordered[1:]] == [
        ("compat", "SER1", "performance"), ("latency", "SER1", "performance"),
        ("compat", "SER1", "powersave"), ("latency", "SER1", "powersave"),
        ("compat", "P2", "performance"), ("latency", "P2", "performance"),
        ("compat", "P2", "powersave"), ("latency", "P2", "powersave")]


# -- write ordering -----------------------------------------------------------------------------
def _policy(low, high):
    paths = {"scaling_min_freq": "p/scaling_min_freq", "scaling_max_freq": "p/scaling_max_freq"}
    return Policy("p", "schedutil", GOVERNORS, low, high, 100, 3000, paths)


def test_raising_the_range_writes_max_first_lowering_it_min_first():
    assert limit_writes(_policy(300, 300), 2000, 2000) == [("p/scaling_max_freq", "2000"),
                                                           ("p/scaling_min_freq", "2000")]
    assert limit_writes(_policy(2000, 2000), 300, 300) == [("p/scaling_min_freq", "300"),
                                                           ("p/scaling_max_freq", "300")]
    assert limit_writes(_policy(300, 1800), 100, 3000) == [("p/scaling_max_freq", "3000"),
                                                           ("p/scaling_min_freq", "100")]
    assert limit_writes(_policy(100, 3000), 100, 3000) == []


def test_restore_from_a_pinned_state_a_killed_run_left():
    files = KernelFiles()
    files.state["policy4"].update(min=600, max=600, governor="powersave")  # pinned low
    restore_policies(files, {"policy4": {"governor": "schedutil", "min_freq_khz": 2000,
                                         "max_freq_khz": 2400}})
    assert files.state["policy4"] == {"governor": "schedutil", "min": 2000, "max": 2400}


# -- apply, verify, restore, journal ------------------------------------------------------------
def test_apply_verifies_then_restores_the_snapshot_and_removes_the_journal(cache):
    files = KernelFiles()
    files.state["policy4"].update(min=1000, max=1500)  # limits a vendor daemon left
    with _prepare(files, "performance") as state:
        assert state["governors_observed"] == {"policy0": "performance", "policy4": "performance"}
        assert state["freq_limits_khz"]["policy4"] == [500, 2400]  # the whole hardware range
        saved = json.loads(journal_mod.journal_path("SER1").read_text())
        assert saved["entries"]["governors"]["policy4"] == {
            "governor": "schedutil", "min_freq_khz": 1000, "max_freq_khz": 1500}
        assert saved["device"]["id"] == "SER1" and saved["holder"]["pid"] == os.getpid()
    assert files.state["policy4"] == {"governor": "schedutil", "min": 1000, "max": 1500}
    assert files.state["policy0"]["governor"] == "schedutil"
    assert not journal_mod.journal_path("SER1").exists()


def test_a_device_that_keeps_another_governor_is_unsupported_with_what_was_read(cache):
    files = KernelFiles(keep="schedutil")
    with pytest.raises(Unsupported, match=r"SER1 refused governor powersave: read back "
                                          r"policy0 governor schedutil \(wrote powersave\)"):
        with _prepare(files, "powersave"):
            pass
    assert not journal_mod.journal_path("SER1").exists()


def test_unknown_and_unwritable_governors_are_unsupported_before_any_write(cache):
    files = KernelFiles()
    with pytest.raises(Unsupported, match=r"governor ondemand is not offered by SER1 \(policy0: "
                                          r"schedutil, performance, powersave;"):
        with _prepare(files, "ondemand"):
            pass
    unrooted = KernelFiles(writable=False)
    with pytest.raises(Unsupported, match=r"needs root: adbd runs as uid=2000\(shell\); "
                                          r"offers fixed-performance"):
        with _prepare(unrooted, "performance"):
            pass
    assert files.writes == [] and unrooted.writes == []


def test_a_restore_that_fails_on_a_gone_device_keeps_the_original_error(cache):
    files = KernelFiles()
    with pytest.raises(InfraError, match="tool crashed: device offline") as info:
        with _prepare(files, "performance"):
            files.gone = True
            raise InfraError("tool crashed: device offline")
    text = reason_of(info.value)
    assert text.startswith("tool crashed: device offline; restoring SER1 failed (governors: ")
    assert "repair with `repair-command`" in text
    assert journal_mod.journal_path("SER1").exists()  # kept for devices --restore


def test_a_failed_restore_without_an_error_is_the_error(cache):
    files = KernelFiles()
    with pytest.raises(InfraError, match=r"restoring SER1 failed \(governors: device SER1"):
        with _prepare(files, "performance"):
            files.gone = True


def test_interrupt_during_apply_still_restores(cache):
    class Interrupting(Operation):
        name = "second"

        def wants(self, conditions):
            return True

        def apply(self, conditions, before):
            raise KeyboardInterrupt("SIGTERM received")

    files = KernelFiles()
    with pytest.raises(KeyboardInterrupt):
        with _prepare(files, "performance", [GovernorOperation(files), Interrupting()]):
            pass
    assert {s["governor"] for s in files.state.values()} == {"schedutil"}
    assert not journal_mod.journal_path("SER1").exists()


def test_a_dead_runs_journal_is_restored_first_a_live_one_means_busy(cache):
    files = KernelFiles()
    files.state["policy0"]["governor"] = "powersave"  # what the killed run left
    Journal(PHONE.as_dict()).record("governors", {"policy0": {"governor": "schedutil"}})
    path = journal_mod.journal_path("SER1")
    data = json.loads(path.read_text())
    data["holder"]["pid"] = 2 ** 22 + 1  # no such process
    path.write_text(json.dumps(data))
    with _prepare(files, "default") as state:
        assert state["repaired"].startswith("restored governors left by a run that died")
    assert files.state["policy0"]["governor"] == "schedutil" and not path.exists()

    data["holder"] = {"pid": os.getppid(), "started": None, "host": data["holder"]["host"]}
    path.write_text(json.dumps(data))
    with pytest.raises(InfraError, match=r"held by another edgelab run \(pid"):
        with _prepare(files, "performance"):
            pass


# -- host ---------------------------------------------------------------------------------------
def _host_tree(root):
    for cpu, (low, high) in enumerate([(800, 3000), (800, 3000)]):
        d = root / f"cpu{cpu}" / "cpufreq"
        d.mkdir(parents=True)
        for name, value in (("scaling_governor", "schedutil"), ("related_cpus", str(cpu)),
                            ("scaling_available_governors", "performance powersave schedutil"),
                            ("scaling_min_freq", low), ("scaling_max_freq", high),
                            ("cpuinfo_min_freq", low), ("cpuinfo_max_freq", high)):
            (d / name).write_text(f"{value}\n")


def test_host_with_read_only_cpufreq_is_unsupported_with_the_reason(tmp_path, cache, monkeypatch):
    from harness.devices import host

    _host_tree(tmp_path / "cpu")
    monkeypatch.setattr(host, "SYSFS_CPU", tmp_path / "cpu")
    monkeypatch.setattr(host.os, "access", lambda path, mode: False)
    device = host.HostDevice()
    with pytest.raises(Unsupported, match=r"governor performance: cpufreq sysfs is not writable "
                                          r"here: .*cpu0/cpufreq/scaling_governor: "):
        with device.prepare({"governor": "performance"}):
            pass
    with device.prepare({}) as state:  # default: measured as found, observed per policy
        assert state["governors_observed"] == {"policy0": "schedutil", "policy1": "schedutil"}
    with pytest.raises(Unsupported, match="fixed-performance is an Android power mode"):
        with device.prepare({"governor": "fixed-performance"}):
            pass
    monkeypatch.setattr(host, "SYSFS_CPU", tmp_path / "none")
    with pytest.raises(Unsupported, match=r"no cpufreq policies to set a governor on"):
        with host.HostDevice().prepare({"governor": "performance"}):
            pass


def test_host_with_writable_cpufreq_applies_and_restores(tmp_path, cache, monkeypatch):
    from harness.devices import host

    _host_tree(tmp_path / "cpu")
    monkeypatch.setattr(host, "SYSFS_CPU", tmp_path / "cpu")
    governor = tmp_path / "cpu" / "cpu1" / "cpufreq" / "scaling_governor"
    with host.HostDevice().prepare({"governor": "powersave"}) as state:
        assert governor.read_text() == "powersave" and state["applied"] == ["governors"]
    assert governor.read_text().strip() == "schedutil"


# -- root on phones -----------------------------------------------------------------------------
class Answers:
    def __init__(self, answers):
        self.answers, self.asked = answers, []

    def shell(self, argv, timeout=None):
        self.asked.append(" ".join(argv))
        out, rc = self.answers.get(" ".join(argv), ("/system/bin/sh: su: inaccessible or not found", 127))
        return ExecResult(rc, out, "", 0.01)


@pytest.mark.parametrize("answers, method", [
    ({"id": ("uid=0(root) gid=0(root)", 0)}, "adbd"),
    ({"id": ("uid=2000(shell)", 0), "timeout 5 su -c id": ("uid=0(root) gid=0(root)", 0)}, "su -c"),
    ({"id": ("uid=2000(shell)", 0), "timeout 5 su -c id": ("su: unknown option -c", 1),
      "timeout 5 su 0 id": ("uid=0(root)", 0)}, "su 0"),
])
def test_root_is_found_through_adbd_or_su(answers, method):
    root = RootAccess(Answers(answers), lambda: {}, lambda: True)
    assert root.method == method
    if method == "su -c":
        assert root.wrap("echo a > /sys/x") == "su -c 'echo a > /sys/x'"


def test_no_root_says_why_and_what_to_do():
    sh = Answers({"id": ("uid=2000(shell) gid=2000(shell)", 0)})
    user = RootAccess(sh, lambda: {"ro.debuggable": "0", "ro.build.type": "user"}, lambda: False)
    assert user.method is None
    assert user.why_not == ("setting governors needs root: adbd runs as uid=2000(shell); no su; "
                            "adb root is refused on a user build (ro.debuggable=0)")
    assert sh.asked == ["id", "su -c id"]  # no device-side timeout: su asked plainly, once
    debug = RootAccess(Answers({"id": ("uid=2000(shell)", 0)}),
                       lambda: {"ro.debuggable": "1", "ro.build.type": "userdebug"}, lambda: True)
    assert "adb root is allowed on this build: run `adb root` first" in debug.why_not


# -- the run: names checked against devices, one hold per device --------------------------------
class HeldDevice:
    def __init__(self, files, refuse=()):
        self.policy_files, self.refuse, self.opened, self.closed = files, refuse, [], []

    def prepare(self, conditions):
        import contextlib

        @contextlib.contextmanager
        def cm():
            governor = conditions["governor"]
            if governor in self.refuse:
                raise Unsupported(f"refused {governor}")
            self.opened.append(governor)
            try:
                yield {"governor": governor, "applied": []}
            finally:
                self.closed.append(governor)
        return cm()


def test_each_governor_is_applied_once_per_device_and_released_at_the_end():
    device = HeldDevice(KernelFiles(), refuse=("powersave",))
    holder = GovernorHolder()
    for governor in ("performance", "performance", "powersave", "powersave", "schedutil"):
        try:
            holder.hold("SER1", device, governor)
        except Unsupported as exc:
            assert str(exc) == "refused powersave"
    assert device.opened == ["performance", "schedutil"] and device.closed == ["performance"]
    other = HeldDevice(KernelFiles())
    holder.hold("P2", other, "powersave")
    assert holder.release("P2") == [] and other.closed == ["powersave"]  # its cells ended
    assert device.closed == ["performance"]  # the other device stays held
    assert holder.release() == [] and device.closed == ["performance", "schedutil"]


def test_names_no_device_offers_are_a_usage_error_listing_the_offers():
    devices = {"SER1": HeldDevice(KernelFiles())}
    infos = [PHONE, DeviceInfo(id="OFF", kind="android", serial="OFF", state="offline")]
    check_governors(("default", "performance", "fixed-performance"), infos, lambda i: devices[i.id])
    with pytest.raises(UsageError, match=r"--governor: ondemand is offered by no device \(SER1: "
                                         r"performance, powersave, schedutil\); default and "
                                         r"fixed-performance are valid everywhere"):
        check_governors(("ondemand", "performance"), infos, lambda i: devices[i.id])


def test_records_from_before_the_axis_are_cells_at_the_default_governor(tmp_path):
    from harness.report.frame import flatten
    from harness.report.load import read_run

    old = {"conditions": {"governor": "sched_pixel"}}
    new = {"conditions": {"governor": "powersave", "governor_requested": "powersave"}}
    assert flatten(old)["governor"] == "default" and flatten(new)["governor"] == "powersave"
    base = {"run_id": "r", "test_id": "t", "suite": "latency", "status": "ok", "schema_version": 1,
            "device": {"id": "SER1"}, "model": {"name": "m"}, "variant": {"id": "fp32"},
            "engine": {"name": "tflite"}, "latency": {"n": 1, "median_ms": 1.0}}
    (tmp_path / "results.jsonl").write_text("".join(json.dumps({**base, **r}) + "\n"
                                                    for r in (old, new)))
    assert list(read_run(tmp_path)[1].frame["governor"]) == ["default", "powersave"]
