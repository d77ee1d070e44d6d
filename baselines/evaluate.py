"""Score landslide probabilities on the test sets of a release (collections 1, 2 and 3).

Two reductions of precision, recall, F1 and IoU of the landslide class at threshold 0.5 are kept:

- ``pooled`` (primary): TP/FP/FN summed over every pixel of a test set, then the ratios (micro).
- ``per_batch`` (secondary): the ratios computed per batch of ``batch_size`` patches and averaged,
  as the paper's Keras code reports them. This depends on the batch size: we use 32, the default of
  Keras ``Model.evaluate``, over the test set in release order.

Trained models and submitted predictions go through the same :func:`score_test_sets`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from baselines.data import make_loader
from hrgldd_data.archive import Release
from hrgldd_data.schema import TestSet

#: Batch size of the per-batch average (Keras ``Model.evaluate`` default).
PER_BATCH_SIZE = 32
THRESHOLD = 0.5
METRICS = ("precision", "recall", "f1", "iou")


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
    release: Release,
    indices: np.ndarray,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Landslide probabilities ``(k, H, W)`` float32 of patches ``indices`` (model in eval mode)."""
    from baselines.models import predict_proba

    model.eval()
    out = []
    loader = make_loader(release, indices, batch_size=batch_size)
    if progress:
        from tqdm.auto import tqdm

        loader = tqdm(loader, desc="predict", unit="batch", leave=False)
    with fast_cpu_math():
        for images, _ in loader:
            probs = predict_proba(model, images.to(device))
            out.append(probs[:, 0].float().cpu().numpy())
    if not out:
        return np.empty((0, *release.read(slice(0, 0))[1].shape[1:]), np.float32)
    return np.concatenate(out)


def score_arrays(
    probs: np.ndarray,
    masks: np.ndarray,
    *,
    batch_size: int = PER_BATCH_SIZE,
    threshold: float = THRESHOLD,
) -> dict[str, dict[str, float]]:
    """Pooled and per-batch scores of probabilities (or 0/1 masks) ``(k, H, W)`` against truth."""
    from baselines.metrics import SegmentationScores

    if probs.shape != masks.shape:
        raise ValueError(f"predictions {probs.shape} and masks {masks.shape} differ in shape")
    scores = SegmentationScores(threshold=threshold)
    for start in range(0, probs.shape[0], batch_size):
        p = torch.from_numpy(
            np.ascontiguousarray(probs[start : start + batch_size], dtype=np.float32)
        )[:, None]
        t = torch.from_numpy(
            np.ascontiguousarray(masks[start : start + batch_size]).astype(np.int64)
        )[:, None]
        scores.update(p, t)
    return scores.compute()


def score_test_sets(
    release: Release,
    test_sets: list[TestSet],
    indices: np.ndarray,
    probs: np.ndarray,
    *,
    batch_size: int = PER_BATCH_SIZE,
) -> list[dict[str, Any]]:
    """One result row per test set, from predictions ``probs[i]`` of patch ``indices[i]``."""
    position = {int(i): n for n, i in enumerate(np.asarray(indices))}
    rows = []
    for test_set in test_sets:
        missing = [int(i) for i in test_set.indices if int(i) not in position]
        if missing:
            raise KeyError(
                f"no prediction for {len(missing)} patch(es) of {test_set.key}, e.g. {release.patch_id(missing[0])}"
            )
        take = np.array([position[int(i)] for i in test_set.indices], dtype=np.int64)
        masks = release.read(test_set.indices)[1]
        scores = score_arrays(probs[take], masks, batch_size=batch_size)
        pooled, per_batch = scores["pooled"], scores["per_batch"]
        row: dict[str, Any] = {
            "collection": test_set.collection,
            "test_set": test_set.name,
            "n_patches": len(test_set),
        }
        row |= {m: float(pooled[m]) for m in METRICS}
        row |= {k: int(pooled[k]) for k in ("tp", "fp", "fn", "tn") if k in pooled}
        row |= {f"pb_{m}": float(per_batch[m]) for m in METRICS}
        rows.append(row)
    return rows


def scored_indices(test_sets: list[TestSet]) -> np.ndarray:
    """Every patch scored by at least one test set, ascending."""
    if not test_sets:
        return np.empty(0, np.int64)
    return np.unique(np.concatenate([t.indices for t in test_sets])).astype(np.int64)


def evaluate_model(
    model: torch.nn.Module,
    release: Release,
    test_sets: list[TestSet] | None = None,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = PER_BATCH_SIZE,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Predict every test patch once and score each test set.

    Returns the rows, the predicted patch indices and their probabilities (for plots).
    """
    test_sets = release.test_sets() if test_sets is None else test_sets
    indices = scored_indices(test_sets)
    probs = predict(
        model, release, indices, batch_size=batch_size, device=device, progress=progress
    )
    return (
        score_test_sets(release, test_sets, indices, probs, batch_size=batch_size),
        indices,
        probs,
    )


__all__ = [
    "METRICS",
    "PER_BATCH_SIZE",
    "THRESHOLD",
    "evaluate_model",
    "fast_cpu_math",
    "predict",
    "score_arrays",
    "score_test_sets",
    "scored_indices",
]
