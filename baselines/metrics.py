"""Landslide-class scores at threshold 0.5, reduced two ways, and what keeps them honest.

- ``pooled`` (primary, micro): TP, FP, FN, TN summed over every pixel of the test set, then
  precision, recall, F1 and IoU from those sums (torchmetrics ``Binary*`` metrics).
- ``per_batch`` (secondary): what the paper's Keras notebook reports. Keras evaluates a metric
  function on each batch of ``K.round(y_pred)`` and averages the batch values with equal weight
  (the last, smaller batch counts as much as a full one)::

      precision = TP / (TP + FP + ε)     recall = TP / (TP + FN + ε)     ε = K.epsilon() = 1e-7
      f1 = 2·P·R / (P + R + ε)           iou = TP / (TP + FP + FN + ε)

  so it depends on the batch size and on the order of the patches, and a batch without landslides
  pulls the mean down even when the model rightly predicts none there.

Beside them, so that a score cannot hide a collapse:

- ``landslide_fraction`` of the pixels and ``trivial_f1``, the F1 of predicting every pixel as
  landslide (``2f / (1 + f)``): patches are kept only where landslides are, so this is far from 0
  (about 9 % at 4.5 % landslide pixels, 50 % at 33 %);
- ``predicted_fraction`` (pixels above the threshold) and the mean and std of the probabilities,
  from which :func:`collapse` tells a (nearly) constant prediction;
- threshold-free ``auroc`` and ``auprc`` (average precision) with ``curves=True``: torchmetrics'
  binned curves, so memory stays bounded on any test set, at :data:`CURVE_THRESHOLDS` (evenly
  spaced in logit, so saturated probabilities near 0 and 1 are still told apart; probabilities are
  kept inside the outermost thresholds, so a constant prediction scores AUROC 0.5 and AUPRC the
  landslide fraction, as it should);
- per-patch TP/FP/FN (:meth:`SegmentationScores.patch_counts`), for bootstrap intervals.

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
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryRecall,
    BinaryStatScores,
)

#: K.epsilon() of the Keras backend, used in the per-batch formulas.
KERAS_EPSILON = 1e-7
SCORE_NAMES = ("precision", "recall", "f1", "iou")
#: Thresholds of the binned ROC and precision-recall curves: 0, 201 thresholds evenly spaced in
#: logit from -15 to 15 (probability 3e-7 ... 1 - 3e-7), and 1.
CURVE_THRESHOLDS = torch.cat(
    [torch.zeros(1), torch.sigmoid(torch.linspace(-15.0, 15.0, 201)), torch.ones(1)]
)
_CURVE_LOW = float(torch.finfo(torch.float32).tiny)
_CURVE_HIGH = float(torch.nextafter(torch.tensor(1.0), torch.tensor(0.0)))
#: :func:`collapse`: a prediction is (nearly) constant when more than this share of the pixels
#: falls on one side of the threshold while the truth is mixed, or the probabilities vary less.
COLLAPSE_SHARE = 0.98
COLLAPSE_EMPTY = 5e-4
COLLAPSE_STD = 1e-3

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

    def __init__(self, threshold: float = 0.5, *, curves: bool = False) -> None:
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
        self._curves = (
            MetricCollection(
                {
                    "auroc": BinaryAUROC(thresholds=CURVE_THRESHOLDS, validate_args=False),
                    "auprc": BinaryAveragePrecision(
                        thresholds=CURVE_THRESHOLDS, validate_args=False
                    ),
                },
                compute_groups=True,
            )
            if curves
            else None
        )
        self._batch_counts: list[torch.Tensor] = []  # (tp, fp, fn) of each batch
        self._patch_counts: list[torch.Tensor] = []  # (tp, fp, fn) of each patch
        self._moments = torch.zeros(3, dtype=torch.float64)  # pixels, sum p, sum p²

    def reset(self) -> None:
        """Forget all batches."""
        self._pooled.reset()
        if self._curves is not None:
            self._curves.reset()
        self._batch_counts.clear()
        self._patch_counts.clear()
        self._moments.zero_()

    def update(self, probs: ArrayLike, target: ArrayLike) -> None:
        """Add a batch: ``probs`` (B, 1, H, W) or (B, H, W) in [0, 1], ``target`` alike, 0/1."""
        probs, target = _check(probs, target)
        self._pooled.to(probs.device)
        self._pooled.update(probs, target)
        # tp, fp, fn of each patch (torchmetrics' samplewise counts squeeze away a batch of 1)
        predicted, truth = probs > self.threshold, target.bool()
        per_patch = torch.stack(
            [
                (predicted & truth).sum((1, 2)),
                (predicted & ~truth).sum((1, 2)),
                (~predicted & truth).sum((1, 2)),
            ],
            dim=1,
        ).cpu()
        self._patch_counts.append(per_patch)
        self._batch_counts.append(per_patch.sum(0))
        p = probs.to(torch.float64)
        self._moments += torch.stack([torch.tensor(p.numel()), p.sum(), (p * p).sum()]).cpu()
        if self._curves is not None:
            self._curves.to(probs.device)
            self._curves.update(probs.float().clamp(_CURVE_LOW, _CURVE_HIGH), target)

    @property
    def n_batches(self) -> int:
        return len(self._batch_counts)

    def patch_counts(self) -> np.ndarray:
        """TP, FP, FN of every patch scored so far, ``(n_patches, 3)`` int64, in update order."""
        if not self._patch_counts:
            return np.zeros((0, 3), np.int64)
        return torch.cat(self._patch_counts).to(torch.int64).numpy()

    def compute(self) -> dict[str, dict[str, float | int]]:
        """Both reductions, the trivial baseline, the prediction's spread and (``curves``) AUCs.

        Returns:
            ``{"pooled": {precision, recall, f1, iou, tp, fp, fn, tn, landslide_fraction,
            trivial_f1, predicted_fraction, prob_mean, prob_std},
            "per_batch": {precision, recall, f1, iou}}``, and ``"curves": {auroc, auprc}``
            when created with ``curves=True``.
        """
        if not self._batch_counts:
            raise ValueError(
                "SegmentationScores.compute() before any update(): no batch was scored"
            )
        pooled = dict(self._pooled.compute())
        tp, fp, tn, fn, _support = (int(v) for v in pooled.pop("stats"))
        counts = torch.stack(self._batch_counts).to(torch.float64)
        per_batch = _keras_scores(counts[:, 0], counts[:, 1], counts[:, 2])
        pixels, total, squares = (float(v) for v in self._moments)
        mean = total / pixels if pixels else 0.0
        fraction = (tp + fn) / pixels if pixels else 0.0
        result: dict[str, dict[str, float | int]] = {
            "pooled": {
                **{name: float(pooled[name]) for name in SCORE_NAMES},
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "tn": tn,
                "landslide_fraction": fraction,
                "trivial_f1": trivial_f1(fraction),
                "predicted_fraction": (tp + fp) / pixels if pixels else 0.0,
                "prob_mean": mean,
                "prob_std": max(squares / pixels - mean * mean, 0.0) ** 0.5 if pixels else 0.0,
            },
            "per_batch": {name: float(per_batch[name].mean()) for name in SCORE_NAMES},
        }
        if self._curves is not None:
            result["curves"] = {k: float(v) for k, v in self._curves.compute().items()}
        return result


def trivial_f1(landslide_fraction: float) -> float:
    """F1 of predicting every pixel as landslide when ``landslide_fraction`` of them are.

    Precision is the fraction ``f``, recall 1, so F1 = 2f / (1 + f) (0 when there is none).
    """
    return 2 * landslide_fraction / (1 + landslide_fraction) if landslide_fraction > 0 else 0.0


def collapse(scores: dict[str, float | int]) -> str | None:
    """Why a prediction is (nearly) constant, or None when it is not.

    ``scores``: pooled scores (:meth:`SegmentationScores.compute`). Collapsed: the probabilities
    barely vary (std < :data:`COLLAPSE_STD`), or more than :data:`COLLAPSE_SHARE` of the pixels
    are predicted landslide, or fewer than :data:`COLLAPSE_EMPTY`, while the truth has both
    classes in more than that measure.
    """
    truth = float(scores["landslide_fraction"])
    predicted = float(scores["predicted_fraction"])
    if predicted > COLLAPSE_SHARE and truth < COLLAPSE_SHARE:
        return (
            f"{100 * predicted:.1f} % of the pixels predicted landslide, "
            f"{100 * truth:.1f} % are: everything is landslide"
        )
    if predicted < COLLAPSE_EMPTY and truth > COLLAPSE_EMPTY:
        return (
            f"{100 * predicted:.2f} % of the pixels predicted landslide, "
            f"{100 * truth:.1f} % are: nothing is landslide"
        )
    if float(scores["prob_std"]) < COLLAPSE_STD:
        return (
            f"every probability is {float(scores['prob_mean']):.3f} "
            f"(std {float(scores['prob_std']):.1e})"
        )
    return None


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


def bootstrap_f1(
    counts: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the pooled F1, resampling patches within groups.

    ``counts``: TP, FP, FN per patch ``(n, 3)``; ``groups``: the event (site) of each patch, so
    that each resample draws, within every event, as many patches as it has, with replacement
    (a stratified bootstrap: events keep their weight, patches of one event vary). Seeded: the
    same counts, groups and seed give the same interval. scipy's ``bootstrap`` does not stratify,
    hence these few lines.
    """
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    if counts.shape[0] == 0:
        return 0.0, 0.0
    groups = np.zeros(counts.shape[0], np.int64) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    totals = np.zeros((resamples, 3), np.int64)
    for group in np.unique(groups):  # sorted: the draws do not depend on patch order
        members = counts[groups == group]
        n = members.shape[0]
        step = max(1, 1_000_000 // n)  # bounded memory: about a million drawn patches a time
        for start in range(0, resamples, step):
            stop = min(start + step, resamples)
            drawn = rng.integers(0, n, (stop - start, n))
            totals[start:stop] += members[drawn].sum(axis=1)
    tp, fp, fn = totals[:, 0], totals[:, 1], totals[:, 2]
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(resamples), where=denominator > 0)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(f1, [tail, 100 - tail])
    return float(low), float(high)
