"""Fixed vocabulary of an HR-GLDD release: bands, splits, roles, collections.

Everything that reads or writes a release uses these names, so they live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Band order of every stored image, as in the Zenodo arrays (``[..., :3]`` is RGB).
BANDS: tuple[str, ...] = ("red", "green", "blue", "nir")
RGB_BANDS: tuple[str, ...] = ("red", "green", "blue")
#: False colour as in the paper's figures: NIR shown as red, red as green, green as blue.
FALSE_COLOUR_BANDS: tuple[str, ...] = ("nir", "red", "green")
PATCH_SIZE = 128
#: Stored value where a scene had no data.
NODATA = 0

#: Split codes stored per patch (index = code). Patches of unseen events get ``unseen``.
SPLITS: tuple[str, ...] = ("train", "val", "test", "unseen")
DATASET_SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_CODES: dict[str, int] = {name: code for code, name in enumerate(SPLITS)}

#: Role of an event: part of the dataset (split 60/20/20) or held out as an unseen event.
ROLES: tuple[str, ...] = ("train", "unseen")
TRIGGERS: tuple[str, ...] = ("rainfall", "earthquake")

#: Site of patches imported from the published arrays, which carry no site or coordinates.
UNKNOWN_SITE = "unknown"

#: Bumped when the on-disk layout changes in a way readers must know about.
FORMAT_VERSION = 1

#: Collections of the paper's Table 2.
COLLECTIONS: dict[int, str] = {
    1: "mixed test split of all dataset sites",
    2: "test split of each dataset site",
    3: "every patch of each unseen event",
}


@dataclass(frozen=True)
class TestSet:
    """One scored test set: collection 1 (``name='test'``), 2 or 3 (``name`` = site id)."""

    collection: int
    name: str
    indices: np.ndarray

    @property
    def key(self) -> str:
        """Stable label, e.g. ``c1/test`` or ``c2/kodagu_2018``."""
        return f"c{self.collection}/{self.name}"

    def __len__(self) -> int:
        return int(self.indices.size)
