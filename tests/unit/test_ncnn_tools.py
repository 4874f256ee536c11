"""A lab's own ncnn2table + ncnn2int8 ($EDGELAB_NCNN_TOOLS or PATH): found, preferred over
edgelab's writer, and called as ncnn documents them (npy calibration files, type=1, KL).
The tools are C++ programs this machine does not have: small scripts stand in for them and
record how they were called (the real ones were checked by hand, docs/variants.md)."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from harness.models.build import ncnn
from harness.models.build.recipe import BuildContext
from harness.models.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]

_FAKE = """#!/bin/sh
echo "$0 $*" >> "$(dirname "$0")/calls.log"
case "$(basename "$0")" in
  ncnn2table) echo "conv_0_param_0 1.0" > "$4"; echo "ncnn int8 calibration table create success" >&2 ;;
  ncnn2int8) cp "$1" "$3"; cp "$2" "$4" ;;
esac
"""


def _tools(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ncnn2table", "ncnn2int8"):
        path = folder / name
        path.write_text(_FAKE)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def test_tools_are_found_in_the_env_dir_then_on_path(tmp_path, monkeypatch):
    monkeypatch.delenv(ncnn.TOOLS_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert ncnn.ncnn_tools() == ("ncnn's ncnn2table and ncnn2int8 not found in PATH "
                                 "(or set EDGELAB_NCNN_TOOLS=DIR)")
    folder = _tools(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(folder))
    assert ncnn.ncnn_tools() == (folder / "ncnn2table", folder / "ncnn2int8")
    monkeypatch.setenv(ncnn.TOOLS_ENV, str(tmp_path / "nowhere"))
    assert "not found in $EDGELAB_NCNN_TOOLS" in ncnn.ncnn_tools()
    monkeypatch.setenv(ncnn.TOOLS_ENV, str(folder))
    assert ncnn._tools_missing() is None
    assert ncnn._tools_version().startswith("sha256:")


def test_int8_recipe_prefers_the_labs_tools(tmp_path, monkeypatch):
    tools_recipe, own_recipe = [r for r in ncnn.RECIPES if r.variant == "int8"]
    monkeypatch.setenv(ncnn.TOOLS_ENV, str(tmp_path / "nowhere"))
    assert tools_recipe.blocked_reason("ncnn").startswith("ncnn's ncnn2table and ncnn2int8")
    assert own_recipe.converter == "edgelab" and own_recipe.version().endswith("+w1")
    monkeypatch.setenv(ncnn.TOOLS_ENV, str(_tools(tmp_path / "bin")))
    assert tools_recipe.blocked_reason("ncnn") is None
    assert tools_recipe.version() == ncnn._tools_version()


def test_tools_get_npy_calibration_files_in_ncnn_order(tmp_path, monkeypatch):
    pytest.importorskip("skimage")
    folder = _tools(tmp_path / "bin")
    monkeypatch.setenv(ncnn.TOOLS_ENV, str(folder))
    fp32 = tmp_path / "fp32"
    fp32.mkdir()
    (fp32 / "ppocr_cls.param").write_text("7767517\n1 1\nInput in0 0 1 in0\n")
    (fp32 / "ppocr_cls.bin").write_bytes(b"\0" * 8)
    (fp32 / "ppocr_cls.inputs.json").write_text(json.dumps(
        {"layout": "NCHW", "inputs": [{"name": "in0", "shape": [1, 3, 48, 192]}]}))
    spec = load_manifest(REPO / "models" / "manifest.toml")["ppocr_cls"]
    ctx = BuildContext(spec=spec, source=fp32 / "ppocr_cls.param", source_sha256="x")
    out = tmp_path / "out"
    out.mkdir()
    # keep the calibration files the stand-in saw (the recipe removes its work dir)
    seen = {}
    real_run = ncnn.run_tool

    def spy(argv, what, **kw):
        if what == "ncnn2table":
            listing = Path(argv[3]).read_text().split()
            seen["shapes"] = [np.load(p).shape for p in listing]
            seen["argv"] = argv
        return real_run(argv, what, **kw)

    monkeypatch.setattr(ncnn, "run_tool", spy)
    param = ncnn._int8_tools(ctx, out)
    assert param == out / "ppocr_cls.param" and (out / "ppocr_cls.bin").is_file()
    assert (out / "ppocr_cls.inputs.json").is_file() and (out / "ppocr_cls.table").is_file()
    assert seen["shapes"] == [(3, 48, 192)] * 8  # batch dropped, C,H,W as ncnn's Mat
    assert seen["argv"][5:] == ["shape=[192,48,3]", "method=kl", "type=1", "thread=1"]
    calls = (folder / "calls.log").read_text().splitlines()
    assert [Path(c.split()[0]).name for c in calls] == ["ncnn2table", "ncnn2int8"]
    assert not (out / "work").exists()
    assert ctx.notes["ncnn_int8"]["tools"] == [str(folder / "ncnn2table"),
                                              str(folder / "ncnn2int8")]
    assert os.access(folder / "ncnn2int8", os.X_OK)
