"""U-Net as in the HR-GLDD paper and its released Keras notebook (Ronneberger et al. 2015)."""

from __future__ import annotations

from torch import nn

from baselines.models.base import UShapedNet
from baselines.models.blocks import ConvBlock


class UNet(UShapedNet):
    """Five levels of two 3×3 conv + ReLU with 2×2 max-pool; up-conv, skip concat, two 3×3 convs.

    No batch norm, as in the paper's notebook. The final 1×1 convolution gives logits.
    """

    name = "unet"

    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        return ConvBlock(in_channels, out_channels)
