"""Output fidelity: does a variant still compute what the FP32 source computes? (pure numpy)

Both sides ran on the same real picture. Outputs are paired by position; engines disagree on
shapes (ncnn drops the batch dimension, MNN may add unit dims), so a pair only needs the same
number of elements and is compared flattened in the reference's order. When the counts at a
position differ, the one output of the variant with the reference's count is taken.

Metrics (``compare``): cosine similarity and max abs error over all outputs, plus one task-level
figure from the manifest's ``task``:
- classification: top-1 agreement (argmax over the last axis, fraction of rows that agree)
- segmentation / detection: IoU of the thresholded map (probabilities; logits go through a
  sigmoid first). Detection uses its score output (the one with a last dimension of 1).
- landmarks: mean abs landmark error, and that error normalised by the reference landmarks'
  bounding-box diagonal (NME).
Thresholds come from ``[tool.edgelab.fidelity]`` in pyproject.toml.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

DEFAULT_THRESHOLDS: dict[str, float] = {
    "min_cosine": 0.99,
    "min_top1_agreement": 1.0,
    "min_iou": 0.5,
    "max_landmark_nme": 0.02,
    "map_threshold": 0.3,   # DB text-detection maps binarise at 0.3; scores at this probability
}


@dataclass(frozen=True)
class Thresholds:
    min_cosine: float = DEFAULT_THRESHOLDS["min_cosine"]
    min_top1_agreement: float = DEFAULT_THRESHOLDS["min_top1_agreement"]
    min_iou: float = DEFAULT_THRESHOLDS["min_iou"]
    max_landmark_nme: float = DEFAULT_THRESHOLDS["max_landmark_nme"]
    map_threshold: float = DEFAULT_THRESHOLDS["map_threshold"]

    @classmethod
    def from_table(cls, table: dict[str, Any] | None) -> "Thresholds":
        table = dict(table or {})
        valid = {f.name for f in fields(cls)}
        unknown = set(table) - valid
        if unknown:
            raise ValueError(f"[tool.edgelab.fidelity]: unknown key(s) {sorted(unknown)}; "
                             f"valid: {sorted(valid)}")
        return cls(**{k: float(v) for k, v in table.items()})


class ShapeMismatch(ValueError):
    """The variant's outputs cannot be paired with the reference's."""


def pair_outputs(reference: Sequence[np.ndarray], variant: Sequence[np.ndarray]
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    ref = [np.asarray(a, dtype=np.float64) for a in reference]
    var = [np.asarray(a, dtype=np.float64) for a in variant]
    pairs = []
    for i, r in enumerate(ref):
        candidate = var[i] if i < len(var) and var[i].size == r.size else None
        if candidate is None:
            same = [v for v in var if v.size == r.size]
            if len(same) != 1:
                raise ShapeMismatch(f"output {i} of the reference has {r.size} values "
                                    f"{tuple(r.shape)}; the variant's outputs have "
                                    f"{[tuple(v.shape) for v in var]}")
            candidate = same[0]
        pairs.append((r, candidate.reshape(r.shape)))
    return pairs


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0 or not (np.isfinite(na) and np.isfinite(nb)):
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def top1_agreement(ref: np.ndarray, var: np.ndarray) -> float:
    rows_ref = ref.reshape(-1, ref.shape[-1]) if ref.ndim > 1 else ref.reshape(1, -1)
    rows_var = var.reshape(rows_ref.shape)
    return float(np.mean(rows_ref.argmax(axis=-1) == rows_var.argmax(axis=-1)))


def _probabilities(values: np.ndarray) -> np.ndarray:
    if values.min() < 0.0 or values.max() > 1.0:  # logits
        return 1.0 / (1.0 + np.exp(-np.clip(values, -60, 60)))
    return values


def map_iou(ref: np.ndarray, var: np.ndarray, threshold: float) -> float:
    """IoU of the thresholded maps. The threshold applies to the reference's probabilities; the
    variant is squashed the same way the reference was, so a variant that turned probabilities
    into logits is not silently rescued."""
    squash = ref.min() < 0.0 or ref.max() > 1.0
    r = (_probabilities(ref) if squash else ref) > threshold
    v = (1.0 / (1.0 + np.exp(-np.clip(var, -60, 60))) if squash else var) > threshold
    union = np.logical_or(r, v).sum()
    return 1.0 if union == 0 else float(np.logical_and(r, v).sum() / union)


def landmark_error(ref: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """(mean abs error in model units, error / reference bbox diagonal). Coordinates come as
    x,y,z triples (MediaPipe) or x,y pairs; only x,y count for the normalisation."""
    width = 3 if ref.size % 3 == 0 else 2 if ref.size % 2 == 0 else 1
    r, v = ref.reshape(-1, width), var.reshape(-1, width)
    error = float(np.mean(np.abs(r - v)))
    xy = r[:, :2] if width >= 2 else r
    diagonal = float(np.linalg.norm(xy.max(axis=0) - xy.min(axis=0)))
    return error, (error / diagonal if diagonal > 0 else float("inf") if error else 0.0)


def _task_output(pairs, task: str):
    if task == "detection":  # the score output: last dimension 1 (one score per anchor)
        scored = [p for p in pairs if p[0].ndim >= 2 and p[0].shape[-1] == 1 and p[0].size > 1]
        if scored:
            return scored[0]
    return max(pairs, key=lambda p: p[0].size) if task == "segmentation" else pairs[0]


def compare(reference: Sequence[np.ndarray], variant: Sequence[np.ndarray], task: str,
            thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """Fidelity figures plus ``ok`` and, when not ok, ``reason`` ("output drift: ...")."""
    pairs = pair_outputs(reference, variant)
    ref_all = np.concatenate([r.ravel() for r, _ in pairs])
    var_all = np.concatenate([v.ravel() for _, v in pairs])
    result: dict[str, Any] = {
        "task": task, "outputs": len(pairs),
        "cosine": round(cosine(ref_all, var_all), 6),
        "max_abs_err": float(np.max(np.abs(ref_all - var_all))) if ref_all.size else 0.0,
        "finite": bool(np.all(np.isfinite(var_all))),
    }
    failures = []
    if not result["finite"]:
        failures.append("non-finite outputs (NaN/inf)")
    if result["cosine"] < thresholds.min_cosine:
        failures.append(f"cosine {result['cosine']:.4f} < {thresholds.min_cosine:g}")
    ref_t, var_t = _task_output(pairs, task)
    if task == "classification":
        result["top1_agreement"] = top1_agreement(ref_t, var_t)
        if result["top1_agreement"] < thresholds.min_top1_agreement:
            failures.append(f"top-1 agreement {result['top1_agreement']:.2f} < "
                            f"{thresholds.min_top1_agreement:g}")
    elif task in ("segmentation", "detection"):
        result["iou"] = round(map_iou(ref_t, var_t, thresholds.map_threshold), 4)
        if result["iou"] < thresholds.min_iou:
            failures.append(f"IoU {result['iou']:.3f} < {thresholds.min_iou:g}")
    elif task == "landmarks":
        error, nme = landmark_error(ref_t, var_t)
        result["landmark_mae"], result["landmark_nme"] = round(error, 5), round(nme, 5)
        if nme > thresholds.max_landmark_nme:
            failures.append(f"landmark NME {nme:.4f} > {thresholds.max_landmark_nme:g}")
    result["ok"] = not failures
    result["reason"] = ("output drift: " + "; ".join(failures)) if failures else None
    return result
