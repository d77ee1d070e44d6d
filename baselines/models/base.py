"""What every baseline model shares: its saved config, input checks and the plain U shape."""

from __future__ import annotations

import torch
from torch import nn

from baselines.models.blocks import AttentionGate, UpConv

#: Levels of the U: four encoder levels plus the bottleneck, so H and W must be multiples of 2**4.
DEPTH = 5
SIZE_MULTIPLE = 2 ** (DEPTH - 1)


class SegmentationNet(nn.Module):
    """Base of the baselines: binary segmentation of a (B, C, H, W) patch into (B, 1, H, W) logits.

    Models return logits; the paper's sigmoid output is ``torch.sigmoid(logits)`` (the losses and
    :func:`baselines.models.predict_proba` apply it, numerically safer than a sigmoid layer).
    ``config`` holds the constructor arguments, so weights saved with it (safetensors + JSON) can be
    re-created with :func:`baselines.models.create_model`.
    """

    name: str = ""

    def __init__(self, in_channels: int = 4, filters: int = 16) -> None:
        super().__init__()
        for arg, value in (("in_channels", in_channels), ("filters", filters)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{type(self).__name__}: {arg} must be a positive int, got {value!r}"
                )
        self.in_channels = in_channels
        self.filters = filters
        self.config: dict = {"name": self.name, "in_channels": in_channels, "filters": filters}

    @property
    def widths(self) -> list[int]:
        """Channels per level: the first-layer filters, doubled at every level down."""
        return [self.filters * 2**level for level in range(DEPTH)]

    def reset_parameters(self) -> None:
        """He-normal conv weights and zero biases (Keras ``he_normal``, as Keras U-Net code uses).

        Suited to ReLU: it keeps the activation scale through the plain conv + ReLU stack of a U-Net
        without batch norm, where PyTorch's default (Kaiming-uniform, a = √5) shrinks it.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def check_input(self, x: torch.Tensor) -> None:
        """Fail early with the fix instead of a shape error deep in the decoder."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.name}: expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        if x.shape[-2] % SIZE_MULTIPLE or x.shape[-1] % SIZE_MULTIPLE:
            raise ValueError(
                f"{self.name}: H and W must be multiples of {SIZE_MULTIPLE},"
                f" got {tuple(x.shape[-2:])}; pad or crop the patch"
            )


class UShapedNet(SegmentationNet):
    """The U of the first four baselines: a block per level, max-pool down, up-conv + skip up.

    Subclasses choose the level block (plain or residual) and whether attention gates weigh skips.
    """

    attention: bool = False

    def make_block(self, in_channels: int, out_channels: int) -> nn.Module:
        """The block of one level; each architecture module defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define make_block()")

    def __init__(self, in_channels: int = 4, filters: int = 16) -> None:
        super().__init__(in_channels, filters)
        w = self.widths
        self.encoder = nn.ModuleList(
            self.make_block(c_in, c_out)
            for c_in, c_out in zip([in_channels, *w[:-2]], w[:-1], strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = self.make_block(w[-2], w[-1])
        coarse_to_fine = list(reversed(range(DEPTH - 1)))
        self.up = nn.ModuleList(UpConv(w[i + 1], w[i]) for i in coarse_to_fine)
        self.gates = nn.ModuleList(
            AttentionGate(w[i], w[i + 1], max(w[i] // 2, 1)) if self.attention else nn.Identity()
            for i in coarse_to_fine
        )
        self.decoder = nn.ModuleList(self.make_block(2 * w[i], w[i]) for i in coarse_to_fine)
        self.head = nn.Conv2d(w[0], 1, 1)
        self.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, gate, block, skip in zip(
            self.up, self.gates, self.decoder, reversed(skips), strict=True
        ):
            if self.attention:
                skip = gate(skip, x)
            x = block(torch.cat([skip, up(x)], dim=1))
        return self.head(x)
