"""Layers the five U-Net variants share.

Written once here so that the architectures differ only where the papers differ: the conv block
(plain or residual), attention gates on the skips, image-pyramid inputs and deep supervision.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    """Two 3×3 convolutions, each followed by (optional batch norm and) ReLU: one U-Net level."""

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool = False) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Pre-activation residual unit of ResUNet-a (Diakogiannis et al. 2020), no atrous branches.

    BN → ReLU → 3×3 conv → BN → ReLU → 3×3 conv, added to the input; a 1×1 convolution projects the
    input when the channel count changes (the entry of every level).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class UpConv(nn.Sequential):
    """2×2 nearest upsampling followed by a 2×2 'same' convolution and ReLU.

    This is the "learnable upconvolution" of the paper's Keras notebook
    (``Conv2D(f, 2, activation='relu', padding='same')(UpSampling2D((2, 2))(x))``), padding
    the even kernel the way Keras 'same' does: one extra row and column at the bottom and right.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ZeroPad2d((0, 1, 0, 1)),
            nn.Conv2d(in_channels, out_channels, 2),
            nn.ReLU(inplace=True),
        )


class AttentionGate(nn.Module):
    """Additive attention gate of Oktay et al. (2018) on a skip connection.

    The skip ``x`` (resolution H) is weighed by coefficients computed from it and from the gating
    signal ``g`` one level coarser (H/2): ``α = σ(ψ(ReLU(W_x x↓2 + W_g g)))``, upsampled to H.
    """

    def __init__(self, skip_channels: int, gate_channels: int, inter_channels: int) -> None:
        super().__init__()
        self.theta_x = nn.Conv2d(skip_channels, inter_channels, 2, stride=2, bias=False)
        self.phi_g = nn.Conv2d(gate_channels, inter_channels, 1)
        self.psi = nn.Sequential(nn.Conv2d(inter_channels, 1, 1), nn.BatchNorm2d(1))
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        attention = torch.relu(self.theta_x(x) + self.phi_g(g))
        alpha = torch.sigmoid(self.upsample(self.psi(attention)))
        return x * alpha
