"""harness.models.fidelity: pure comparisons of a variant's outputs with the FP32 source's."""
from __future__ import annotations

import numpy as np
import pytest

from harness.models.fidelity import (ShapeMismatch, Thresholds, compare, cosine, landmark_error, map_iou,
                              pair_outputs, top1_agreement)

RNG = np.random.default_rng(0)


def test_identical_outputs_are_perfect():
    ref = [RNG.normal(size=(1, 10)).astype(np.float32)]
    result = compare(ref, [ref[0].copy()], "classification")
    assert result["ok"] and result["reason"] is None
    assert result["cosine"] == pytest.approx(1.0) and result["max_abs_err"] == 0.0
    assert result["top1_agreement"] == 1.0


def test_drift_below_threshold_fails_with_the_figure_in_the_reason():
    ref = np.array([[1.0, 0.0, 0.0, 0.0]])
    drifted = np.array([[1.0, 0.4, 0.0, 0.0]])  # cosine 0.928
    result = compare([ref], [drifted], "other", Thresholds(min_cosine=0.99))
    assert not result["ok"]
    assert result["reason"] == "output drift: cosine 0.9285 < 0.99"


def test_top1_flip_fails_classification_even_with_high_cosine():
    ref = np.array([[0.51, 0.49]])
    var = np.array([[0.49, 0.51]])
    result = compare([ref], [var], "classification", Thresholds(min_cosine=0.9))
    assert result["cosine"] > 0.99 and result["top1_agreement"] == 0.0
    assert result["reason"] == "output drift: top-1 agreement 0.00 < 1"


def test_top1_agreement_is_per_row():
    ref = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=float)
    var = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    assert top1_agreement(ref, var) == 0.75


def test_map_iou_thresholds_probabilities_and_squashes_logits():
    ref = np.zeros((1, 1, 4, 4))
    ref[..., :2, :] = 0.9
    var = ref.copy()
    var[..., 0, :] = 0.1  # half of the text region lost
    assert map_iou(ref, var, 0.3) == 0.5
    logits = np.full((1, 8, 1), -5.0)
    logits[0, :2, 0] = 5.0
    assert map_iou(logits, logits, 0.5) == 1.0
    assert map_iou(np.zeros((4, 4)), np.zeros((4, 4)), 0.3) == 1.0  # nothing on both sides


def test_detection_uses_the_score_output():
    boxes = RNG.normal(size=(1, 8, 16))
    scores = np.full((1, 8, 1), -4.0)
    scores[0, 3, 0] = 4.0
    flipped = scores.copy()
    flipped[0, 3, 0], flipped[0, 5, 0] = -4.0, 4.0
    result = compare([boxes, scores], [boxes, flipped], "detection", Thresholds(min_cosine=0.0))
    assert result["iou"] == 0.0 and "IoU 0.000 < 0.5" in result["reason"]


def test_landmark_error_is_normalised_by_the_face_size():
    ref = np.array([[0, 0, 0, 100, 0, 0, 0, 100, 0]], dtype=float)  # 3 points, diagonal 141.4
    var = ref + np.array([[1, 1, 0, 1, 1, 0, 1, 1, 0]])
    error, nme = landmark_error(ref, var)
    assert error == pytest.approx(2 / 3)
    assert nme == pytest.approx((2 / 3) / np.hypot(100, 100))
    result = compare([ref], [var], "landmarks", Thresholds(max_landmark_nme=0.001))
    assert not result["ok"] and "landmark NME" in result["reason"]


def test_outputs_pair_across_engine_shapes():
    # ncnn drops the batch dim; MNN may reorder outputs: pairing goes by position, then by size
    ref = [np.arange(6.0).reshape(1, 2, 3), np.arange(4.0).reshape(1, 4)]
    pairs = pair_outputs(ref, [np.arange(6.0).reshape(2, 3), np.arange(4.0)])
    assert [p[1].shape for p in pairs] == [(1, 2, 3), (1, 4)]
    swapped = pair_outputs(ref, [np.arange(4.0), np.arange(6.0)])
    assert swapped[0][1].size == 6 and swapped[1][1].size == 4
    with pytest.raises(ShapeMismatch, match="output 0 of the reference has 6 values"):
        pair_outputs(ref, [np.zeros(5), np.zeros(4)])


def test_non_finite_outputs_fail():
    ref = np.ones((1, 4))
    var = np.array([[1.0, np.nan, 1.0, 1.0]])
    result = compare([ref], [var], "other")
    assert not result["ok"] and "non-finite" in result["reason"]


def test_cosine_edge_cases():
    assert cosine(np.zeros(3), np.zeros(3)) == 1.0
    assert cosine(np.zeros(3), np.ones(3)) == 0.0


def test_thresholds_from_pyproject_table():
    assert Thresholds.from_table({"min_cosine": 0.95}).min_cosine == 0.95
    assert Thresholds.from_table(None) == Thresholds()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['min_cosin'\]"):
        Thresholds.from_table({"min_cosin": 0.9})
