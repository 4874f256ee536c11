"""The virtual iPhone (usbmuxd stand-in + lockdownd) against the REAL pymobiledevice3 client.

No test here runs on a real iPhone: the stand-in answers from captures of real ones
(device_profiles/ios/), always labelled virtual. What is checked is that pymobiledevice3's own
CLI and library list and query it unchanged, that edgelab discovers it with the fix for the state
it plays, and that `pytest suites/ --device=all` records its cells as infra_error naming that fix.
Every stand-in stops by itself (--max-lifetime / the fixture's stop).
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from android_fixtures import model_cache, models  # noqa: F401 (fixtures)
from ios_fixtures import mlpackage, opened

pytest.importorskip("pymobiledevice3", reason="the ios extra: pip install -e '.[ios]'")
pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
XS_UDID = "00008120-000000000001B207"  # iPhone15,3: ChipID 0x8120, ECID 111111 of the capture


@pytest.fixture
def standin():
    """Start ``python -m harness virtual-device --usbmux 127.0.0.1:0`` for a profile; the first
    stdout line names the address. Killed at teardown, and bounded by --max-lifetime anyway."""
    started = []

    def start(profile: str = "iphone14promax") -> str:
        proc = subprocess.Popen([sys.executable, "-m", "harness", "virtual-device", "--profile",
                                 profile, "--usbmux", "127.0.0.1:0", "--max-lifetime", "300"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=REPO, stdin=subprocess.DEVNULL)
        started.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), line + proc.stderr.read()
        return line.split()[-1]

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)


def _env(address: str, home: Path) -> dict[str, str]:
    """usbmuxd = the stand-in; no adb server; a private HOME, so pymobiledevice3 finds none of
    the user's pair records and writes nothing into the user's home."""
    env = {**os.environ, "USBMUXD_SOCKET_ADDRESS": address, "EDGELAB_ADB_SERVER": "127.0.0.1:1",
           "HOME": str(home)}
    env.pop("EDGELAB_ADB_START", None)
    return env


def test_the_real_pymobiledevice3_cli_lists_the_virtual_iphone(standin, tmp_path):
    address = standin("device_profiles/ios/iphone14promax.toml")
    run = subprocess.run([sys.executable, "-m", "pymobiledevice3", "usbmux", "list"],
                         env=_env(address, tmp_path), capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    (device,) = json.loads(run.stdout)
    # the captured iOS 17.0 handshake's identity, as lockdownd's untrusted GetValue gives it
    assert device == {"BuildVersion": "21A5277j", "ConnectionType": "USB", "DeviceClass": "iPhone",
                      "DeviceName": "edgelab virtual iPhone", "Identifier": XS_UDID,
                      "ProductType": "iPhone15,3", "ProductVersion": "17.0",
                      "UniqueDeviceID": XS_UDID}


def test_the_library_gets_the_protocols_refusals(standin, tmp_path, monkeypatch):
    """Through pymobiledevice3's own code paths: no pair record at usbmuxd (NotPairedError), a
    device port nobody listens on (ConnectionFailedError), an untrusted StartSession refused,
    and the Trust dialog pending on Pair."""
    from pymobiledevice3 import exceptions, usbmux
    from pymobiledevice3.lockdown import create_using_usbmux

    address = standin()
    monkeypatch.setenv("HOME", str(tmp_path))

    async def scenario():
        (device,) = await usbmux.list_devices(usbmux_address=address)
        assert (device.serial, device.connection_type, device.ecid) == (XS_UDID, "USB", 111111)
        mux = await usbmux.create_mux(usbmux_address=address)
        try:
            with pytest.raises(exceptions.NotPairedError):
                await mux.get_pair_record(XS_UDID)
        finally:
            await mux.close()
        with pytest.raises(exceptions.ConnectionFailedError):
            await device.connect(1234, usbmux_address=address)
        lockdown = await create_using_usbmux(XS_UDID, autopair=False, usbmux_address=address,
                                             pairing_records_cache_folder=tmp_path)
        try:
            assert not lockdown.paired and lockdown.all_values["CPUArchitecture"] == "arm64e"
            assert lockdown.all_values["EdgelabVirtual"] is True
            with pytest.raises(exceptions.PairingDialogResponsePendingError):
                await lockdown.pair(timeout=0)
        finally:
            await lockdown.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_harness_devices_lists_the_iphone_with_its_state_and_fix(standin, tmp_path):
    address = standin()
    locked = standin("iphonexr")
    run = subprocess.run([sys.executable, "-m", "harness", "devices", "--json", "--usbmux",
                          address], env=_env(address, tmp_path), capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    (iphone,) = [d for d in json.loads(run.stdout)["devices"] if d["kind"] == "ios"]
    assert (iphone["id"], iphone["state"], iphone["virtual"]) == (XS_UDID, "not paired", True)
    details = iphone["details"]
    assert (details["product_type"], details["product_version"], details["cpu_architecture"],
            details["cpu_architecture_from"], details["chip"]) == (
        "iPhone15,3", "17.0", "arm64e", "lockdown", "A16 Bionic")
    assert "tap Trust" in details["fix"]
    text = subprocess.run([sys.executable, "-m", "harness", "devices", "--no-probe"],
                          env=_env(locked, tmp_path), capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert "00008020-000000000000A12B ios" in text.stdout, text.stdout
    # the XR capture has no CPUArchitecture: the chip table says it, and the state is "locked"
    assert "iPhone11,8 · iOS 13.3.1 · arm64e · A12 Bionic" in text.stdout
    assert "locked" in text.stdout and "fix: unlock the device (enter its passcode)" in text.stdout


def test_suites_record_iphone_cells_as_infra_error_with_the_fix(standin, model_cache, models,
                                                                tmp_path):
    address = standin()
    env = {**_env(address, tmp_path), "EDGELAB_CACHE": str(model_cache)}
    report_dir = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/test_compat.py", "--device=all",
                          "--model=ppocr_cls", "--variant=fp32", "--report-dir", str(report_dir),
                          "-p", "no:cacheprovider", "-q"], env=env, capture_output=True, text=True,
                         cwd=REPO, timeout=600)
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    results = next(report_dir.glob("*/results.jsonl"))
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    iphone = [r for r in records if r["device"]["kind"] == "ios"]
    engines = {r["engine"]["name"] for r in records if r["device"]["kind"] == "host"}
    assert {r["engine"]["name"] for r in iphone} == engines and iphone  # every cell recorded
    for record in iphone:
        assert record["status"] == "infra_error" and record["device"]["virtual"] is True
        assert record["reason"].startswith(f"device {XS_UDID} is not paired (fix: unlock the "
                                           f"iPhone and tap Trust"), record["reason"]
    assert "infra_error:" in run.stdout and "not paired" in run.stdout


@pytest.mark.parametrize("profile, state, fix_words, asked", [
    ("iphone14promax", "not paired", "tap Trust", "Pair"),
    ("iphonexr", "locked", "unlock the device", "Pair"),
    # trusted: the stand-in holds an earlier pairing's record; the real client starts a TLS
    # session (and, for the disk image, a TLS service connection) to find these
    ("iphone14promax_devmode_off", "developer mode off", "Developer Mode", "StartSession"),
    ("iphone14promax_paired", "tunnel not running", "remote tunneld", "StartSession"),
    ("iphonexr_paired", "developer disk image not mounted", "mounter auto-mount", "StartService"),
    ("iphonexr_ready", "device", None, "StartService"),
])
def test_each_state_is_found_through_the_real_client(profile, state, fix_words, asked,
                                                      monkeypatch, tmp_path):
    from harness.devices import ios
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))  # no pair records of the user's own phones
    with VirtualIPhone(profile, "127.0.0.1:0", max_lifetime_s=120) as phone:
        monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", phone.address)
        notes: list[str] = []
        (info,) = ios.discover(notes=notes)
    assert (info.state, info.virtual, notes) == (state, True, [])
    assert asked in phone.lockdownd.requests
    if fix_words:
        assert fix_words in info.details["fix"]
    else:
        assert "fix" not in info.details


def test_suites_record_a_ready_iphones_cells_as_unsupported_with_the_reason(
        standin, model_cache, models, tmp_path):
    address = standin("iphonexr_ready")
    env = {**_env(address, tmp_path), "EDGELAB_CACHE": str(model_cache)}
    report_dir = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/test_compat.py",
                          "--device=00008020-000000000000A12B", "--model=ppocr_cls",
                          "--variant=fp32", "--report-dir", str(report_dir),
                          "-p", "no:cacheprovider", "-q"], env=env, capture_output=True, text=True,
                         cwd=REPO, timeout=600)
    # only this iPhone was asked for and nothing on it can be measured yet: edgelab's exit 6
    assert run.returncode == 6 and "nothing was measured" in run.stdout, run.stdout[-3000:]
    results = next(report_dir.glob("*/results.jsonl"))
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    assert records and all(r["status"] == "unsupported" for r in records), records
    by_engine = {r["engine"]["name"]: r["reason"] for r in records}
    assert by_engine["onnxruntime"].startswith("onnxruntime does not run on iPhones in edgelab")
    assert records[0]["device"]["kind"] == "ios" and records[0]["device"]["soc"] == "A12 Bionic"


def test_push_and_pull_through_house_arrest_into_the_runners_documents(monkeypatch, tmp_path):
    """A Core ML package (a directory) and a job file reach the runner's Documents over AFC,
    through the real pymobiledevice3 HouseArrestService; a second push sends nothing, a changed
    file alone is sent again; pull reads a file back."""
    from harness.devices.ios_files import RUNNER_BUNDLE_ID
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    package = tmp_path / "model.mlpackage"
    (package / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(
        bytes(range(256)) * 20000)  # 5 MB: more than one AFC write chunk
    job = tmp_path / "job.json"
    job.write_text('{"schema": 1}')
    with VirtualIPhone("iphonexr_ready", "127.0.0.1:0", max_lifetime_s=120) as phone:
        device = opened(phone, monkeypatch)
        documents = phone.containers.by_bundle[RUNNER_BUNDLE_ID] / "Documents"
        remote = device.push(package, "/edgelab/models/abc")
        assert remote == "/edgelab/models/abc/model.mlpackage"
        copy = documents / "edgelab/models/abc/model.mlpackage"
        assert (copy / "Data/com.apple.CoreML/weights/weight.bin").read_bytes() == \
            (package / "Data/com.apple.CoreML/weights/weight.bin").read_bytes()
        assert device.push(job, "/edgelab") == "/edgelab/job.json"
        from harness.devices import ios_files
        from harness.devices.ios import _run

        again = _run(ios_files.push(device.info.serial, phone.address, package,
                                    "/edgelab/models/abc"), 60)
        assert (again["pushed_files"], again["skipped_files"]) == (0, 2)
        (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.1"}')
        changed = _run(ios_files.push(device.info.serial, phone.address, package,
                                      "/edgelab/models/abc"), 60)
        assert (changed["pushed_files"], changed["skipped_files"]) == (1, 1)
        (documents / "edgelab" / "results.json").write_text('{"schema": 1, "status": "ok"}')
        pulled = device.pull("/edgelab/results.json", tmp_path / "out" / "results.json")
        assert pulled.read_text() == '{"schema": 1, "status": "ok"}'


def test_core_ml_cells_name_the_missing_runner_app(monkeypatch, tmp_path):
    import types

    from harness.errors import Unsupported
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("EDGELAB_CACHE", str(tmp_path / "cache"))  # no runner registered
    coreml = types.SimpleNamespace(name="coreml")
    artifact = types.SimpleNamespace(path=tmp_path / "compiled.mlmodelc")
    with VirtualIPhone("iphonexr_paired", "127.0.0.1:0", max_lifetime_s=120) as phone:
        device = opened(phone, monkeypatch)
        with pytest.raises(Unsupported, match=r"EdgelabRunner app \(org.edgelab.EdgelabRunner\) "
                                              r"is not installed on this iPhone: build and sign"):
            device.run_engine(coreml, artifact, None, None)


@pytest.mark.parametrize("play, outcome", [
    ("ok", None),
    ("hang", r"^timeout: EdgelabRunner did not finish within 3 s; no results.json in its "
             r"Documents; killed \(pid \d+\) through process control"),
    ("crash", r"EdgelabRunner \(pid \d+\) ended (on signal \d+ )?without writing results.json"),
])
def test_a_core_ml_cell_is_launched_and_collected_through_process_control(
        play, outcome, monkeypatch, tmp_path):
    """Deploy (AFC), launch (the real pymobiledevice3 ProcessControl over DTX), poll, collect,
    parse: the virtual runner's result is labelled virtual; a hanging runner is killed at the
    timeout (failed: timeout); a crashing one is a failed cell naming how it ended."""
    import types

    from harness.engines.base import RunSettings
    from harness.errors import MeasurementError, ToolTimeout
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    coreml = types.SimpleNamespace(name="coreml")
    artifact = mlpackage(tmp_path)
    settings = RunSettings(warmup=2, iterations=5, timeout_s=3, compute_units="cpuOnly")
    with VirtualIPhone("iphone14promax_ios16_ready", "127.0.0.1:0", max_lifetime_s=120,
                       runner_play=play) as phone:
        device = opened(phone, monkeypatch)
        if outcome is None:
            raw = device.run_engine(coreml, artifact, None, settings)
            assert len(raw.samples_ms) == 5 and all(v > 0 for v in raw.samples_ms)
            assert raw.engine_version.startswith("virtual stand-in of EdgelabRunner on iOS 16.6")
            assert raw.extra["tool"]["virtual"] is True
            assert raw.extra["job"]["compute_units"] == "cpuOnly"
            assert raw.extra["launch"]["pid"] > 0 and raw.extra["launch"]["polls"] >= 1
            return
        expected = ToolTimeout if play == "hang" else MeasurementError
        with pytest.raises(expected, match=outcome):
            device.run_engine(coreml, artifact, None, settings)
        assert not phone.processes.running  # killed, or ended by itself


def _ipa(path: Path, bundle: str = "org.edgelab.EdgelabRunner", minimum: str = "16.0") -> Path:
    """An app archive laid out as xcodebuild -exportArchive writes one (no code inside: the
    stand-in, like installation_proxy before signature checks, reads only its Info.plist)."""
    import plistlib
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Payload/EdgelabRunner.app/Info.plist", plistlib.dumps({
            "CFBundleIdentifier": bundle, "CFBundleShortVersionString": "1.0",
            "CFBundleVersion": "1", "MinimumOSVersion": minimum}, fmt=plistlib.FMT_BINARY))
        archive.writestr("Payload/EdgelabRunner.app/EdgelabRunner", b"\xcf\xfa\xed\xfe")
    return path


def test_a_registered_runner_is_installed_through_installation_proxy(monkeypatch, tmp_path):
    import types

    from harness.devices.ios_files import RUNNER_BUNDLE_ID
    from harness.errors import Unsupported
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("EDGELAB_CACHE", str(tmp_path / "cache"))
    coreml = types.SimpleNamespace(name="coreml")
    artifact = types.SimpleNamespace(path=tmp_path / "compiled.mlmodelc")
    cli = [sys.executable, "-m", "harness", "ios-runner"]
    env = {**os.environ, "EDGELAB_CACHE": str(tmp_path / "cache")}
    wrong = subprocess.run(cli + ["add", str(_ipa(tmp_path / "other.ipa", bundle="com.x.y"))],
                           env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert wrong.returncode == 2 and "bundle id 'com.x.y' is not the runner's" in wrong.stderr
    with VirtualIPhone("iphonexr_paired", "127.0.0.1:0", max_lifetime_s=120) as phone:
        device = opened(phone, monkeypatch)
        with pytest.raises(Unsupported, match="then register the .ipa with `python -m harness "
                                              "ios-runner add EdgelabRunner.ipa`"):
            device.run_engine(coreml, artifact, None, None)
        added = subprocess.run(cli + ["add", str(_ipa(tmp_path / "EdgelabRunner.ipa"))],
                               env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert added.returncode == 0 and "minimum iOS 16.0" in added.stdout, added.stderr
        # the registered app needs iOS 16; this XR runs 13.3.1: refused by the phone, both named
        with pytest.raises(Unsupported, match=r"DeviceOSVersionTooLow.*needs iOS 16.0; this "
                                              r"device runs iOS 13.3.1"):
            device.run_engine(coreml, artifact, None, None)
        subprocess.run(cli + ["add", str(_ipa(tmp_path / "EdgelabRunner.ipa", minimum="13.0"))],
                       env=env, check=True, capture_output=True, timeout=60, cwd=REPO)
        assert device.ensure_runner() == "installed now"  # what a Core ML cell calls first
        assert RUNNER_BUNDLE_ID in phone.containers.by_bundle  # its container now exists
        assert phone.lockdownd.requests.count("StartService") >= 4  # house_arrest, afc, proxy


def test_battery_telemetry_through_diagnostics_relay(monkeypatch, tmp_path):
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    with VirtualIPhone("iphonexr_ready", "127.0.0.1:0", max_lifetime_s=120) as phone:
        sample = opened(phone, monkeypatch).sample()
    # the stand-in's configured IORegistry entry (profile.DEFAULT_BATTERY), read by the real
    # DiagnosticsService.get_battery over a TLS service connection
    assert (sample["battery_temp_c"], sample["battery_voltage_mv"], sample["battery_current_ma"],
            sample["battery_pct"], sample["charging"]) == (30.5, 4012.0, -412.0, 81.0, False)
    assert sample["telemetry_source"] == "diagnostics_relay IOPMPowerSource"
    with VirtualIPhone("iphone14promax", "127.0.0.1:0", max_lifetime_s=120) as phone:
        untrusted = opened(phone, monkeypatch).sample()
    assert list(untrusted) == ["telemetry_error"]  # not paired: no reading, and no failure


def test_suites_measure_a_ready_iphones_core_ml_cells_per_compute_units(
        standin, model_cache, models, tmp_path):
    """`pytest suites/` on the ready virtual iPhone (iOS 16.6): each Core ML cell runs once per
    --ios-compute-units value (ids name it), through the real client, recorded ok and virtual."""
    import shutil

    pytest.importorskip("coremltools", reason="the convert extra builds Core ML variants")
    cache = tmp_path / "cache"  # own cache: the Core ML build stays in this test
    shutil.copytree(model_cache / "models", cache / "models")
    plan = tmp_path / "plan.toml"
    plan.write_text('[ppocr_cls]\nvariants = ["fp32"]\nformats = ["coreml"]\n')
    build = subprocess.run([sys.executable, "-m", "harness", "models", "build", "--model",
                            "ppocr_cls", "--cache", str(cache), "--plan", str(plan)],
                           capture_output=True, text=True, cwd=REPO, timeout=600,
                           env={**os.environ, "EDGELAB_CACHE": str(cache)})
    assert build.returncode == 0 and "1 built" in build.stdout + build.stderr, \
        build.stdout[-2000:] + build.stderr[-2000:]
    address = standin("iphone14promax_ios16_ready")
    env = {**_env(address, tmp_path), "EDGELAB_CACHE": str(cache)}
    report_dir = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/test_latency.py",
                          f"--device={XS_UDID}", "--model=ppocr_cls", "--variant=fp32",
                          "--engine=coreml", "--ios-compute-units=cpuOnly,all",
                          "--min-time", "1.5",
                          "--report-dir", str(report_dir), "-p", "no:cacheprovider", "-q"],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    results = next(report_dir.glob("*/results.jsonl"), None)
    records = ([json.loads(line) for line in results.read_text().splitlines() if line.strip()]
               if results else [])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert sorted(r["test_id"].rstrip("]").rsplit("-", 1)[-1] for r in records) == ["all", "cpuOnly"]
    for record in records:
        assert record["status"] == "ok" and record["conditions"]["virtual"], record
        assert record["conditions"]["ios_compute_units"] in ("cpuOnly", "all")
        assert record["engine"]["version"].startswith("virtual stand-in of EdgelabRunner")
        # telemetry as on Android: battery power over the runner's own loop, the battery's
        # temperature, CPU load from sysmontap, throttled from the runner's thermal state
        power, conditions = record["power"], record["conditions"]
        assert power["source"] == "battery" and power["energy_per_inference_mj"] > 0, power
        assert power["avg_power_mw"] > power["idle_power_mw"] > 0
        assert (conditions["temp_c"], conditions["temp_zone"]) == (30.5, "battery")
        assert conditions["throttled"] is False and conditions["thermal_state"] == ["nominal"] * 2
        assert "telemetry_lost" not in conditions
        assert any(v for v in record["extra"]["trace"]["cpu_pct"] if v), record["extra"]["trace"]
        assert record["extra"]["phone_clock"]["offset_s"] == pytest.approx(2.75, abs=0.05)


XR_UDID = "00008020-000000000000A12B"  # iphonexr*.toml


def _wait(condition, timeout_s: float = 8.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.mark.parametrize("profile, udid, major, service", [
    ("iphone14promax_ios16_ready", XS_UDID, 16, "DVT_SERVICE"),  # TLS throughout
    ("iphonexr_ready", XR_UDID, 13, "DVT_SERVICE_OLD"),         # TLS handshake, then plain
])
def test_sysmontap_cpu_load_through_the_real_client_follows_the_runner(
        profile, udid, major, service, monkeypatch, tmp_path):
    """SysmonStream (pymobiledevice3's DvtProvider + Sysmontap.create: deviceinfo's attribute
    lists, setConfig:/start, the pushed DATA arrays) against the virtual iPhone: readings arrive
    on the host clock, as % of all 6 cores; while a runner launched through process control
    (a second DTX connection, the real ProcessControl) is alive the load is about one core
    higher; stop() sends ``stop`` and ends the stream without a reason to report."""
    import threading
    import time

    from harness.devices.ios import _run
    from harness.devices.ios_files import RUNNER_BUNDLE_ID
    from harness.devices.ios_sysmontap import SysmonStream
    from harness.virtual.ios import VirtualIPhone, instruments

    async def process_control(action, pid=0):
        from pymobiledevice3.lockdown import create_using_usbmux
        from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
        from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl

        lockdown = await create_using_usbmux(udid, autopair=False, usbmux_address=phone.address)
        try:
            async with DvtProvider(lockdown) as dvt, ProcessControl(dvt) as control:
                if action == "launch":
                    return await control.launch(RUNNER_BUNDLE_ID, kill_existing=True)
                await control.kill(pid)
        finally:
            await lockdown.close()

    monkeypatch.setenv("HOME", str(tmp_path))
    readings: list[tuple[float, dict]] = []
    before = set(threading.enumerate())
    # "hang": the virtual runner stays alive until process control kills it
    with VirtualIPhone(profile, "127.0.0.1:0", max_lifetime_s=60, runner_play="hang") as phone:
        stream = SysmonStream(udid, phone.address, major, 0.05,
                              lambda t, r: readings.append((t, r))).start()
        try:
            assert _wait(lambda: len(readings) >= 3 or not stream.running), stream.lost
            asked = time.monotonic()
            pid = _run(process_control("launch"), 30)
            launched = time.monotonic()
            assert phone.processes.alive() == [(pid, "EdgelabRunner")]
            assert _wait(lambda: sum(t > launched + 0.06 for t, _ in readings) >= 4)
            killing = time.monotonic()
            _run(process_control("kill", pid), 30)
            killed = time.monotonic()
            assert phone.processes.alive() == [] and phone.processes.kills == [pid]
            assert _wait(lambda: sum(t > killed + 0.06 for t, _ in readings) >= 3)
        finally:
            stream.stop()
        assert not stream.running and stream.lost is None and stream.samples == len(readings)
        server = phone.lockdownd.services[getattr(instruments, service)]
        assert [s for _, s in server.sysmon] == ["setConfig:", "start", "stop"]
        # the phone's side of every connection (the stream's, process control's) has ended
        assert _wait(lambda: not [t for t in set(threading.enumerate()) - before
                                  if t.name.endswith("(_serve)")], 5)
    times = [t for t, _ in readings]
    assert times == sorted(times) and all(
        (r["cpu_count"], r["cpu_count_from"], r["source"]) == (6, "CPUCount", "sysmontap")
        and 0 <= r["cpu_pct"] <= 100 for _, r in readings)

    def mean(values):
        values = list(values)
        assert values
        return sum(values) / len(values)

    # each reading is sampled when pushed: one interval after a change it shows the change
    idle = mean(r["cpu_pct"] for t, r in readings if t < asked)
    busy = mean(r["cpu_pct"] for t, r in readings if launched + 0.06 < t < killing)
    after = mean(r["cpu_pct"] for t, r in readings if t > killed + 0.06)
    # one core of six busy on top of the idle few percent: about 16 points more
    assert idle < 8 and after < 8 and busy > idle + 10, (idle, busy, after)


def test_sysmontap_without_the_developer_disk_image_ends_with_the_fix(monkeypatch, tmp_path):
    """A paired iPhone without the developer disk image: lockdownd refuses the developer
    services (InvalidService), so the stream ends at once naming the mount command."""
    from harness.devices.ios_sysmontap import SysmonStream
    from harness.virtual.ios import VirtualIPhone

    monkeypatch.setenv("HOME", str(tmp_path))
    readings = []
    with VirtualIPhone("iphonexr_paired", "127.0.0.1:0", max_lifetime_s=60) as phone:
        stream = SysmonStream(XR_UDID, phone.address, 13, 0.05,
                              lambda t, r: readings.append(r)).start()
        assert _wait(lambda: not stream.running)
        stream.stop()  # idempotent after the end
        stream.stop()
    assert readings == [] and "StartService" in phone.lockdownd.requests
    assert stream.lost.startswith("lockdownd would not start the developer services "
                                  "(InvalidServiceError"), stream.lost
    assert "pymobiledevice3 mounter auto-mount" in stream.lost


def test_sysmontap_whose_connection_breaks_says_so_instead_of_hanging(monkeypatch, tmp_path):
    """The phone's side of the connection dies mid-stream (a push fails: unplugged): the
    client's channel closes, and the stream ends with the reason and the fix."""
    from harness.devices.ios_sysmontap import SysmonStream
    from harness.virtual.ios import VirtualIPhone
    from harness.virtual.ios.sysmon import SysmonTap

    monkeypatch.setenv("HOME", str(tmp_path))
    real_push = SysmonTap.push_due

    def unplugged_after_four(self, push, now=None):
        if self.pushes >= 4:
            raise ConnectionResetError(104, "Connection reset by peer")
        real_push(self, push, now)

    monkeypatch.setattr(SysmonTap, "push_due", unplugged_after_four)
    readings = []
    with VirtualIPhone("iphone14promax_ios16_ready", "127.0.0.1:0", max_lifetime_s=60) as phone:
        stream = SysmonStream(XS_UDID, phone.address, 16, 0.05,
                              lambda t, r: readings.append(r)).start()
        assert _wait(lambda: not stream.running)
        stream.stop()
    # pushes: the ack, the first sample (skipped), then two readings
    assert len(readings) == 2
    assert stream.lost and "connection to the iPhone broke" in stream.lost, stream.lost
    assert "replug the iPhone" in stream.lost
