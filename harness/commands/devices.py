from __future__ import annotations

import json

from ..devices.discovery import discover_all, open_device

HELP = "list the devices `--device=all` would use, with their profiles"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not probe devices for their profile (faster)")


def run(args) -> int:
    notes: list[str] = []
    entries = []
    for info in discover_all(notes=notes):
        entry = info.as_dict()
        if not args.no_probe and info.state == "device":
            try:
                entry["profile"] = open_device(info).profile()
            except Exception as exc:  # one broken device must not hide the others
                entry["profile_error"] = f"{type(exc).__name__}: {exc}"
        entries.append(entry)
    if args.json:
        print(json.dumps({"devices": entries, "notes": notes}, indent=2, default=str))
        return 0
    for e in entries:
        tag = " (virtual)" if e.get("virtual") else ""
        profile = e.get("profile", {})
        abis = ",".join(profile.get("abis", [])) if isinstance(profile.get("abis"), list) else ""
        matched = f"  profile {profile['profile']}" if profile.get("profile") else ""
        print(f"{e['id']:<24} {e['kind']:<16} {e['state']:<13} {e.get('model', '')}{tag}"
              f"{'  [' + abis + ']' if abis else ''}{matched}")
        if e.get("profile_error"):
            print(f"{'':<24} probe failed: {e['profile_error']}")
    for note in notes:
        print(f"note: {note}")
    return 0
