"""ProductType -> chip and CPU architecture (device_profiles/ios/chips.toml).

lockdownd names the model ("iPhone15,3") and at best a platform code ("t8120"), never the chip a
reader of the report knows (A16 Bionic): the table says it. An unknown ProductType is reported
as such, naming the file to extend, rather than guessed.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

CHIPS_FILE = Path(__file__).resolve().parents[2] / "device_profiles" / "ios" / "chips.toml"


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, str]]:
    try:
        return dict(tomllib.loads(CHIPS_FILE.read_text()).get("chips", {}))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def chip_of(product_type: str | None) -> dict[str, str | None]:
    """``{"chip", "arch"}`` for a ProductType; ``chip`` says what to do when it is unknown."""
    row = _table().get(product_type or "")
    if row is None:
        return {"chip": f"unknown chip ({product_type or 'no ProductType'}; add it to "
                        f"device_profiles/ios/chips.toml)", "arch": None}
    return {"chip": row.get("chip"), "arch": row.get("arch")}
