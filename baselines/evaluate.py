"""Score landslide probabilities on the test sets of a release (collections 1, 2 and 3).

Two reductions of precision, recall, F1 and IoU of the landslide class at threshold 0.5 are kept:

- ``pooled`` (primary): TP/FP/FN summed over every pixel of a test set, then the ratios (micro).
- ``per_batch`` (secondary): the ratios computed per batch of ``batch_size`` patches and averaged,
  as the paper's Keras code reports them. This depends on the batch size: we use 32, the default of
  Keras ``Model.evaluate``, over the test set in release order.

Beside them every row holds what keeps a score honest (:mod:`baselines.metrics`): the landslide
pixel fraction and the F1 of predicting all-landslide, threshold-free AUROC and AUPRC, whether the
prediction collapsed to a constant, and a bootstrap interval of the F1 that resamples patches
within each event (seeded, so the same predictions give the same interval).

Trained models and submitted predictions go through the same :func:`score_test_sets`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from baselines.leaderboard import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from hrgldd_data.archive import Release
from hrgldd_data.schema import TestSet

if TYPE_CHECKING:
    from baselines.data import ReleaseData

#: Batch size of the per-batch average (Keras ``Model.evaluate`` default).
PER_BATCH_SIZE = 32
THRESHOLD = 0.5
METRICS = ("precision", "recall", "f1", "iou")
#: What a row records about the truth and the prediction's spread, beside the scores.
SPREAD = ("landslide_fraction", "trivial_f1", "predicted_fraction", "prob_mean", "prob_std")


_flush_depth = 0


@contextmanager
def fast_cpu_math() -> Iterator[None]:
    """Flush denormal floats to zero while inside (nestable; the default, off, comes back after).

    Tiny activations and Adam moments turn into denormals after a few steps and then run through
    slow microcode on x86 CPUs: a U-Net epoch on the sample release took 52 s instead of 3.7 s.
    """
    global _flush_depth
    enabled = torch.set_flush_denormal(True) if _flush_depth == 0 else False
    _flush_depth += 1
    try:
        yield
    finally:
        _flush_depth -= 1
        if enabled and _flush_depth == 0:
            torch.set_flush_denormal(False)


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    data: ReleaseData,
    indices: np.ndarray,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Landslide probabilities ``(k, H, W)`` float32 of patches ``indices`` (model in eval mode).

    The patches are read and normalized by ``data`` (:class:`baselines.data.ReleaseData`), as in
    training.
    """
    from baselines.models import predict_proba

    model.eval()
    out = []
    batches: Any = data.batches(indices, batch_size=batch_size, device=device)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(
            batches, desc="predict", unit="batch", leave=False, total=-(-len(indices) // batch_size)
        )
    with fast_cpu_math():
        for images, _ in batches:
            probs = predict_proba(model, images)
            out.append(probs[:, 0].float().cpu().numpy())
    if not out:
        return data.masks(indices).astype(np.float32)
    return np.concatenate(out)


def score_arrays(
    probs: np.ndarray,
    masks: np.ndarray,
    *,
    batch_size: int = PER_BATCH_SIZE,
    threshold: float = THRESHOLD,
    curves: bool = False,
) -> dict[str, Any]:
    """Scores of probabilities (or 0/1 masks) ``(k, H, W)`` against truth.

    Returns :meth:`baselines.metrics.SegmentationScores.compute` (``pooled``, ``per_batch``,
    and ``curves`` when asked) and ``patch_counts``: TP, FP, FN per patch ``(k, 3)``.
    """
    from baselines.metrics import SegmentationScores

    if probs.shape != masks.shape:
        raise ValueError(f"predictions {probs.shape} and masks {masks.shape} differ in shape")
    scores = SegmentationScores(threshold=threshold, curves=curves)
    for start in range(0, probs.shape[0], batch_size):
        p = torch.from_numpy(
            np.ascontiguousarray(probs[start : start + batch_size], dtype=np.float32)
        )[:, None]
        t = torch.from_numpy(
            np.ascontiguousarray(masks[start : start + batch_size]).astype(np.int64)
        )[:, None]
        scores.update(p, t)
    return scores.compute() | {"patch_counts": scores.patch_counts()}


def score_test_sets(
    release: Release,
    test_sets: list[TestSet],
    indices: np.ndarray,
    probs: np.ndarray,
    *,
    batch_size: int = PER_BATCH_SIZE,
    masks: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One result row per test set, from predictions ``probs[i]`` of patch ``indices[i]``.

    A row holds the pooled and per-batch scores, the test set's landslide pixel fraction and the
    F1 of predicting all-landslide (``trivial_f1``), threshold-free ``auroc`` and ``auprc``, the
    share of pixels predicted landslide, the probabilities' std, ``collapsed`` (see
    :func:`baselines.metrics.collapse`) and the F1's bootstrap interval ``f1_low``-``f1_high``
    (:func:`baselines.metrics.bootstrap_f1`: patches resampled within each event, seeded).
    ``masks``: the truth of ``indices`` when already read (else read from the release).
    """
    from baselines.metrics import bootstrap_f1, collapse

    position = {int(i): n for n, i in enumerate(np.asarray(indices))}
    rows = []
    for test_set in test_sets:
        missing = [int(i) for i in test_set.indices if int(i) not in position]
        if missing:
            raise KeyError(
                f"no prediction for {len(missing)} patch(es) of {test_set.key}, e.g. "
                f"{release.patch_id(missing[0])}"
            )
        take = np.array([position[int(i)] for i in test_set.indices], dtype=np.int64)
        truth = masks[take] if masks is not None else release.read(test_set.indices)[1]
        scores = score_arrays(probs[take], truth, batch_size=batch_size, curves=True)
        pooled, per_batch = scores["pooled"], scores["per_batch"]
        low, high = bootstrap_f1(
            scores["patch_counts"],
            release.table["site"][test_set.indices],
            resamples=BOOTSTRAP_RESAMPLES,
            seed=BOOTSTRAP_SEED,
        )
        row: dict[str, Any] = {
            "collection": test_set.collection,
            "test_set": test_set.name,
            "n_patches": len(test_set),
        }
        row |= {m: float(pooled[m]) for m in METRICS}
        row |= {k: int(pooled[k]) for k in ("tp", "fp", "fn", "tn") if k in pooled}
        row |= {f"pb_{m}": float(per_batch[m]) for m in METRICS}
        row |= {k: float(v) for k, v in scores["curves"].items()}
        row |= {k: float(pooled[k]) for k in SPREAD}
        row |= {"f1_low": low, "f1_high": high, "collapsed": collapse(pooled) is not None}
        rows.append(row)
    return rows


def scored_indices(test_sets: list[TestSet]) -> np.ndarray:
    """Every patch scored by at least one test set, ascending."""
    if not test_sets:
        return np.empty(0, np.int64)
    return np.unique(np.concatenate([t.indices for t in test_sets])).astype(np.int64)


def evaluate_model(
    model: torch.nn.Module,
    data: ReleaseData,
    test_sets: list[TestSet] | None = None,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = PER_BATCH_SIZE,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Predict every test patch once and score each test set.

    ``data`` serves the release normalized as the model was trained. Returns the rows, the
    predicted patch indices and their probabilities (for plots).
    """
    release = data.release
    test_sets = release.test_sets() if test_sets is None else test_sets
    indices = scored_indices(test_sets)
    probs = predict(model, data, indices, batch_size=batch_size, device=device, progress=progress)
    rows = score_test_sets(
        release, test_sets, indices, probs, batch_size=batch_size, masks=data.masks(indices)
    )
    return rows, indices, probs


__all__ = [
    "METRICS",
    "PER_BATCH_SIZE",
    "SPREAD",
    "THRESHOLD",
    "evaluate_model",
    "fast_cpu_math",
    "predict",
    "score_arrays",
    "score_test_sets",
    "scored_indices",
]
