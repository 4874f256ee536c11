"""Devices the harness measures on: host CPU, Android over adb, iOS over usbmux, virtual ones."""
