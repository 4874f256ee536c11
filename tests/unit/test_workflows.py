"""The example GitHub workflows (issue 18 item 7) parse as YAML, their shell steps as bash, and
say what docs/gating.md promises: nightly on the farm runner with history and a report artifact,
the release gate on pull requests failing on exit 8."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed in this venv")
WORKFLOWS = REPO / ".github" / "workflows"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(data: dict) -> list[dict]:
    (job,) = data["jobs"].values()
    return job["steps"]


def script(data: dict, name: str) -> str:
    return next(s["run"] for s in steps(data) if s.get("name", "").startswith(name))


@pytest.mark.parametrize("name", ["nightly-farm.yml", "release-gate.yml"])
def test_workflow_parses_and_its_shell_steps_are_valid_bash(name):
    data = load(name)
    (job,) = data["jobs"].values()
    assert "device-farm" in job["runs-on"] and "self-hosted" in job["runs-on"]
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") and
               s.get("if") == "${{ always() }}" for s in steps(data))
    assert any("make install" in s.get("run", "") for s in steps(data))
    if shutil.which("bash"):
        for step in steps(data):
            if "run" in step:
                check = subprocess.run(["bash", "-n"], input=step["run"], text=True,
                                       capture_output=True)
                assert check.returncode == 0, (step.get("name"), check.stderr)


def test_nightly_runs_all_devices_on_a_schedule_with_history():
    data = load("nightly-farm.yml")
    assert data["on"]["schedule"][0]["cron"]
    run = script(data, "Benchmark every device")
    assert "pytest suites/ --device=all" in run and "--edgelab-history" in run
    assert "trap 'kill -TERM" in run  # a cancelled job's signal reaches edgelab
    assert "harness history" in script(data, "Trends")


def test_release_gate_runs_on_pull_requests_and_fails_on_exit_8():
    data = load("release-gate.yml")
    assert "pull_request" in data["on"]
    run = script(data, "Gate against the baseline")
    assert "--baseline" in run and "--gate" in run and "8) " in run and "exit 8" in run
