"""Build-time fidelity: every artifact this host can run is compared with the source model.

The check is the run-time one (``harness.models.fidelity.compare``) on the same input: the
model's benchmark picture through ``harness.models.inputs``. Both sides run in the measuring
child process (``harness.engines.hostrun``), so a converted model that crashes its engine costs
its own check only. The source's outputs are computed once per model build.

A converted FP32 model (an ONNX made from a TFLite source, a TFLite from an ONNX source, ncnn's
FP32 model for its INT8) must pass before anything is built from it: a wrong conversion is a
finding with its figures, never a silently wrong variant (pipeline).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..fidelity import ShapeMismatch, Thresholds, compare
from ..manifest import ModelSpec

ENGINE_OF = {"onnx": "onnxruntime", "tflite": "tflite", "ncnn": "ncnn", "mnn": "mnn"}
_KEPT = ("ok", "reason", "cosine", "max_abs_err", "top1_agreement", "iou", "landmark_mae",
         "landmark_nme", "finite")


class Verifier:
    def __init__(self, spec: ModelSpec, origin: Path, thresholds: Thresholds | None = None):
        self.spec = spec
        self.origin = origin
        self.thresholds = thresholds or Thresholds()
        self._reference: list[Any] | str | None = None

    def runnable(self, fmt: str) -> str | None:
        """Why an artifact of this format cannot be checked here, or None."""
        from ...engines import get_engine

        if fmt not in ENGINE_OF:
            return f"{fmt} models do not run on this host"
        if get_engine(ENGINE_OF[fmt]).version() is None:
            return f"{ENGINE_OF[fmt]} is not installed"
        return None

    def _outputs(self, path: Path, fmt: str) -> list[Any]:
        import numpy as np

        from ...engines import get_engine
        from ...engines.base import RunSettings
        from ...engines.hostrun import run_on_host

        with tempfile.TemporaryDirectory(prefix="edgelab-verify-") as tmp:
            saved = Path(tmp) / "outputs.npz"
            run_on_host(get_engine(ENGINE_OF[fmt]), Path(path), self.spec.input,
                        RunSettings(warmup=0, iterations=1, threads=1, timeout_s=600,
                                    save_outputs=str(saved)))
            with np.load(saved) as data:
                return [data[f"arr_{i}"] for i in range(len(data.files))]

    def reference(self) -> list[Any] | str:
        """The source's outputs with its own engine, or why there are none."""
        if self._reference is None:
            why = self.runnable(self.spec.format)
            if why:
                self._reference = why
            else:
                try:
                    self._reference = self._outputs(self.origin, self.spec.format)
                except Exception as exc:  # noqa: BLE001 - no reference: no verdict, said why
                    self._reference = f"the source does not run: {exc}"
        return self._reference

    def check(self, path: Path, fmt: str) -> dict[str, Any]:
        """Fidelity figures and verdict (``ok`` True/False; None when it could not be judged,
        with ``reason``)."""
        why = self.runnable(fmt)
        if why:
            return {"ok": None, "reason": f"not checked: {why}"}
        reference = self.reference()
        if isinstance(reference, str):
            return {"ok": None, "reason": f"not checked: {reference}"}
        from ...errors import MeasurementError

        try:
            outputs = self._outputs(path, fmt)
        except MeasurementError as exc:
            return {"ok": False, "reason": f"does not run in {ENGINE_OF[fmt]}: {exc}"[:500]}
        except Exception as exc:  # noqa: BLE001 - the check itself broke: no verdict, said why
            return {"ok": None, "reason": f"not checked: {type(exc).__name__}: {exc}"[:500]}
        try:
            figures = compare(reference, outputs, self.spec.task, self.thresholds)
        except ShapeMismatch as exc:
            return {"ok": False, "reason": f"outputs cannot be compared with the source's: {exc}"}
        result = {k: figures[k] for k in _KEPT if k in figures}
        result["engine"] = ENGINE_OF[fmt]
        result["input"] = self.spec.input.image
        return result


_TASK_FIGURES = (("top1_agreement", "top-1", "top1"), ("iou", "IoU", "IoU"),
                 ("landmark_nme", "NME", "NME"))


def summary(fidelity: dict[str, Any] | None) -> str:
    """One short figure for a table cell: ``cos 0.9996``, plus the task figure that failed
    (``cos 0.9980 NME 0.0271``)."""
    if not fidelity:
        return ""
    if fidelity.get("cosine") is None:
        return "unchecked"
    text = f"cos {fidelity['cosine']:.4f}"
    reason = fidelity.get("reason") or ""
    for key, in_reason, label in _TASK_FIGURES:
        if key in fidelity and fidelity.get("ok") is False and in_reason in reason:
            text += f" {label} {fidelity[key]:.3g}"
    return text
