"""A lab's conftest.py can change policy through edgelab's hooks."""
import json
import os
import textwrap

import pytest

from tests.conftest import REPO, read_records, run_pytest

pytestmark = pytest.mark.integration


def test_lab_conftest_hooks_select_devices_and_extend_run_info(tmp_path, model_files):
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        def pytest_edgelab_select_devices(config, found, wanted):
            return [d for d in found if d.kind == "host"]

        def pytest_edgelab_update_run_info(config, info):
            info["lab"] = {"rack": "r3"}
    """))
    (tmp_path / "test_lab.py").write_text(textwrap.dedent("""
        def test_lab(bench):
            bench.conclude(bench.measure())
    """))
    proc = run_pytest(["--device=pixel-that-does-not-exist", "--model=ppocr_cls",
                       "--engine=onnxruntime", "--variant=fp32", "--iterations=3", "--warmup=1",
                       f"--edgelab-manifest={REPO / 'models' / 'manifest.toml'}",
                       "--report-dir", str(tmp_path / "r"), "-q", "test_lab.py"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run_dir = tmp_path / "r" / os.readlink(tmp_path / "r" / "latest")
    assert json.loads((run_dir / "run.json").read_text())["lab"] == {"rack": "r3"}
    assert [r["device"]["id"] for r in read_records(run_dir)] == ["host"]
