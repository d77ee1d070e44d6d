"""Dice, Tversky and focal Tversky against hand-computed cases, and the per-model criteria."""

from __future__ import annotations

import pytest
import torch

from baselines.losses import criterion_for, dice_loss, focal_tversky_loss, tversky_loss
from baselines.models import MODEL_NAMES

# probs [1, 0, .5, .5] against target [1, 0, 1, 0]: TP = 1.5, FN = 0.5, FP = 0.5, Σp = Σt = 2
PROBS = torch.tensor([1.0, 0.0, 0.5, 0.5]).reshape(1, 1, 2, 2)
TARGET = torch.tensor([1.0, 0.0, 1.0, 0.0]).reshape(1, 1, 2, 2)


def test_dice_hand_case() -> None:
    # (2·1.5 + 1) / (2 + 2 + 1) = 0.8
    assert dice_loss(PROBS, TARGET).item() == pytest.approx(0.2)
    # without smoothing: 3 / 4
    assert dice_loss(PROBS, TARGET, smooth=0).item() == pytest.approx(0.25)


def test_tversky_hand_case() -> None:
    # (1.5 + 1) / (1.5 + .7·.5 + .3·.5 + 1) = 2.5 / 3
    assert tversky_loss(PROBS, TARGET).item() == pytest.approx(1 - 2.5 / 3)
    # focal: (1 - TI)^(1/γ), γ = 4/3
    assert focal_tversky_loss(PROBS, TARGET).item() == pytest.approx((1 / 6) ** 0.75)


def test_tversky_alpha_weighs_false_negatives() -> None:
    target = torch.ones(1, 1, 1, 2)
    missed = torch.zeros(1, 1, 1, 2)  # FN = 2, FP = 0
    assert tversky_loss(missed, target).item() == pytest.approx(1 - 1 / (0.7 * 2 + 1))
    false_alarm = torch.ones(1, 1, 1, 2)  # FP = 2 against an empty mask
    assert tversky_loss(false_alarm, torch.zeros_like(target)).item() == pytest.approx(
        1 - 1 / (0.3 * 2 + 1)
    )
    # a miss costs more than a false alarm of the same size: the loss favours recall
    assert tversky_loss(missed, target) > tversky_loss(false_alarm, torch.zeros_like(target))


def test_alpha_beta_half_is_dice() -> None:
    torch.manual_seed(0)
    p, t = torch.rand(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    # without smoothing α = β = 1/2 is Dice: TP / (TP + (FN + FP)/2) = 2TP / (Σp + Σt)
    tversky = tversky_loss(p, t, alpha=0.5, beta=0.5, smooth=0)
    assert tversky.item() == pytest.approx(dice_loss(p, t, smooth=0).item(), rel=1e-6)


def test_losses_flatten_the_batch() -> None:
    """One score over the whole batch (Keras K.flatten), not a mean of per-image scores."""
    probs = torch.tensor([[1.0, 1.0], [1.0, 0.0]]).reshape(2, 1, 1, 2)
    target = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).reshape(2, 1, 1, 2)
    # flattened: intersection 2, Σp 3, Σt 2 → 1 - 5/6; per-image mean would be (0 + 0.5) / 2
    assert dice_loss(probs, target).item() == pytest.approx(1 / 6)


@pytest.mark.parametrize("loss", [dice_loss, tversky_loss, focal_tversky_loss])
def test_perfect_and_empty(loss) -> None:
    mask = torch.tensor([1.0, 0.0, 1.0, 1.0]).reshape(1, 1, 2, 2)
    assert loss(mask, mask).item() == pytest.approx(0, abs=1e-4)
    empty = torch.zeros(1, 1, 2, 2)
    assert loss(empty, empty).item() == pytest.approx(0, abs=1e-4)  # smooth = 1: nothing to find


@pytest.mark.parametrize("loss", [dice_loss, tversky_loss, focal_tversky_loss])
def test_gradients_finite_at_the_optimum(loss) -> None:
    probs = TARGET.clone().requires_grad_(True)
    loss(probs, TARGET).backward()
    assert torch.isfinite(probs.grad).all()


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="unsqueeze"):
        dice_loss(PROBS, TARGET[:, 0])


@pytest.mark.parametrize("name", MODEL_NAMES[:4])
def test_dice_criterion_takes_logits(name: str) -> None:
    logits = torch.logit(PROBS.clamp(1e-4, 1 - 1e-4))
    assert criterion_for(name)(logits, TARGET).item() == pytest.approx(0.2, abs=1e-3)
    with pytest.raises(TypeError, match="adsms_unet"):
        criterion_for(name)((logits, [logits]), TARGET)


def test_adsms_criterion() -> None:
    torch.manual_seed(0)
    final, sides = torch.randn(2, 1, 8, 8), [torch.randn(2, 1, 8, 8) for _ in range(3)]
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    expected = tversky_loss(torch.sigmoid(final), target) + sum(
        focal_tversky_loss(torch.sigmoid(s), target) for s in sides
    )
    criterion = criterion_for("adsms_unet")
    assert criterion((final, sides), target).item() == pytest.approx(expected.item())
    # eval-mode output (final only): the Tversky term alone
    assert criterion(final, target).item() == pytest.approx(
        tversky_loss(torch.sigmoid(final), target).item()
    )


def test_criterion_unknown_model() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        criterion_for("fcn")
