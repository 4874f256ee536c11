"""iPhone states that need a person, and the exact fix for each.

An iPhone is usable by edgelab only when it trusts this computer (paired), is unlocked, has
Developer Mode on (iOS 16+), runs the iOS 17+ tunnel (developer services go through RemoteXPC
over it) and has the developer disk image mounted. Each missing step is a state; discovery
records it in ``DeviceInfo.state`` with the fix in ``details["fix"]``, and every cell of that
phone becomes ``infra_error`` naming the fix (run/measure.py), never a wait.
"""
from __future__ import annotations

READY = "device"  # the state every device kind uses for "usable" (run/measure.py)
NOT_PAIRED = "not paired"
LOCKED = "locked"
TRUST_DENIED = "trust denied"
DEVELOPER_MODE_OFF = "developer mode off"
TUNNEL_NOT_RUNNING = "tunnel not running"
DDI_NOT_MOUNTED = "developer disk image not mounted"
NOT_ANSWERING = "not answering"

FIXES = {
    NOT_PAIRED: "unlock the iPhone and tap Trust in its 'Trust This Computer?' dialog (shown "
                "now), enter the passcode if asked, then re-run; or pair explicitly with "
                "`pymobiledevice3 lockdown pair`",
    LOCKED: "unlock the device (enter its passcode), tap Trust when it asks about this "
            "computer, then re-run",
    TRUST_DENIED: "the iPhone was told not to trust this computer: on the iPhone, Settings > "
                  "General > Transfer or Reset iPhone > Reset > Reset Location & Privacy, then "
                  "replug it, tap Trust and re-run",
    DEVELOPER_MODE_OFF: "turn on Settings > Privacy & Security > Developer Mode on the iPhone "
                        "(it restarts; confirm 'Turn On' after it boots), or run "
                        "`pymobiledevice3 amfi enable-developer-mode`, then re-run",
    TUNNEL_NOT_RUNNING: "iOS 17+ developer services need the RemoteXPC tunnel: start it as root "
                        "and keep it running (`sudo python3 -m pymobiledevice3 remote tunneld`; "
                        "edgelab asks it at EDGELAB_TUNNELD=HOST:PORT, default "
                        "127.0.0.1:49151), then re-run",
    DDI_NOT_MOUNTED: "mount the developer disk image: `pymobiledevice3 mounter auto-mount` "
                     "(iOS 17+: with the tunnel running), then re-run",
    NOT_ANSWERING: "unplug and replug the iPhone and unlock it; if it stays silent restart "
                   "usbmuxd (`sudo systemctl restart usbmuxd`) and re-run",
}

# pymobiledevice3's answer to one Pair attempt (exception class name) -> state
PAIR_REFUSALS = {
    "PairingDialogResponsePendingError": NOT_PAIRED,
    "PasswordRequiredError": LOCKED,
    "UserDeniedPairingError": TRUST_DENIED,
}


def major_version(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except (TypeError, ValueError):
        return None


def trusted_state(product_version: str | None, developer_mode: bool | None,
                  tunnel_running: bool | None, ddi_mounted: bool | None) -> str:
    """The first missing step of a paired, unlocked iPhone, in the order a person must do them
    (the disk image mounts only with Developer Mode on, and on iOS 17+ only over the tunnel).
    ``None`` means "could not tell": not held against the phone."""
    major = major_version(product_version)
    if major is not None and major >= 16 and developer_mode is False:
        return DEVELOPER_MODE_OFF
    if major is not None and major >= 17 and tunnel_running is False:
        return TUNNEL_NOT_RUNNING
    if ddi_mounted is False:
        return DDI_NOT_MOUNTED
    return READY


def fix_for(state: str) -> str | None:
    return FIXES.get(state)
