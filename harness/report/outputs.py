"""Whose outputs were checked: a record's own fidelity verdict, or the host's for the same file.

Phone cells are timed by the engines' own benchmark tools, which feed inputs they make up and
keep no outputs, so a phone record has no fidelity check: "ran" is not "outputs fine". The file
a phone ran is named by its sha256 (``variant.sha256``); when the same run checked that very file
on the host, the verdict belongs to the file, so the report shows it beside the phone cell,
labelled as the host's ("outputs checked on host, same file sha256 …").

Done here, at report time, rather than written into phone records: the host cell of a file may
run after its phone cell (or on another xdist worker, with no shared state), a report rebuilt
from older runs gets it too, and a record keeps saying only what happened on its own device.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

KEY = ["model", "variant_sha256"]
# what the tables say about a cell's outputs (cells' fid_ok / host_fid_ok -> text)
LABELS = {"ok": "ok", "drift": "drifted", "host_ok": "ok on host (same file)",
          "host_drift": "drifted on host (same file)", "none": "not checked"}


def carry_host_verdicts(frame: pd.DataFrame) -> None:
    """Add ``host_fid_ok`` (1 / 0 / NaN) and ``host_fid_reason`` to records without a verdict of
    their own, from host records of the same model and file in this run (the worst of them:
    one drifted host run of a file is the finding)."""
    own = frame["fid_ok"].notna().to_numpy()
    kind = np.asarray(frame["device_kind"], dtype=object)
    sha = np.asarray(frame["variant_sha256"], dtype=object)
    checked_on_host = own & (kind == "host") & (sha != "")
    frame["host_fid_ok"] = np.nan
    frame["host_fid_reason"] = ""
    if not checked_on_host.any() or own.all():
        return
    checked = frame.loc[checked_on_host, KEY + ["fid_ok", "reason"]]
    worst = checked.sort_values("fid_ok", kind="stable").drop_duplicates(KEY).set_index(KEY)
    pos = worst.index.get_indexer(pd.MultiIndex.from_frame(frame[KEY]))
    hit = (pos >= 0) & ~own
    host_ok = frame["host_fid_ok"].to_numpy(copy=True)
    host_ok[hit] = worst["fid_ok"].to_numpy()[pos[hit]]
    reason = frame["host_fid_reason"].to_numpy(dtype=object, copy=True)
    reason[hit] = worst["reason"].to_numpy(dtype=object)[pos[hit]]
    frame["host_fid_ok"], frame["host_fid_reason"] = host_ok, reason


def outputs_labels(fid_ok: pd.Series, host_fid_ok: pd.Series) -> np.ndarray:
    """Per cell: its own verdict when it has one, else the host's for the same file, else
    'not checked' (never shown as ok)."""
    own, host = fid_ok.to_numpy(dtype=float), host_fid_ok.to_numpy(dtype=float)
    return np.select([own == 1, own == 0, host == 1, host == 0],
                     [LABELS["ok"], LABELS["drift"], LABELS["host_ok"], LABELS["host_drift"]],
                     default=LABELS["none"]).astype(object)


def drifted(cells: pd.DataFrame) -> pd.Series:
    """Cells whose outputs failed a check: their own, or the host's of the same file."""
    return (cells["fid_ok"] == 0) | (cells["host_fid_ok"] == 0)
