"""Losses of the HR-GLDD baselines, on probabilities, as in the paper's Keras code.

Every loss flattens the whole batch into one vector before it sums (Keras ``K.flatten(y_true)``
over the batch tensor), so a batch gives one overlap score, not a mean of per-image scores.
``smooth`` (1 by default, as in the paper's code) keeps empty masks finite: a batch with no
landslide and no prediction scores a perfect overlap.

- Dice (first four models): ``1 - (2·Σpt + s) / (Σp + Σt + s)``.
- Tversky (Abraham & Mefraz Khan 2018): ``TI = (TP + s) / (TP + α·FN + β·FP + s)``, loss ``1 - TI``;
  α = 0.7 weighs false negatives more, trading precision for recall on the small landslide class.
- Focal Tversky: ``(1 - TI)^(1/γ)`` with γ = 4/3, as the authors' paper and code
  (``K.pow(1 - TI, 0.75)``).

:func:`criterion_for` gives a model its training loss by name (:data:`LOSSES`): ``paper``, the
losses above as the paper trains each model, or ``dice_bce``, the paper's loss plus binary
cross-entropy on every output. Dice alone on probabilities lets a model saturate to "everything
is landslide": once the sigmoid saturates its gradient vanishes and nothing pulls it back (U-Net
and Res U-Net did so on real imagery). Cross-entropy on the logits keeps a gradient
``p - y`` on every pixel however saturated, so it cannot stay there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

ModelOutput = torch.Tensor | tuple[torch.Tensor, Sequence[torch.Tensor]]
Criterion = Callable[[ModelOutput, torch.Tensor], torch.Tensor]


def _flat(probs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if probs.shape != target.shape:
        raise ValueError(
            f"probs {tuple(probs.shape)} and target {tuple(target.shape)} must have the same shape;"
            " give the mask a channel axis: target.unsqueeze(1)"
        )
    return probs.reshape(-1), target.reshape(-1).to(probs.dtype)


def dice_loss(probs: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss over the flattened batch (the paper's ``dice_coef_loss``)."""
    p, t = _flat(probs, target)
    intersection = (p * t).sum()
    return 1 - (2 * intersection + smooth) / (p.sum() + t.sum() + smooth)


def tversky_index(
    probs: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.7,
    beta: float = 0.3,
    smooth: float = 1.0,
) -> torch.Tensor:
    """Soft Tversky index; ``alpha`` weighs false negatives, ``beta`` false positives."""
    p, t = _flat(probs, target)
    tp = (p * t).sum()
    fn = ((1 - p) * t).sum()
    fp = (p * (1 - t)).sum()
    return (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)


def tversky_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.7,
    beta: float = 0.3,
    smooth: float = 1.0,
) -> torch.Tensor:
    """``1 - TI``: the loss ADSMS U-Net puts on its final output."""
    return 1 - tversky_index(probs, target, alpha, beta, smooth)


def focal_tversky_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.7,
    beta: float = 0.3,
    gamma: float = 4 / 3,
    smooth: float = 1.0,
) -> torch.Tensor:
    """``(1 - TI)^(1/γ)``: focuses on hard, poorly overlapping batches (ADSMS U-Net's sides)."""
    # clamp: the derivative of x^(3/4) is infinite at x = 0 (a perfect batch)
    return (1 - tversky_index(probs, target, alpha, beta, smooth)).clamp_min(1e-7) ** (1 / gamma)


def _dice_criterion(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if isinstance(output, tuple):
        raise TypeError(
            "dice criterion got a (final, sides) tuple: use criterion_for('adsms_unet')"
        )
    return dice_loss(torch.sigmoid(output), target)


def _deep_supervision_criterion(output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
    """Tversky on the final output plus focal Tversky on every side output, all weighted 1."""
    final, sides = output if isinstance(output, tuple) else (output, ())
    loss = tversky_loss(torch.sigmoid(final), target)
    for side in sides:
        loss = loss + focal_tversky_loss(torch.sigmoid(side), target)
    return loss


def _with_bce(region: Criterion) -> Criterion:
    """``region`` plus binary cross-entropy (pixel mean) on the final and every side output."""

    def criterion(output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        final, sides = output if isinstance(output, tuple) else (output, ())
        loss = region(output, target)
        for logits in (final, *sides):
            loss = loss + F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
        return loss

    return criterion


#: Training losses by name (see the module docstring).
LOSSES: tuple[str, ...] = ("paper", "dice_bce")


def criterion_for(model_name: str, loss: str = "paper") -> Criterion:
    """A baseline's training loss, on the model's raw output (logits) and the mask.

    ``paper``: Dice for ``unet``, ``res_unet``, ``attn_unet``, ``attn_res_unet``; for
    ``adsms_unet`` Tversky on the final output plus focal Tversky on the side outputs (eval-mode
    output: Tversky only). ``dice_bce``: the same plus binary cross-entropy on every output.
    Target: float (B, 1, H, W) in {0, 1}.
    """
    from baselines.models import MODEL_NAMES

    if model_name not in MODEL_NAMES:
        raise ValueError(f"unknown model {model_name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
    region = _deep_supervision_criterion if model_name == "adsms_unet" else _dice_criterion
    return region if loss == "paper" else _with_bce(region)
