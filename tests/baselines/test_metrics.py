"""Landslide-class scores: hand-computed cases, zero divisions, pooled against per-batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.metrics import KERAS_EPSILON, SegmentationScores, scores_from_masks

EPS = KERAS_EPSILON


def batch(values, shape=(1, 1, 2, 2)) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def test_pooled_hand_case() -> None:
    # probabilities at exactly 0.5 are not landslide (strictly above; Keras K.round(0.5) = 0)
    probs = batch([0.9, 0.5, 0.7, 0.1, 0.2, 0.6, 0.0, 0.51], (2, 1, 2, 2))
    target = batch([1, 1, 0, 0, 1, 0, 0, 1], (2, 1, 2, 2))
    # predicted: 1 0 1 0 | 0 1 0 1 → TP 2 (pixels 0, 7), FP 2 (2, 5), FN 2 (1, 4), TN 2
    scores = SegmentationScores()
    scores.update(probs, target)
    pooled = scores.compute()["pooled"]
    assert (pooled["tp"], pooled["fp"], pooled["fn"], pooled["tn"]) == (2, 2, 2, 2)
    assert pooled["precision"] == pytest.approx(0.5)
    assert pooled["recall"] == pytest.approx(0.5)
    assert pooled["f1"] == pytest.approx(0.5)
    assert pooled["iou"] == pytest.approx(1 / 3)


def test_pooled_and_per_batch_differ_where_they_should() -> None:
    """A batch without landslides, rightly left empty, scores 0 in Keras' per-batch mean."""
    scores = SegmentationScores()
    scores.update(batch([1.0, 0.0, 1.0, 0.0]), batch([1, 0, 1, 0]))  # perfect, with landslides
    scores.update(batch([0.0, 0.0, 0.0, 0.0]), batch([0, 0, 0, 0]))  # perfect, no landslide
    result = scores.compute()
    assert result["pooled"]["f1"] == pytest.approx(1.0)
    assert result["pooled"]["iou"] == pytest.approx(1.0)
    # per batch: (1 + 0) / 2 for each score
    for name in ("precision", "recall", "f1", "iou"):
        assert result["per_batch"][name] == pytest.approx(0.5, abs=1e-6)


def test_per_batch_weighs_batches_equally() -> None:
    scores = SegmentationScores()
    # batch 1: 3 pixels, TP 1 FP 2 → P = 1/3 ; batch 2: TP 3 FP 1 → P = 3/4
    scores.update(batch([1, 1, 1, 0]), batch([1, 0, 0, 0]))
    scores.update(batch([1, 1, 1, 1]), batch([1, 1, 1, 0]))
    result = scores.compute()
    expected = (1 / (3 + EPS) + 3 / (4 + EPS)) / 2
    assert result["per_batch"]["precision"] == pytest.approx(expected, rel=1e-9)
    assert result["pooled"]["precision"] == pytest.approx(4 / 7)
    p1, r1 = 1 / 3, 1.0
    p2, r2 = 3 / 4, 1.0
    f1 = (2 * p1 * r1 / (p1 + r1) + 2 * p2 * r2 / (p2 + r2)) / 2
    assert result["per_batch"]["f1"] == pytest.approx(f1, rel=1e-6)
    assert result["pooled"]["f1"] == pytest.approx(2 * 4 / (2 * 4 + 3))


def test_zero_divisions() -> None:
    # nothing predicted, landslides present: precision 0 (0/0), recall 0, f1 0, iou 0
    scores = SegmentationScores()
    scores.update(batch([0.1, 0.2, 0.3, 0.4]), batch([1, 1, 0, 0]))
    result = scores.compute()
    for reduction in ("pooled", "per_batch"):
        for name in ("precision", "recall", "f1", "iou"):
            assert result[reduction][name] == 0.0
    # nothing predicted and nothing to find: everything is 0, all pixels are true negatives
    empty = SegmentationScores()
    empty.update(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4))
    result = empty.compute()
    assert result["pooled"]["tn"] == 32
    assert all(result["pooled"][name] == 0.0 for name in ("precision", "recall", "f1", "iou"))
    assert all(value == 0.0 for value in result["per_batch"].values())


def test_channel_axis_is_optional() -> None:
    torch.manual_seed(0)
    probs, target = torch.rand(3, 1, 8, 8), (torch.rand(3, 1, 8, 8) > 0.6).float()
    with_axis, without = SegmentationScores(), SegmentationScores()
    with_axis.update(probs, target)
    without.update(probs[:, 0], target[:, 0])
    assert with_axis.compute() == without.compute()


def test_threshold() -> None:
    scores = SegmentationScores(threshold=0.8)
    scores.update(batch([0.9, 0.7, 0.0, 0.0]), batch([1, 1, 0, 0]))
    pooled = scores.compute()["pooled"]
    assert (pooled["tp"], pooled["fn"]) == (1, 1)
    with pytest.raises(ValueError, match="threshold"):
        SegmentationScores(threshold=1.5)


def test_rejects_logits_and_mismatched_shapes() -> None:
    scores = SegmentationScores()
    with pytest.raises(ValueError, match="sigmoid"):
        scores.update(batch([3.0, -2.0, 0.0, 0.0]), batch([1, 0, 0, 0]))
    with pytest.raises(ValueError, match="same shape"):
        scores.update(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="before any update"):
        scores.compute()


def test_reset() -> None:
    scores = SegmentationScores()
    scores.update(batch([1, 1, 1, 1]), batch([1, 0, 0, 0]))
    scores.reset()
    scores.update(batch([1, 0, 0, 0]), batch([1, 0, 0, 0]))
    assert scores.compute()["pooled"]["precision"] == pytest.approx(1.0)
    assert scores.n_batches == 1


def test_scores_from_masks_matches_the_accumulator() -> None:
    rng = np.random.default_rng(0)
    target = (rng.random((10, 16, 16)) > 0.8).astype(np.uint8)
    pred = (rng.random((10, 16, 16)) > 0.7).astype(np.uint8)
    scores = SegmentationScores()
    for start in range(0, 10, 4):  # batches of 4, 4, 2
        chunk = slice(start, start + 4)
        scores.update(torch.from_numpy(pred[chunk]).float(), torch.from_numpy(target[chunk]))
    expected, got = scores.compute(), scores_from_masks(pred, target, batch_size=4)
    for reduction in ("pooled", "per_batch"):
        assert got[reduction] == pytest.approx(expected[reduction])


def test_scores_from_masks_batch_size_changes_only_per_batch() -> None:
    target = np.zeros((4, 2, 2), np.uint8)
    target[0, 0, 0] = 1
    pred = target.copy()
    one = scores_from_masks(pred, target, batch_size=1)
    four = scores_from_masks(pred, target, batch_size=4)
    assert one["pooled"] == four["pooled"]
    assert four["per_batch"]["f1"] == pytest.approx(1.0, abs=1e-6)
    assert one["per_batch"]["f1"] == pytest.approx(0.25, abs=1e-6)  # three empty batches score 0


def test_scores_from_masks_checks_inputs() -> None:
    with pytest.raises(ValueError, match="only 0 and 1"):
        scores_from_masks(np.full((1, 2, 2), 0.7), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        scores_from_masks(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), batch_size=0)
    with pytest.raises(ValueError, match="same shape"):
        scores_from_masks(np.zeros((1, 2, 2)), np.zeros((2, 2, 2)))
