"""``cmd`` on the virtual phone: the power service's fixed-performance mode, nothing else.

Real phones: ``cmd`` exists from Android 7 (SDK 24); ``cmd power set-fixed-performance-mode-
enabled true|false`` from Android 11 (SDK 30), needing no root (the shell user holds
DEVICE_POWER). Older power services answer "Unknown command" (exit 255), as do other
subcommands here. The mode is kept on the device (``DeviceState.power_modes``) with a log of
every change (``power_log``) that tests read back; it changes no simulated frequency.
"""
from __future__ import annotations

from .commands import _err, _out, command

_HELP = """Power manager (power) commands:
  help
    Print this help text.

  set-adaptive-power-saver-enabled [true|false]
    enables or disables adaptive power saver.
  set-mode MODE
    sets the power mode of the device to MODE.
    1 turns low power mode on and 0 turns low power mode off.
{fixed}"""
_FIXED = """  set-fixed-performance-mode-enabled [true|false]
    enables or disables fixed performance mode
    note: this will affect system performance and should only be used
          during development
"""


def _sdk(shell) -> int:
    try:
        return int(shell.device.props.get("ro.build.version.sdk", "0"))
    except ValueError:
        return 0


@command("cmd")
def _cmd(shell, argv, io):
    sdk = _sdk(shell)
    if sdk < 24:  # no /system/bin/cmd before Android 7
        shell.warn(io, "cmd: inaccessible or not found")
        return 127
    service, args = (argv[1] if len(argv) > 1 else ""), argv[2:]
    if service != "power":
        _err(io, f"cmd: Can't find service: {service}")
        return 20
    fixed = sdk >= 30
    if not args or args[0] in ("help", "-h"):
        _out(io, _HELP.format(fixed=_FIXED if fixed else ""))
        return 0
    if args[0] == "set-fixed-performance-mode-enabled" and fixed:
        if len(args) < 2:
            _err(io, "Error: Argument expected after \"set-fixed-performance-mode-enabled\"")
            return 255
        enabled = args[1].lower() == "true"  # Boolean.parseBoolean: anything else is false
        shell.device.power_modes["fixed_performance"] = enabled
        shell.device.power_log.append(("fixed_performance", enabled))
        return 0
    _out(io, f"Unknown command: {args[0]}\n")
    return 255
