"""Residual U-Net: the U-Net shape with ResUNet-a residual units (Diakogiannis et al. 2020)."""

from __future__ import annotations

from torch import nn

from baselines.models.base import UShapedNet
from baselines.models.blocks import ResidualBlock


class ResUNet(UShapedNet):
    """U-Net whose every level is a pre-activation residual unit instead of two plain convs."""

    name = "res_unet"

    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        return ResidualBlock(in_channels, out_channels)
