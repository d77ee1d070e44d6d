"""Fixed vocabulary of a release: HR-GLDD's bands, splits, roles, collections, stored dtypes.

Everything that reads or writes a release uses these names, so they live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Band order of HR-GLDD images, as in the Zenodo arrays (``[..., :3]`` is RGB). Other releases
#: record their own band list (``Release.bands``, ``Release.sensor``).
BANDS: tuple[str, ...] = ("red", "green", "blue", "nir")
RGB_BANDS: tuple[str, ...] = ("red", "green", "blue")
#: False colour as in the paper's figures: NIR shown as red, red as green, green as blue.
FALSE_COLOUR_BANDS: tuple[str, ...] = ("nir", "red", "green")
PATCH_SIZE = 128
#: Stored value where a PlanetScope scene had no data (uint16 releases built from scenes).
NODATA = 0
#: dtypes a release may store images in: 8-bit renderings, 16-bit reflectance, float measurements.
DTYPES: tuple[str, ...] = ("uint8", "uint16", "float32")

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
#: 1: uint16 R,G,B,NIR PlanetScope only. 2: the release records ``sensor``, ``bands``,
#: ``band_info``, ``dtype`` and ``nodata``, and its train statistics carry percentiles.
FORMAT_VERSION = 2

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")

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


def parse_version(version: str) -> tuple[int, int, int]:
    """Parse a semantic version ``X.Y.Z`` (an optional leading ``v`` is accepted)."""
    match = _VERSION_RE.match(version.removeprefix("v"))
    if not match:
        raise ValueError(f"version {version!r} is not a semantic version X.Y.Z (e.g. 1.0.0)")
    return tuple(int(part) for part in match.groups())  # type: ignore[return-value]


def release_dirname(name: str, version: str) -> str:
    """Directory name of a release: ``<name>-<version>``."""
    if not _NAME_RE.match(name):
        raise ValueError(f"release name {name!r} must be lower-case letters, digits and '_'")
    parse_version(version)
    return f"{name}-{version.removeprefix('v')}"
