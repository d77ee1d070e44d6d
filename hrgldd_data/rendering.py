"""Pictures of patches for people: which bands to show and how to stretch them.

One rule for every figure and preview the product makes (TorchGeo ``plot``, the leaderboard's
prediction panels, the Parquet view's previews, maps): false colour (NIR, red, green, as in the
paper's figures) when the release has those bands, else true colour (red, green, blue), else the
first band in grey; each shown band stretched between its 2nd and 98th percentiles of valid pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Display choices in order of preference: (label, band names shown as R, G, B).
FALSE_COLOUR: tuple[str, tuple[str, str, str]] = (
    "false colour (NIR, R, G)",
    ("nir", "red", "green"),
)
TRUE_COLOUR: tuple[str, tuple[str, str, str]] = ("true colour (R, G, B)", ("red", "green", "blue"))


def display_bands(bands: Sequence[str], prefer: str = "false") -> tuple[str, list[int]]:
    """A label and the indexes of three bands to show as R, G, B (``prefer``: false or true)."""
    order = [FALSE_COLOUR, TRUE_COLOUR] if prefer == "false" else [TRUE_COLOUR, FALSE_COLOUR]
    for label, names in order:
        if set(names) <= set(bands):
            return label, [list(bands).index(name) for name in names]
    return f"{bands[0]} (grey)", [0, 0, 0]


def stretch(
    image: np.ndarray, band_index: Sequence[int], low: float = 2, high: float = 98
) -> np.ndarray:
    """Bands ``band_index`` of a (C, H, W) image as an (H, W, 3) float picture in [0, 1].

    Each band is stretched between its ``low`` and ``high`` percentiles over finite pixels;
    non-finite pixels (nodata of float releases) are shown black.
    """
    picked = np.moveaxis(np.asarray(image)[list(band_index)], 0, -1).astype(np.float64)
    finite = np.isfinite(picked)
    out = np.zeros_like(picked)
    for c in range(picked.shape[-1]):
        values = picked[..., c][finite[..., c]]
        if values.size == 0:
            continue
        lo, hi = np.percentile(values, (low, high))
        out[..., c] = np.clip((picked[..., c] - lo) / max(hi - lo, 1e-12), 0, 1)
    out[~finite] = 0
    return out


def to_uint8(picture: np.ndarray) -> np.ndarray:
    """A [0, 1] float picture as 8-bit, for PNG previews."""
    return np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)


__all__ = ["FALSE_COLOUR", "TRUE_COLOUR", "display_bands", "stretch", "to_uint8"]
