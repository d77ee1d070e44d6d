"""ADSMS U-Net: attention U-Net with multi-scale inputs and deep supervision.

After Abraham & Mefraz Khan (2018), "A novel focal Tversky loss function with improved attention
U-Net for lesion segmentation" (their ``attn_reg`` model), on the five-level U of the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.models.base import DEPTH, SegmentationNet
from baselines.models.blocks import AttentionGate, ConvBlock, UpConv


class ADSMSUNet(SegmentationNet):
    """Attention U-Net with image-pyramid inputs and deep-supervision side outputs.

    - Multi-scale input: the image, average-pooled to 1/2, 1/4 and 1/8, passes a 3×3 conv + ReLU
      and is concatenated with the pooled features entering encoder levels 2–4.
    - Attention gates weigh the skips of the three coarser decoder levels (not the finest, as in the
      authors' code).
    - Deep supervision: a 1×1 conv on decoder levels 1/8, 1/4 and 1/2 gives side logits, upsampled
      (bilinear) to full resolution.

    In training mode ``forward`` returns ``(final_logits, [side_logits, ...])`` (coarse to fine); in
    eval mode only ``final_logits``. Use :func:`baselines.losses.criterion_for` ("adsms_unet").
    """

    name = "adsms_unet"

    def __init__(self, in_channels: int = 4, filters: int = 16) -> None:
        super().__init__(in_channels, filters)
        w = self.widths
        encoder_levels = DEPTH - 1
        self.pool = nn.MaxPool2d(2)
        self.scale_inputs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels, w[i], 3, padding=1), nn.ReLU(inplace=True))
            for i in range(1, encoder_levels)
        )
        self.encoder = nn.ModuleList(
            [ConvBlock(in_channels, w[0], batch_norm=True)]
            + [ConvBlock(w[i - 1] + w[i], w[i], batch_norm=True) for i in range(1, encoder_levels)]
        )
        self.bottleneck = ConvBlock(w[-2], w[-1], batch_norm=True)
        coarse_to_fine = list(reversed(range(encoder_levels)))
        self.up = nn.ModuleList(UpConv(w[i + 1], w[i]) for i in coarse_to_fine)
        self.gates = nn.ModuleList(
            AttentionGate(w[i], w[i + 1], max(w[i] // 2, 1)) if i > 0 else nn.Identity()
            for i in coarse_to_fine
        )
        self.decoder = nn.ModuleList(
            ConvBlock(2 * w[i], w[i], batch_norm=True) for i in coarse_to_fine
        )
        self.side_heads = nn.ModuleList(nn.Conv2d(w[i], 1, 1) for i in coarse_to_fine[:-1])
        self.head = nn.Conv2d(w[0], 1, 1)
        self.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        self.check_input(x)
        size = x.shape[-2:]
        image = x
        skips = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                scaled = F.avg_pool2d(image, 2**level)
                x = torch.cat([self.scale_inputs[level - 1](scaled), x], dim=1)
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        sides = []
        for step, (up, gate, block, skip) in enumerate(
            zip(self.up, self.gates, self.decoder, reversed(skips), strict=True)
        ):
            if not isinstance(gate, nn.Identity):
                skip = gate(skip, x)
            x = block(torch.cat([skip, up(x)], dim=1))
            if self.training and step < len(self.side_heads):
                side = self.side_heads[step](x)
                sides.append(F.interpolate(side, size=size, mode="bilinear", align_corners=False))
        final = self.head(x)
        return (final, sides) if self.training else final
