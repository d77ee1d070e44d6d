"""Landslide-class scores at threshold 0.5, reduced two ways so that both can be reported.

- ``pooled`` (primary, micro): TP, FP, FN, TN summed over every pixel of the test set, then
  precision, recall, F1 and IoU from those sums (torchmetrics ``Binary*`` metrics).
- ``per_batch`` (secondary): what the paper's Keras notebook reports. Keras evaluates a metric
  function on each batch of ``K.round(y_pred)`` and averages the batch values with equal weight
  (the last, smaller batch counts as much as a full one)::

      precision = TP / (TP + FP + ε)     recall = TP / (TP + FN + ε)     ε = K.epsilon() = 1e-7
      f1 = 2·P·R / (P + R + ε)           iou = TP / (TP + FP + FN + ε)

  so it depends on the batch size and on the order of the patches, and a batch without landslides
  pulls the mean down even when the model rightly predicts none there.

Zero divisions: every ratio whose denominator is 0 is 0, in both reductions (torchmetrics
``zero_division=0``; ε does the same in the Keras formulas). So precision is 0 when nothing is
predicted, recall 0 when there is no landslide, and F1 and IoU are 0 when there is neither.
Threshold: a pixel is a landslide when its probability is strictly above the threshold; at 0.5
this is Keras' ``K.round`` (which rounds 0.5 to 0).
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryRecall,
    BinaryStatScores,
)
from torchmetrics.functional.classification import binary_stat_scores

#: K.epsilon() of the Keras backend, used in the per-batch formulas.
KERAS_EPSILON = 1e-7
SCORE_NAMES = ("precision", "recall", "f1", "iou")

ArrayLike = torch.Tensor | np.ndarray


def _keras_scores(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> dict[str, torch.Tensor]:
    """The Keras notebook's formulas on one batch's counts (vectorised over batches)."""
    eps = KERAS_EPSILON
    precision = tp / (tp + fp + eps)
    recall = tp / (tp + fn + eps)
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall + eps),
        "iou": tp / (tp + fp + fn + eps),
    }


class SegmentationScores:
    """Accumulates landslide-class scores batch by batch; the module docstring says how they reduce.

    >>> scores = SegmentationScores()
    >>> for images, masks in loader:
    ...     scores.update(predict_proba(model, images), masks)
    >>> scores.compute()["pooled"]["f1"]
    """

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold
        # inputs are checked once in _check(); torchmetrics' own checks sort every batch (slow)
        kwargs = {"threshold": threshold, "validate_args": False}
        self._pooled = MetricCollection(
            {
                "stats": BinaryStatScores(**kwargs),
                "precision": BinaryPrecision(**kwargs, zero_division=0),
                "recall": BinaryRecall(**kwargs, zero_division=0),
                "f1": BinaryF1Score(**kwargs, zero_division=0),
                "iou": BinaryJaccardIndex(**kwargs, zero_division=0),
            },
            compute_groups=True,
        )
        self._batch_counts: list[torch.Tensor] = []  # (tp, fp, fn) of each batch

    def reset(self) -> None:
        """Forget all batches."""
        self._pooled.reset()
        self._batch_counts.clear()

    def update(self, probs: ArrayLike, target: ArrayLike) -> None:
        """Add a batch: ``probs`` (B, 1, H, W) or (B, H, W) in [0, 1], ``target`` alike, 0/1."""
        probs, target = _check(probs, target)
        self._pooled.to(probs.device)
        self._pooled.update(probs, target)
        tp, fp, _tn, fn, _ = binary_stat_scores(
            probs, target, threshold=self.threshold, validate_args=False
        )
        self._batch_counts.append(torch.stack([tp, fp, fn]).cpu())

    def _extend_batch_counts(self, counts: torch.Tensor) -> None:
        """Add (tp, fp, fn) rows of batches counted elsewhere (by :func:`scores_from_masks`)."""
        self._batch_counts.extend(counts.cpu())

    @property
    def n_batches(self) -> int:
        return len(self._batch_counts)

    def compute(self) -> dict[str, dict[str, float | int]]:
        """Both reductions.

        Returns:
            ``{"pooled": {precision, recall, f1, iou, tp, fp, fn, tn},
            "per_batch": {precision, recall, f1, iou}}``
        """
        if not self._batch_counts:
            raise ValueError(
                "SegmentationScores.compute() before any update(): no batch was scored"
            )
        pooled = dict(self._pooled.compute())
        tp, fp, tn, fn, _support = (int(v) for v in pooled.pop("stats"))
        counts = torch.stack(self._batch_counts).to(torch.float64)
        per_batch = _keras_scores(counts[:, 0], counts[:, 1], counts[:, 2])
        return {
            "pooled": {
                **{name: float(pooled[name]) for name in SCORE_NAMES},
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "tn": tn,
            },
            "per_batch": {name: float(per_batch[name].mean()) for name in SCORE_NAMES},
        }


def scores_from_masks(
    pred_binary: ArrayLike, target: ArrayLike, *, batch_size: int = 4
) -> dict[str, dict[str, float | int]]:
    """Scores of whole arrays of binary predictions against masks, e.g. a submission.

    ``pred_binary`` and ``target``: (N, H, W) or (N, 1, H, W) in {0, 1}, patches in test-set order.
    ``per_batch`` groups consecutive patches in batches of ``batch_size`` (the paper trained with 4;
    Keras' ``evaluate`` defaults to 32), as the notebook's Keras evaluation would.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pred, target = _check(pred_binary, target)
    if not bool(((pred == 0) | (pred == 1)).all()):
        raise ValueError("pred_binary must hold only 0 and 1; threshold probabilities first")
    pred = pred.to(torch.uint8)
    scores = SegmentationScores()
    scores._pooled.update(pred, target)
    per_patch = binary_stat_scores(
        pred, target, multidim_average="samplewise", validate_args=False
    )  # (N, 5): tp, fp, tn, fn, support
    batch_of_patch = torch.arange(len(pred)) // batch_size
    n_batches = -(-len(pred) // batch_size)
    per_batch = per_patch.new_zeros(n_batches, per_patch.shape[1])
    per_batch.index_add_(0, batch_of_patch, per_patch)
    scores._extend_batch_counts(per_batch[:, [0, 1, 3]])  # tp, fp, fn
    return scores.compute()


def _check(probs: ArrayLike, target: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    probs = torch.as_tensor(probs)
    target = torch.as_tensor(target)
    if probs.shape != target.shape:
        raise ValueError(
            f"predictions {tuple(probs.shape)} and target {tuple(target.shape)}"
            " must have the same shape"
        )
    if probs.ndim not in (3, 4) or (probs.ndim == 4 and probs.shape[1] != 1):
        raise ValueError(f"expected (B, 1, H, W) or (B, H, W), got {tuple(probs.shape)}")
    if probs.ndim == 4:
        probs, target = probs[:, 0], target[:, 0]
    if not bool(((target == 0) | (target == 1)).all()):
        raise ValueError("target must hold only 0 and 1 (landslide mask)")
    if probs.is_floating_point() and probs.numel() and (probs.min() < 0 or probs.max() > 1):
        raise ValueError(
            "probabilities must lie in [0, 1]: pass sigmoid(logits), e.g. from predict_proba()"
        )
    return probs, target.to(torch.uint8)
