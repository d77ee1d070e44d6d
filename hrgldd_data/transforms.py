"""Normalization and augmentation of patches: the one implementation every trainer uses.

The baselines (``baselines.data``), the TorchGeo datamodule (``HRGLDDDataModule``) and rapid
mapping (through the normalization a trained model records with its weights) all normalize with
:class:`Normalization` and augment with :func:`dihedral`, so a score on the leaderboard says
something about the loader users train with, and a map is made from inputs prepared exactly as
in training.

Normalization, per band, with the statistics of the release's **train** split over valid pixels
(``Release.normalization``, ``Release.percentiles``):

1. a value is **nodata** when it is not finite (NaN: float releases) or equals the release's
   nodata value (0 in PlanetScope uint16 releases; PNG renderings have none);
2. ``robust`` only: values are clipped to the band's 1st and 99th percentiles, so that a heavy
   tail (a DEM in metres, a saturated glint) does not squash every other value to ~0;
3. ``(value - mean) / std``; a band with std 0 (constant in the train split) is divided by 1;
4. nodata becomes 0, the train mean: raw fill values never reach a model.

Augmentation: one of the eight symmetries of the square (flips and quarter turns) per patch, the
same for image and mask. They keep every pixel on the grid (no interpolation), so a mask stays
exactly binary and aligned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from hrgldd_data.errors import InputError

if TYPE_CHECKING:
    from hrgldd_data.archive import Release

#: ``standardize``: (value - mean) / std. ``robust``: clip to the 1st/99th percentiles first.
METHODS: tuple[str, ...] = ("standardize", "robust")
#: The normalization every trainer uses unless told otherwise (``baselines.train.TrainConfig``
#: and ``HRGLDDDataModule`` read it from here).
DEFAULT_METHOD = "robust"

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))


@dataclass(frozen=True)
class Normalization:
    """Per-band normalization of patches (see the module docstring for the steps).

    Attributes:
        method: ``standardize`` or ``robust``.
        mean, std: per band, of the train split's valid pixels.
        low, high: per band clip range (the train split's 1st and 99th percentiles); ``robust``.
        nodata: the stored nodata value (NaN and infinities are always nodata).
        bands: band names, in order (for messages and the saved config).
    """

    method: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    nodata: float | int | None = None
    bands: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(
                f"normalization {self.method!r} is not known; choose one of {list(METHODS)}"
            )
        n = len(self.mean)
        if len(self.std) != n or (self.bands and len(self.bands) != n):
            raise InputError(
                f"normalization has {n} means, {len(self.std)} stds and {len(self.bands)} band "
                "names; they must match one to one"
            )
        if self.method == "robust":
            if self.low is None or self.high is None or len(self.low) != n or len(self.high) != n:
                raise InputError(
                    "robust normalization needs the 1st and 99th percentiles of every band; "
                    "this release records none (format 1): rebuild it with this hrgldd, or use "
                    "the 'standardize' normalization"
                )

    @classmethod
    def from_release(
        cls,
        release: Release,
        method: str = DEFAULT_METHOD,
        bands: Sequence[str] | None = None,
    ) -> Normalization:
        """The normalization of ``release``'s train split for ``bands`` (default: all, in order)."""
        names = list(release.bands)
        chosen = list(bands) if bands is not None else names
        missing = [b for b in chosen if b not in names]
        if missing:
            raise InputError(f"{release.path}: no band(s) {missing}; the release has {names}")
        index = [names.index(b) for b in chosen]
        mean, std = release.normalization
        percentiles = release.percentiles
        low = high = None
        if percentiles is not None:
            low, high = (_floats(p[index]) for p in percentiles)
        elif method == "robust":
            raise InputError(
                f"{release.path}: release {release.name} {release.version} records no "
                "percentiles (format 1), which the 'robust' normalization clips to; rebuild it "
                "with this hrgldd, or choose the 'standardize' normalization"
            )
        return cls(
            method=method,
            mean=_floats(mean[index]),
            std=_floats(std[index]),
            low=low,
            high=high,
            nodata=release.nodata,
            bands=tuple(chosen),
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], nodata: Any = None, bands: Sequence[str] = ()
    ) -> Normalization:
        """Rebuild from :meth:`to_config` (``config.json`` ``data.normalization`` of a model).

        ``nodata`` and ``bands`` are taken from the config when it has them.
        """
        method = str(config.get("method", "standardize"))
        stored = config.get("nodata", nodata)
        if isinstance(stored, str):  # NaN is stored as text in JSON attributes
            stored = float(stored)
        return cls(
            method=method,
            mean=_floats(config["mean"]),
            std=_floats(config["std"]),
            low=_floats(config["p01"]) if config.get("p01") is not None else None,
            high=_floats(config["p99"]) if config.get("p99") is not None else None,
            nodata=stored,
            bands=tuple(config.get("bands", bands)),
        )

    def to_config(self) -> dict[str, Any]:
        """JSON-ready description that :meth:`from_config` reads back exactly."""
        config: dict[str, Any] = {
            "method": self.method,
            "bands": list(self.bands),
            "mean": list(self.mean),
            "std": list(self.std),
            "nodata": _nodata_json(self.nodata),
        }
        if self.low is not None and self.high is not None:
            config |= {"p01": list(self.low), "p99": list(self.high)}
        return config

    @property
    def scale(self) -> tuple[float, ...]:
        """The divisor of each band: its std, or 1 where the std is 0."""
        return tuple(s if s > 0 else 1.0 for s in self.std)

    def valid(self, images: Array) -> Array:
        """Where ``images`` (bands on axis -3) hold data: finite and not the nodata value."""
        if isinstance(images, np.ndarray):
            return self.valid(torch.from_numpy(images)).numpy()
        valid = (
            torch.isfinite(images)
            if images.is_floating_point()
            else torch.ones_like(images, dtype=torch.bool)
        )
        nodata = self.nodata
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            valid &= images != nodata
        return valid

    def __call__(self, images: Array, valid: Array | None = None) -> Array:
        """Normalized float32 copy of ``images`` (``(..., bands, H, W)``, any dtype).

        ``valid``: optional extra validity, broadcastable to ``images`` (e.g. ``(H, W)`` pixels
        a scene's mask marks as nodata); those values become 0 as nodata does. numpy in, numpy
        out; torch in, torch out (on the input's device).
        """
        if isinstance(images, np.ndarray):
            extra = None if valid is None else torch.from_numpy(np.asarray(valid, dtype=bool))
            return self(torch.from_numpy(np.asarray(images)), extra).numpy()
        if images.ndim < 3 or images.shape[-3] != len(self.mean):
            raise InputError(
                f"normalization of {len(self.mean)} band(s) {list(self.bands)} got images of "
                f"shape {tuple(images.shape)}: expected (..., {len(self.mean)}, H, W)"
            )
        x = images.to(torch.float32, copy=True)
        invalid = ~self.valid(images)  # before clipping: an infinity is nodata, not a maximum
        if valid is not None:
            invalid |= ~valid.to(device=images.device, dtype=torch.bool)
        mean, scale, low, high = self._constants(x.device)
        if low is not None and high is not None:
            x.clamp_(low, high)
        x.sub_(mean).div_(scale)
        return x.masked_fill_(invalid, 0.0)

    def _constants(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Per-band tensors ``(bands, 1, 1)`` on ``device``: mean, scale, and the clip range."""
        cache = self.__dict__.setdefault("_tensors", {})  # frozen: cache beside the fields
        if device not in cache:

            def column(values: tuple[float, ...] | None) -> torch.Tensor | None:
                if values is None:
                    return None
                return torch.tensor(values, dtype=torch.float32, device=device).view(-1, 1, 1)

            robust = self.method == "robust"
            cache[device] = (
                column(self.mean),
                column(self.scale),
                column(self.low if robust else None),
                column(self.high if robust else None),
            )
        return cache[device]


def _nodata_json(nodata: float | int | None) -> float | int | str | None:
    if isinstance(nodata, float) and not math.isfinite(nodata):
        return str(nodata)  # JSON has no NaN
    return nodata


def dihedral(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One of the 8 flips/quarter turns per sample, the same for its image and mask.

    ``images`` ``(B, C, H, W)``; ``masks`` ``(B, H, W)`` or ``(B, 1, H, W)`` of any dtype (or
    None). Drawn on the CPU from ``generator`` (the global RNG when None), so a seed fixes them
    on any device: a quarter-turn count ``k`` in 0-3, then a left-right flip, per sample; the
    sample is flipped, then turned ``k`` times.
    """
    n = images.shape[0]
    turns = torch.randint(0, 4, (n,), generator=generator).tolist()
    flips = torch.randint(0, 2, (n,), generator=generator).tolist()
    out_images = torch.stack([_move(x, f, k) for x, f, k in zip(images, flips, turns, strict=True)])
    if masks is None:
        return out_images, None
    out_masks = torch.stack([_move(m, f, k) for m, f, k in zip(masks, flips, turns, strict=True)])
    return out_images, out_masks


def _move(x: torch.Tensor, flip: int, k: int) -> torch.Tensor:
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, k, (-2, -1)) if k else x


class PatchTransform(torch.nn.Module):
    """Normalize (and, for training, augment) a batch dict ``{"image", "mask", ...}``.

    The batch transform of :class:`~hrgldd_data.torchgeo.HRGLDDDataModule` (its ``aug`` and
    ``train_aug``); ``mask`` may be absent. Other keys pass through.
    """

    def __init__(self, normalization: Normalization, augment: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.augment = augment

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The transformed batch (a new dict)."""
        out = dict(batch)
        image = self.normalization(batch["image"])
        mask = batch.get("mask")
        if self.augment:
            image, mask = dihedral(image, mask)
        out["image"] = image
        if mask is not None:
            out["mask"] = mask
        return out

    def extra_repr(self) -> str:
        return f"method={self.normalization.method!r}, augment={self.augment}"


__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Normalization",
    "PatchTransform",
    "dihedral",
]
