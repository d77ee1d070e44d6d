"""The five baseline architectures of the HR-GLDD paper, created by name.

>>> model = create_model("unet", in_channels=4, filters=16)
>>> logits = model(torch.zeros(2, 4, 128, 128))        # (2, 1, 128, 128) logits
>>> probs = predict_proba(model, torch.zeros(2, 4, 128, 128))

Every model returns logits; the paper's sigmoid output is ``sigmoid(logits)``. ``model.config``
(name, in_channels, filters) re-creates the model: ``create_model(**config)``.
"""

from __future__ import annotations

import torch

from baselines.models.adsms_unet import ADSMSUNet
from baselines.models.attn_res_unet import AttentionResUNet
from baselines.models.attn_unet import AttentionUNet
from baselines.models.base import SIZE_MULTIPLE, SegmentationNet
from baselines.models.res_unet import ResUNet
from baselines.models.unet import UNet

MODELS: dict[str, type[SegmentationNet]] = {
    cls.name: cls for cls in (UNet, ResUNet, AttentionUNet, AttentionResUNet, ADSMSUNet)
}
#: ("unet", "res_unet", "attn_unet", "attn_res_unet", "adsms_unet"), in the paper's order
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)

__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "SIZE_MULTIPLE",
    "SegmentationNet",
    "count_parameters",
    "create_model",
    "predict_proba",
]


def create_model(name: str, *, in_channels: int = 4, filters: int = 16) -> SegmentationNet:
    """Create a baseline by its registry name with ``filters`` first-layer filters (paper: 8–64)."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}"
        ) from None
    return cls(in_channels=in_channels, filters=filters)


def predict_proba(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Landslide probabilities (B, 1, H, W): the sigmoid of the model's final logits.

    Runs in eval mode without gradients (so batch norm uses its running statistics and ADSMS U-Net
    returns only its final output) and restores the model's previous mode.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was_training)
    if isinstance(out, tuple):
        out = out[0]
    return torch.sigmoid(out)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
