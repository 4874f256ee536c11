"""One battery reading from an iPhone: diagnostics_relay's IORegistry entry of class
IOPMPowerSource (AppleSmartBattery on iPhones), as pymobiledevice3's ``get_battery`` asks it,
mapped by parsers/ios_battery.py. Needs a paired phone (a lockdown session starts the service).
Thermal state comes from the runner app (ProcessInfo.thermalState), not from here; sysmontap CPU
is not read. Checked against the virtual iPhone only: NOT RUN ON A REAL iPHONE.
"""
from __future__ import annotations

from typing import Any


async def battery(udid: str, address: str | None) -> dict[str, Any]:
    from pymobiledevice3.lockdown import create_using_usbmux
    from pymobiledevice3.services.diagnostics import DiagnosticsService

    from ..parsers import ios_battery

    lockdown = await create_using_usbmux(udid, autopair=False, usbmux_address=address)
    try:
        async with DiagnosticsService(lockdown) as diagnostics:
            entry = await diagnostics.get_battery()
    finally:
        await lockdown.close()
    return {**ios_battery.parse(entry), "telemetry_source": "diagnostics_relay IOPMPowerSource"}
