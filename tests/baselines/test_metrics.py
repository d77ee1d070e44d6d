"""Landslide-class scores: hand cases, zero divisions, pooled vs per-batch, honesty checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.metrics import (
    KERAS_EPSILON,
    SegmentationScores,
    bootstrap_f1,
    collapse,
    trivial_f1,
)

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


def test_trivial_baseline_and_spread_are_reported() -> None:
    target = batch([1, 0, 0, 0, 1, 0, 0, 0], (2, 1, 2, 2))  # 25 % landslide
    scores = SegmentationScores()
    scores.update(torch.ones(2, 1, 2, 2), target)  # all-landslide
    pooled = scores.compute()["pooled"]
    assert pooled["landslide_fraction"] == pytest.approx(0.25)
    assert pooled["trivial_f1"] == pytest.approx(2 * 0.25 / 1.25) == pytest.approx(pooled["f1"])
    assert pooled["predicted_fraction"] == 1.0 and pooled["prob_std"] == 0.0
    assert trivial_f1(0.045) == pytest.approx(0.0861, abs=1e-4) and trivial_f1(0.0) == 0.0


def test_curves_are_binned_and_honest_for_constant_predictions() -> None:
    rng = np.random.default_rng(0)
    target = (rng.random((4, 1, 32, 32)) < 0.3).astype(np.float32)
    noisy = 1 / (1 + np.exp(-(4 * (target - 0.5) + rng.normal(0, 1, target.shape))))
    for probs, auroc in ((np.ones_like(target), 0.5), (np.zeros_like(target), 0.5)):
        scores = SegmentationScores(curves=True)
        scores.update(probs, target)
        curves = scores.compute()["curves"]
        assert curves["auroc"] == pytest.approx(auroc)
        assert curves["auprc"] == pytest.approx(target.mean(), abs=1e-6)
    scores = SegmentationScores(curves=True)
    for start in (0, 2):  # two batches accumulate like one
        scores.update(noisy[start : start + 2].astype(np.float32), target[start : start + 2])
    from torchmetrics.functional.classification import (
        binary_auroc,
        binary_average_precision,
    )

    exact = torch.from_numpy(noisy.ravel()).float(), torch.from_numpy(target.ravel()).long()
    curves = scores.compute()["curves"]  # binned, against torchmetrics' exact (unbinned) values
    assert curves["auroc"] == pytest.approx(float(binary_auroc(*exact)), abs=2e-3)
    assert curves["auprc"] == pytest.approx(float(binary_average_precision(*exact)), abs=5e-3)
    # saturated probabilities (all above 0.99) are still ranked: the thresholds follow logits
    squeezed = 1 - 1e-3 * (1 - noisy)
    saturated = SegmentationScores(curves=True)
    saturated.update(squeezed.astype(np.float32), target)
    assert saturated.compute()["curves"]["auroc"] > 0.9


def test_collapse_names_what_is_constant() -> None:
    base = {"landslide_fraction": 0.05, "prob_mean": 0.5, "prob_std": 0.2}
    assert collapse(base | {"predicted_fraction": 0.06}) is None
    assert "everything is landslide" in collapse(base | {"predicted_fraction": 0.995})
    assert "nothing is landslide" in collapse(base | {"predicted_fraction": 0.0})
    flat = base | {"predicted_fraction": 0.5, "prob_std": 1e-5, "prob_mean": 0.51}
    assert "every probability is 0.510" in collapse(flat)
    # a test set that is itself all landslide is not a collapse when predicted so
    assert collapse(base | {"landslide_fraction": 0.99, "predicted_fraction": 0.995}) is None


def test_per_patch_counts_and_seeded_bootstrap() -> None:
    scores = SegmentationScores()
    probs = batch([1, 1, 0, 0, 0, 1, 1, 1], (2, 1, 2, 2))
    target = batch([1, 0, 1, 0, 0, 1, 1, 0], (2, 1, 2, 2))
    scores.update(probs, target)
    assert scores.patch_counts().tolist() == [[1, 1, 1], [2, 1, 0]]
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 50, (40, 3))
    events = np.repeat([0, 1], 20)
    first = bootstrap_f1(counts, events, seed=3)
    assert first == bootstrap_f1(counts, events, seed=3)  # seeded: deterministic
    assert first != bootstrap_f1(counts, events, seed=4)
    pooled = 2 * counts[:, 0].sum() / (2 * counts[:, 0].sum() + counts[:, 1:].sum())
    assert first[0] < pooled < first[1]
    # events interleaved (each event's patches in the same order): the same interval
    order = np.arange(40).reshape(2, 20).T.ravel()
    assert bootstrap_f1(counts[order], events[order], seed=3) == first
    # resampling within events: each resample keeps 20 patches of each event, so two events of
    # identical patches leave no uncertainty, while resampling across events would
    two = np.concatenate([np.tile([10, 0, 0], (20, 1)), np.tile([0, 10, 10], (20, 1))])
    assert bootstrap_f1(two, events) == (0.5, 0.5)
    low, high = bootstrap_f1(two)
    assert low < 0.45 and high > 0.55
    # perfect patches everywhere: no uncertainty
    assert bootstrap_f1(np.tile([5, 0, 0], (10, 1))) == (1.0, 1.0)
