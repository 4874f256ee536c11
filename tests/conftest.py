"""Shared fixtures for the harness's own tests."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def device_data() -> Path:
    path = SHARED / "device-data"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the tests read real captures from ../shared beside the repo")
    return path


@pytest.fixture(scope="session")
def model_files() -> dict[str, Path]:
    """The small default models, from the cache `make test` fills (no network inside tests)."""
    from harness.models.fetch import default_cache_dir, fetch
    from harness.models.manifest import load_manifest

    manifest = load_manifest(REPO / "models" / "manifest.toml")
    return {name: fetch(manifest[name], default_cache_dir(), log=lambda _m: None)
            for name in ("ppocr_cls", "face_landmark")}


@pytest.fixture(scope="session")
def sources_only_cache(tmp_path_factory, model_files) -> Path:
    """A private EDGELAB_CACHE with the fetched source models and no variant build: tests whose
    grid counts which cross-format cells exist must not depend on whether this machine ran
    `make bench` (which builds ppocr_cls as TFLite, face_landmark as ONNX, ...) before."""
    from harness.models.fetch import default_cache_dir

    cache = tmp_path_factory.mktemp("sources-only-cache")
    shutil.copytree(default_cache_dir() / "models", cache / "models")
    return cache


def run_pytest(args: list[str], cwd: Path = REPO, env: dict | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """Run pytest as a user would, in a fresh process (its own plugin load and session)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTEST_XDIST_WORKER", None)
    full_env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


def read_records(run_dir: Path) -> list[dict]:
    path = run_dir / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
