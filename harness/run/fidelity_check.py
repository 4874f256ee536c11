"""Run-time side of the fidelity check: keep each model's FP32 reference outputs and compare every
host run's saved outputs with them (the numbers themselves come from the pure ``fidelity``)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..models import fidelity
from ..engines import get_engine
from ..engines.base import RunSettings
from ..engines.hostrun import run_on_host
from ..errors import MeasurementError
from ..models.manifest import ModelSpec
from ..models.variants import source_artifact

SOURCE_ENGINE = {"onnx": "onnxruntime", "tflite": "tflite"}


def load_outputs(path: Path) -> list[Any]:
    import numpy as np

    with np.load(path) as data:  # np.savez names positional arrays arr_0, arr_1, ...
        return [data[f"arr_{i}"] for i in range(len(data.files))]


class FidelityChecker:
    def __init__(self, thresholds: fidelity.Thresholds, model_paths: dict[str, Path],
                 settings: Callable[..., RunSettings]):
        self.thresholds = thresholds
        self.model_paths = model_paths
        self.settings = settings
        self._references: dict[str, Any] = {}  # model -> FP32 outputs, or why there are none
        self._dir: Path | None = None

    @property
    def outputs_dir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="edgelab-outputs-"))
        return self._dir

    def outputs_path(self, test_id: str) -> str:
        return str(self.outputs_dir / f"{abs(hash(test_id))}.npz")

    def check(self, spec: ModelSpec, outputs_path: str | None) -> dict[str, Any] | None:
        """Compare one run's saved outputs with the FP32 source's on the same input."""
        if not outputs_path or not Path(outputs_path).is_file():
            return None
        try:
            variant = load_outputs(Path(outputs_path))
            Path(outputs_path).unlink()
        except (OSError, ValueError) as exc:  # a check that cannot run is no drift verdict
            return {"ok": None, "reason": f"outputs unreadable: {exc}"}
        reference = self._reference(spec)
        if isinstance(reference, str):
            return {"ok": None, "reason": f"no FP32 reference: {reference}"}
        try:
            return fidelity.compare(reference, variant, spec.task, self.thresholds)
        except fidelity.ShapeMismatch as exc:
            return {"ok": False, "reason": f"outputs cannot be compared with FP32: {exc}"}

    def _reference(self, spec: ModelSpec):
        """FP32 outputs of the source model with its own engine, once per model."""
        if spec.name not in self._references:
            source = source_artifact(spec, self.model_paths[spec.name])
            path = self.outputs_dir / f"reference-{spec.name}.npz"
            try:
                run_on_host(get_engine(SOURCE_ENGINE[spec.format]), source.path, spec.input,
                            self.settings(warmup=0, iterations=1, threads=1,
                                          save_outputs=str(path)))
                self._references[spec.name] = load_outputs(path)
            except (MeasurementError, OSError) as exc:
                self._references[spec.name] = str(exc)
        return self._references[spec.name]

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
