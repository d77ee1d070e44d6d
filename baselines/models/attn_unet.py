"""Attention U-Net: additive attention gates on the skip connections (Oktay et al. 2018)."""

from __future__ import annotations

from torch import nn

from baselines.models.base import UShapedNet
from baselines.models.blocks import ConvBlock


class AttentionUNet(UShapedNet):
    """U-Net whose skips are weighed by a gate driven by the next-coarser decoder features.

    Conv blocks carry batch norm, as in Oktay et al.
    """

    name = "attn_unet"
    attention = True

    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        return ConvBlock(in_channels, out_channels, batch_norm=True)
