"""Attention Residual U-Net: residual units and attention-gated skips together."""

from __future__ import annotations

from torch import nn

from baselines.models.base import UShapedNet
from baselines.models.blocks import ResidualBlock


class AttentionResUNet(UShapedNet):
    """The residual U-Net of :mod:`res_unet` with the attention gates of :mod:`attn_unet`."""

    name = "attn_res_unet"
    attention = True

    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        return ResidualBlock(in_channels, out_channels)
