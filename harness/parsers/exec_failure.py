"""Classify why a command on (or via adb to) a device failed, from its stdout+stderr.

``classify(text, rc=None)`` / ``parse(text)`` return:

- ``kind``: one of ``wrong_abi``, ``missing_library``, ``no_matching_abis``,
  ``unauthorized``, ``offline``, ``not_found``, ``permission_denied``,
  ``storage_full``, ``timeout``, ``unknown``.
- ``detail``: the line that decided it (stripped), or the last non-empty
  line for ``unknown``; ``fix``: a one-line human hint.
- ``library``: the missing library name (``missing_library`` only).
- ``rc``: the return code used (given, or read from "exit code N" text).
- ``error``: only for ``unknown`` (no known failure signature).

Quirks: Android's mksh says "not executable: 64-bit ELF file" where bash says
"cannot execute binary file: Exec format error"; the dynamic linker says
``CANNOT LINK EXECUTABLE "x": library "libc++_shared.so" not found``; adb
doubles the install code ("INSTALL_FAILED_NO_MATCHING_ABIS:
INSTALL_FAILED_NO_MATCHING_ABIS: ..."); Android prompts print the previous
command's status ("127|zeus:/ #"), which is NOT this command's rc and is
ignored.  Without a text match, rc 126 means found-but-not-executable
(wrong_abi, or permission_denied if the text says so), 127 command not
found, 124 timeout (coreutils ``timeout``).
"""

from __future__ import annotations

import re

from ._text import clean_lines

# (kind, pattern, fix) -- checked in order; the first matching line wins.
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("unauthorized", re.compile(r"\bunauthori[sz]ed\b", re.I),
     "accept the USB debugging prompt on the phone (tick 'Always allow'), then re-run"),
    ("offline", re.compile(r"\bdevice (?:'[^']*' )?offline\b", re.I),
     "replug the USB cable or run 'adb reconnect offline'; re-enable USB debugging if it persists"),
    ("no_matching_abis", re.compile(r"INSTALL_FAILED_NO_MATCHING_ABIS"),
     "build or download the APK for the phone's ABI (check 'getprop ro.product.cpu.abilist')"),
    # wrong_abi first: a library of the wrong bitness also fails to link.
    ("wrong_abi", re.compile(r"Exec format error|not executable: \d+-bit ELF|cannot execute binary file|"
                             r"wrong ELF class|unexpected e_machine|is \d+-bit instead of \d+-bit", re.I),
     "rebuild or download the binary for the device ABI (arm64-v8a vs armeabi-v7a; check 'uname -m')"),
    ("missing_library", re.compile(r"CANNOT LINK EXECUTABLE|library \"[^\"]+\" not found|"
                                   r"cannot open shared object file", re.I),
     "push the missing .so next to the binary and run with LD_LIBRARY_PATH=. (or link it statically)"),
    ("storage_full", re.compile(r"No space left on device|INSTALL_FAILED_INSUFFICIENT_STORAGE|ENOSPC", re.I),
     "free space on the device (rm old files in /data/local/tmp), then re-run"),
    ("not_found", re.compile(r"\bdevice (?:'[^']*' )?not found\b|no devices/emulators found|"
                             r"\bno devices? (?:found|connected)\b", re.I),
     "connect the phone and enable USB debugging; check 'adb devices' and the -s serial"),
    ("timeout", re.compile(r"timed? ?out\b|\btimeout\b|deadline exceeded", re.I),
     "the command hung: raise the timeout, or check the device is awake and not throttled"),
    ("permission_denied", re.compile(r"permission denied|EACCES|operation not permitted|EPERM", re.I),
     "chmod +x the file and run it from /data/local/tmp (/sdcard is mounted noexec)"),
    ("not_found", re.compile(r"inaccessible or not found|No such file or directory|"
                             r"command not found|: not found\b", re.I),
     "check the path: push the binary first, and call it with its full or ./ path"),
)
_RC_TEXT = re.compile(r"(?:exit(?:ed)?(?: with)? (?:code|status)|return(?:ed)? code|\brc)\s*[=:]?\s*(-?\d+)", re.I)
_LIBRARY = re.compile(r"library \"([^\"]+)\" not found|([\w.+-]+\.so[\w.]*): cannot open shared object")
_BY_RC = {
    126: ("wrong_abi", "the file was found but could not be executed (exit status 126)",
          "check the binary's ABI matches the device ('file ./bin' vs 'uname -m') and that it is chmod +x"),
    127: ("not_found", "the command was not found (exit status 127)",
          "check the path: push the binary first, and call it with its full or ./ path"),
    124: ("timeout", "the command was killed by timeout (exit status 124)",
          "the command hung: raise the timeout, or check the device is awake and not throttled"),
}


def _match(lines: list[str]) -> dict | None:
    for kind, pattern, fix in _RULES:
        for line in lines:
            if pattern.search(line):
                found = {"kind": kind, "detail": line.strip(), "fix": fix}
                if kind == "missing_library":
                    lib = _LIBRARY.search(line) or _LIBRARY.search("\n".join(lines))
                    found["library"] = (lib.group(1) or lib.group(2)) if lib else None
                return found
    return None


def classify(text: str, rc: int | None = None) -> dict:
    """Classify a failed command's output; ``rc`` refines text-less failures."""
    lines = [line for line in clean_lines(text) if line.strip()]
    if rc is None:
        found_rc = _RC_TEXT.search("\n".join(lines))
        rc = int(found_rc.group(1)) if found_rc else None
    result = _match(lines)
    if result is None and rc in _BY_RC:
        kind, detail, fix = _BY_RC[rc]
        result = {"kind": kind, "detail": detail, "fix": fix}
    if result is None:
        result = {"kind": "unknown", "detail": lines[-1].strip() if lines else "",
                  "fix": "read the full stderr above; re-run by hand with 'adb shell' to see the raw error",
                  "error": "no known failure signature" if lines else "empty output: nothing to classify"}
    result["rc"] = rc
    return result


def parse(text: str) -> dict:
    return classify(text)
