"""The virtual device against the real adb server (Debian `adb`) and the real adbutils client.

Every test talks the adbd wire protocol through a real client; nothing here calls the virtual
device's Python internals except to start it. Expected texts are those of real phones (see
shared/device-data/adb/ and device_profiles/README.md).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TMP = "/data/local/tmp"
GOVERNOR = "/sys/devices/system/cpu/cpu{}/cpufreq/scaling_governor"


def _shell(adb_server, serial: str, command: str, timeout: float = 20):
    return adb_server.run("-s", serial, "shell", command, timeout=timeout)


# -- identity ------------------------------------------------------------------------------------
def test_connect_identity_and_devices_list(adb_server, virtual_phone):
    phone = virtual_phone("pixel8")
    model = _shell(adb_server, phone.serial, "getprop ro.product.model")
    assert (model.returncode, model.stdout) == (0, "Pixel 8\n")
    assert _shell(adb_server, phone.serial, "getprop ro.edgelab.virtual").stdout == "1\n"
    listing = adb_server.run("devices", "-l").stdout
    line = next(x for x in listing.splitlines() if x.startswith(phone.serial))
    assert re.search(r"\sdevice product:shiba model:Pixel_8 device:shiba\b", line), line
    features = adb_server.client().device(phone.serial).get_features()
    assert {"shell_v2", "stat_v2", "ls_v2", "edgelab_virtual"} <= set(features.split(","))


def test_getprop_dump_is_the_capture(adb_server, virtual_phone, device_data):
    phone = virtual_phone("mate20")
    dump = _shell(adb_server, phone.serial, "getprop").stdout
    capture = (device_data / "getprop/hisilicon_kirin980_huawei_mate20_android9.txt").read_text()
    for line in capture.splitlines()[:50]:
        if "serialno" not in line:
            assert line in dump
    assert "[ro.edgelab.virtual]: [1]" in dump
    assert _shell(adb_server, phone.serial, "uname -m").stdout == "aarch64\n"


# -- shell -----------------------------------------------------------------------------------
def test_shell_v2_exit_codes_and_streams(adb_server, virtual_phone):
    phone = virtual_phone("pixel8")
    device = adb_server.client().device(phone.serial)
    assert device.shell2("false", v2=True).returncode == 1
    assert device.shell2("exit 3", v2=True).returncode == 3
    missing = device.shell2("nosuchtool --x", v2=True)
    assert missing.returncode == 127
    assert missing.stderr == "/system/bin/sh: nosuchtool: inaccessible or not found\n"
    assert missing.stdout == ""
    # adbutils' v1 path appends `; echo X4EXIT:$?` and reads the code back from stdout
    assert device.shell2("cat /nonexistent").returncode == 1
    assert adb_server.run("-s", phone.serial, "shell", "false").returncode == 1
    both = device.shell2("echo out; echo err >&2; true && echo yes || echo no", v2=True)
    assert (both.stdout, both.stderr, both.returncode) == ("out\nyes\n", "err\n", 0)


@pytest.mark.parametrize("argument", ["a b;c", "it's \"quoted\" & $HOME `x` \\ |", ";rm -rf /;"])
def test_quoting_survives_the_wire(adb_server, virtual_phone, argument):
    phone = virtual_phone("pixel8")
    via_adb = _shell(adb_server, phone.serial, f"echo {shlex.quote(argument)}")
    assert via_adb.stdout == argument + "\n"
    via_adbutils = adb_server.client().device(phone.serial).shell(["echo", argument])
    assert via_adbutils == argument
    listing = _shell(adb_server, phone.serial, "ls /data/local/tmp /system/bin >/dev/null; echo $?")
    assert listing.stdout == "0\n"


def test_shell_understands_what_the_harness_sends(adb_server, virtual_phone):
    phone = virtual_phone("nexus4")
    run = lambda cmd: _shell(adb_server, phone.serial, cmd)  # noqa: E731
    assert run("cd /data/local/tmp && mkdir -p a/b && ls").stdout == "a\n"
    assert run("sh -c 'echo $((1))' ; echo $?").stdout.endswith("2\n")  # unsupported syntax: rc 2
    assert run("timeout 1 sleep 5; echo $?").stdout == "124\n"
    assert run("getconf PAGESIZE; uname -m").stdout == "4096\narmv7l\n"
    assert run("cat /proc/cpuinfo").stdout.startswith("Processor\t: ARMv7 Processor rev 2 (v7l)")
    temps = run("cat /sys/class/thermal/thermal_zone*/temp").stdout.split()
    assert temps[:3] == ["25000", "-40", "309"]  # the msm8953 capture, glob order
    battery = run("dumpsys battery").stdout
    assert "Current Battery Service state:" in battery and "level: 19" in battery
    assert run("dumpsys thermalservice").stderr == "Can't find service: thermalservice\n"
    assert "Filesystem" in run("df -k /data").stdout
    assert run("pm list packages").returncode == 127
    exec_out = adb_server.run("-s", phone.serial, "exec-out", "cat /proc/cpuinfo | sha256sum")
    assert exec_out.stdout.endswith("  -\n") and len(exec_out.stdout.split()[0]) == 64
    assert adb_server.run("-s", phone.serial, "root").stdout == "adbd is already running as root\n"
    # stdin: `adb exec-in` (raw stream) and `adb shell` without a command (v2 stdin packets)
    adb_server.run("-s", phone.serial, "exec-in", f"cat > {TMP}/in.txt", input="from stdin\n")
    deadline = time.monotonic() + 5  # exec-in returns once stdin is sent, as with a phone
    while run(f"cat {TMP}/in.txt").stdout != "from stdin\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = adb_server.run("-s", phone.serial, "shell", input=f"cat {TMP}/in.txt\nfalse\necho $?\n")
    assert lines.stdout == "from stdin\n1\n"


def test_page_size_variant(adb_server, virtual_phone):
    phone = virtual_phone("pixel8_16k")
    assert _shell(adb_server, phone.serial, "getconf PAGESIZE").stdout == "16384\n"
    assert _shell(adb_server, phone.serial, "getprop ro.product.model").stdout == "Pixel 8\n"
    other = virtual_phone("nexus4", page_size=16384)  # or per device, from the API / --page-size
    assert _shell(adb_server, other.serial, "getconf PAGE_SIZE").stdout == "16384\n"


def test_profile_captures_are_the_shared_ones(device_data):
    """device_profiles/captures/ must stay byte-identical copies of ../shared/device-data."""
    copies = REPO / "device_profiles" / "captures"
    files = [p for p in copies.rglob("*.txt")]
    assert files
    for copy in files:
        assert copy.read_bytes() == (device_data / copy.relative_to(copies)).read_bytes(), copy
    from harness.virtual.profile import available_profiles, load_profile

    for name in available_profiles():
        profile = load_profile(name)
        assert profile.props["ro.edgelab.virtual"] == "1"
        for path in profile.capture_paths.values():
            assert (copies / path.relative_to(path.parents[1])).is_file(), path


# -- sync: push, pull, stat -----------------------------------------------------------------------
def test_push_pull_3mb_round_trip(adb_server, virtual_phone, tmp_path):
    phone = virtual_phone("pixel8")
    payload = os.urandom(3 * 1024 * 1024)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    started = time.perf_counter()
    pushed = adb_server.run("-s", phone.serial, "push", str(local), f"{TMP}/blob.bin")
    push_s = time.perf_counter() - started
    assert pushed.returncode == 0, pushed.stderr
    digest = hashlib.sha256(payload).hexdigest()
    assert _shell(adb_server, phone.serial, f"sha256sum {TMP}/blob.bin").stdout == \
        f"{digest}  {TMP}/blob.bin\n"
    back = tmp_path / "back.bin"
    assert adb_server.run("-s", phone.serial, "pull", f"{TMP}/blob.bin", str(back)).returncode == 0
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    # adbutils' own sync client on the same file
    device = adb_server.client().device(phone.serial)
    assert device.sync.read_bytes(f"{TMP}/blob.bin") == payload
    print(f"\nadb push 3 MiB through the adb server: {3 / push_s:.1f} MiB/s (incl. adb start-up)")


def test_stat_list_and_modes(adb_server, virtual_phone):
    phone = virtual_phone("pixel8")
    sync = adb_server.client().device(phone.serial).sync
    before = int(time.time())
    sync.push(b"#!/system/bin/sh\necho hi\n", f"{TMP}/run.sh", mode=0o755)
    info = sync.stat(f"{TMP}/run.sh")
    # adbd copies the owner's permission bits to group and other: 0755 arrives as 0777
    assert stat.S_ISREG(info.mode) and stat.S_IMODE(info.mode) == 0o777
    assert info.size == 25 and abs(info.mtime.timestamp() - before) < 5
    assert not sync.exists(f"{TMP}/missing")
    assert stat.S_ISDIR(sync.stat(TMP).mode)
    names = [entry.path for entry in sync.list(TMP)]
    assert "run.sh" in names and "." in names
    assert _shell(adb_server, phone.serial, f"{TMP}/run.sh").stdout == "hi\n"
    assert _shell(adb_server, phone.serial, f"stat -c '%s %a' {TMP}/run.sh").stdout == "25 777\n"
    listed = adb_server.run("-s", phone.serial, "shell", "ls", "-l", TMP).stdout  # STA2/LS2 users
    assert re.search(r"^-rwxrwxrwx 1 \w+ \w+ 25 .* run\.sh$", listed, re.M), listed


def test_governor_write_then_read_back(adb_server, virtual_phone):
    phone = virtual_phone("pixel8")
    run = lambda cmd: _shell(adb_server, phone.serial, cmd)  # noqa: E731
    assert run(f"cat {GOVERNOR.format(0)}").stdout == "sched_pixel\n"
    assert run(f"echo performance > {GOVERNOR.format(0)}").returncode == 0
    # cpu0-3 share one policy (related_cpus "0 1 2 3"); cpu4 is another cluster
    assert run(f"cat {GOVERNOR.format(3)} {GOVERNOR.format(4)}").stdout == "performance\nsched_pixel\n"
    cur = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"
    assert run(f"cat {cur}").stdout == "1704000\n"  # performance pins the policy's max
    bad = run(f"echo turbo > {GOVERNOR.format(0)}")
    assert (bad.returncode, bad.stderr) == (1, "/system/bin/sh: echo: write error: Invalid argument\n")
    readonly = run("echo 1 > /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    assert readonly.stderr == ("/system/bin/sh: can't create /sys/devices/system/cpu/cpu0/cpufreq/"
                               "cpuinfo_max_freq: Permission denied\n")
    other = virtual_phone("pixel8")  # governors are per device
    assert _shell(adb_server, other.serial, f"cat {GOVERNOR.format(0)}").stdout == "sched_pixel\n"


# -- executing pushed files -------------------------------------------------------------------
def test_elf_abi_enforcement(adb_server, virtual_phone, stub_dir):
    expectations = {  # profile -> {abi: runs?}
        "nexus4": {"arm64-v8a": False, "armeabi-v7a": True, "x86_64": False},
        "pixel8": {"arm64-v8a": True, "armeabi-v7a": False, "x86_64": False},
        "mate20": {"arm64-v8a": True, "armeabi-v7a": True, "x86_64": False},
    }
    for profile, abis in expectations.items():
        phone = virtual_phone(profile)
        for abi, runs in abis.items():
            target = f"{TMP}/{abi}/benchmark_model"
            assert adb_server.run("-s", phone.serial, "push",
                                  str(stub_dir / abi / "benchmark_model"), target).returncode == 0
            result = _shell(adb_server, phone.serial, f"cd {TMP}/{abi} && ./benchmark_model")
            if runs:  # the stub ran: benchmark_model's own complaint about the missing --graph
                assert result.stdout.startswith("STARTING!\n"), (profile, abi, result)
                assert result.returncode == 1
            else:
                bits = 32 if abi == "armeabi-v7a" else 64
                assert (result.returncode, result.stderr) == (
                    1, f"/system/bin/sh: ./benchmark_model: not executable: {bits}-bit ELF file\n"), \
                    (profile, abi)


def test_exec_permission_and_non_elf_files(adb_server, virtual_phone, stub_dir):
    phone = virtual_phone("nexus4")
    serial = phone.serial
    adb_server.run("-s", serial, "push", str(stub_dir / "armeabi-v7a" / "benchmark_model"), f"{TMP}/bm")
    denied = _shell(adb_server, serial, f"chmod 644 {TMP}/bm && {TMP}/bm")
    assert (denied.returncode, denied.stderr) == (
        126, f"/system/bin/sh: {TMP}/bm: can't execute: Permission denied\n")
    sync = adb_server.client().device(serial).sync
    sync.push(b"\x1f\x8b\x08\x00compressed", f"{TMP}/x.gz", mode=0o755)
    gz = _shell(adb_server, serial, f"{TMP}/x.gz")
    assert (gz.returncode, gz.stderr) == (1, f"/system/bin/sh: {TMP}/x.gz: not executable: magic 1F8B\n")
    assert _shell(adb_server, serial, f"{TMP}/nothere").returncode == 127


def _parse(tool: str, text: str) -> dict | None:
    if importlib.util.find_spec("harness.parsers") is None:
        return None  # parsers land separately; the format itself is still checked below
    from harness import parsers

    return parsers.parse(tool, text)


def test_tool_stub_runs_the_real_engine(adb_server, virtual_phone, stub_dir, model_files):
    phone = virtual_phone("pixel8")
    serial = phone.serial
    for local in (stub_dir / "arm64-v8a" / "benchmark_model", model_files["face_landmark"]):
        assert adb_server.run("-s", serial, "push", str(local), f"{TMP}/").returncode == 0
    command = (f"cd {TMP} && chmod 755 benchmark_model && ./benchmark_model "
               f"--graph={TMP}/face_landmark.tflite --num_threads=1 --num_runs=12 "
               f"--warmup_runs=2 --min_secs=0 --warmup_min_secs=0 "
               f"--input_layer=input_1 --input_layer_shape=1,192,192,3")
    result = _shell(adb_server, serial, command, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Inference timings in us: Init: " in result.stdout
    assert re.search(r"^count=12 first=\d+ curr=\d+ min=\d+ max=\d+ avg=[\d.]+ std=\d+$",
                     result.stdout, re.M)
    parsed = _parse("tflite_benchmark_model", result.stdout)
    if parsed is not None:
        assert parsed["ok"] is True and parsed["count"] == 12
        assert 0 < parsed["min_us"] <= parsed["avg_us"] <= parsed["max_us"]
        assert parsed["peak_memory_mb"] > 0


def test_onnxruntime_perf_test_stub(adb_server, virtual_phone, stub_dir, model_files):
    phone = virtual_phone("mate20")
    serial = phone.serial
    for local in (stub_dir / "armeabi-v7a" / "onnxruntime_perf_test", model_files["ppocr_cls"]):
        assert adb_server.run("-s", serial, "push", str(local), f"{TMP}/").returncode == 0
    model = f"{TMP}/{model_files['ppocr_cls'].name}"
    no_data = _shell(adb_server, serial, f"{TMP}/onnxruntime_perf_test -e cpu -r 5 {model}")
    assert (no_data.returncode, no_data.stdout) == (255, "there is no test data for model tmp\n")
    result = _shell(adb_server, serial, f"{TMP}/onnxruntime_perf_test -e cpu -r 8 -x 1 -I -s "
                                        f"-f '?:48' {model}", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Total inference requests: 8\n" in result.stdout
    assert re.search(r"^P90 Latency: [\d.e-]+ s$", result.stdout, re.M)
    parsed = _parse("onnxruntime_perf_test", result.stdout)
    if parsed is not None:
        assert parsed["requests"] == 8 and parsed["p50_ms"] > 0 and parsed["peak_working_set_bytes"] > 0


def test_tool_is_killed_when_the_stream_closes(adb_server, virtual_phone, stub_dir, model_files):
    phone = virtual_phone("pixel8")
    serial = phone.serial
    for local in (stub_dir / "arm64-v8a" / "benchmark_model", model_files["face_landmark"]):
        adb_server.run("-s", serial, "push", str(local), f"{TMP}/")
    client = adb_server.popen("-s", serial, "shell", f"{TMP}/benchmark_model "
                              f"--graph={TMP}/face_landmark.tflite --num_runs=1 --min_secs=60")
    deadline = time.monotonic() + 8
    while not phone.state.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert phone.state.busy, "the tool's host process never started"
    client.kill()
    client.wait()
    deadline = time.monotonic() + 5
    while phone.state.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not phone.state.busy, "closing the adb stream did not kill the tool"


# -- faults ---------------------------------------------------------------------------------------
def test_fault_unauthorized(adb_server, virtual_phone):
    phone = virtual_phone("pixel8", faults=["unauthorized"], connect=False)
    connected = adb_server.run("connect", phone.serial)
    assert connected.stdout == f"failed to authenticate to {phone.serial}\n"
    assert adb_server.wait_for_state(phone.serial, "unauthorized") == "unauthorized"
    shell = _shell(adb_server, phone.serial, "true")
    assert shell.returncode == 1 and "device unauthorized" in shell.stderr


def test_fault_offline(adb_server, virtual_phone):
    phone = virtual_phone("pixel8", faults=["offline"], connect=False)
    connecting = adb_server.popen("connect", phone.serial)  # would wait 10 s for the handshake
    try:
        assert adb_server.wait_for_state(phone.serial, "offline") == "offline"
        shell = _shell(adb_server, phone.serial, "true")
        assert (shell.returncode, shell.stderr) == (1, "error: device offline\n")
    finally:
        adb_server.run("disconnect", phone.serial)
        connecting.kill()
        connecting.wait()


def test_fault_disconnect_after(adb_server, virtual_phone):
    phone = virtual_phone("pixel8", faults=["disconnect-after=2"])
    assert _shell(adb_server, phone.serial, "echo one").stdout == "one\n"
    assert _shell(adb_server, phone.serial, "echo two").stdout == "two\n"
    third = _shell(adb_server, phone.serial, "echo three")
    assert third.returncode != 0 and third.stdout == ""
    assert adb_server.wait_for_state(phone.serial, "offline") in ("offline", None)


def test_fault_hang(adb_server, virtual_phone):
    import adbutils

    phone = virtual_phone("pixel8", faults=["hang"])
    device = adb_server.client().device(phone.serial)
    started = time.monotonic()
    with pytest.raises(adbutils.AdbTimeout):
        device.shell("getprop ro.product.model", timeout=1)
    assert time.monotonic() - started < 5
    assert adb_server.state_of(phone.serial) == "device"  # hung, not gone


def test_fault_hang_after_answers_n_streams_then_nothing_not_even_the_open(adb_server,
                                                                          virtual_phone):
    phone = virtual_phone("pixel8", faults=["hang-after=1"])
    assert _shell(adb_server, phone.serial, "echo one").stdout == "one\n"
    with pytest.raises(subprocess.TimeoutExpired):  # `adb shell` waits at the OPEN for ever
        _shell(adb_server, phone.serial, "echo two", timeout=2)
    assert adb_server.state_of(phone.serial) == "device"  # hung, not gone


def test_fault_hang_tools_honours_timeout(adb_server, virtual_phone, stub_dir):
    phone = virtual_phone("pixel8", faults=["hang=tools"])
    adb_server.run("-s", phone.serial, "push", str(stub_dir / "arm64-v8a" / "benchmark_model"),
                   f"{TMP}/bm")
    result = _shell(adb_server, phone.serial, f"timeout 1 {TMP}/bm --graph=x; echo rc=$?")
    assert result.stdout == "rc=124\n"
    assert _shell(adb_server, phone.serial, "echo alive").stdout == "alive\n"


def test_fault_storage_full(adb_server, virtual_phone, tmp_path):
    phone = virtual_phone("nexus4", faults=["storage-full"])
    local = tmp_path / "model.bin"
    local.write_bytes(b"x" * 100_000)
    pushed = adb_server.run("-s", phone.serial, "push", str(local), f"{TMP}/model.bin")
    assert pushed.returncode == 1
    assert "No space left on device" in pushed.stderr + pushed.stdout
    df = _shell(adb_server, phone.serial, "df /data").stdout.splitlines()
    assert df[1].split()[3] == "0" and df[1].endswith("/data")


# -- the command line -----------------------------------------------------------------------------
def test_cli_prints_port_and_serves(adb_server):
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "virtual-device", "--profile", "nexus4", "--port", "0",
         "--serial", "LAB-NEXUS4", "--max-lifetime", "60"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        found = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        assert found, line
        serial = f"127.0.0.1:{found.group(1)}"
        assert "connected to" in adb_server.run("connect", serial).stdout
        assert _shell(adb_server, serial, "getprop ro.product.model; getprop ro.serialno").stdout == \
            "Nexus 4\nLAB-NEXUS4\n"
        adb_server.run("disconnect", serial)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
