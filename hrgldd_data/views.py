"""The named splits every loader serves, in one place, so that TFDS, the Parquet view (Hugging Face
``datasets``) and the dataset card name the same patches the same way.

``train``, ``validation`` and ``test`` are the release's own splits of the dataset sites (``test``
is collection 1, the mixed test set); ``test_<site>`` is the test split of one dataset site
(collection 2) and ``unseen_<site>`` every patch of one held-out event (collection 3). Splits with
no patch are left out. A legacy import has ``train``, ``validation`` and ``test`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hrgldd_data.archive import Release

#: Loader split name of each stored split code name (``val`` is ``validation`` in TFDS and 🤗).
PLAIN_SPLITS: dict[str, str] = {"train": "train", "validation": "val", "test": "test"}


@dataclass(frozen=True)
class NamedSplit:
    """One split as loaders serve it.

    Attributes:
        name: ``train``, ``validation``, ``test``, ``test_<site>`` or ``unseen_<site>``.
        indices: patch indices in the release, ascending.
        collection: 1, 2 or 3 for a scored test set (the paper's Table 2), else None.
        test_set: the test set key (``c1/test``, ``c2/<site>``, ``c3/<site>``), else None.
    """

    name: str
    indices: np.ndarray
    collection: int | None = None
    test_set: str | None = None

    def __len__(self) -> int:
        return int(self.indices.size)


def named_splits(release: Release) -> list[NamedSplit]:
    """The non-empty named splits of a release, in the order loaders list them."""
    splits = [
        NamedSplit(
            name,
            release.indices(stored),
            1 if name == "test" else None,
            "c1/test" if name == "test" else None,
        )
        for name, stored in PLAIN_SPLITS.items()
    ]
    for test_set in release.test_sets((2, 3)):
        prefix = "test" if test_set.collection == 2 else "unseen"
        splits.append(
            NamedSplit(
                f"{prefix}_{test_set.name}", test_set.indices, test_set.collection, test_set.key
            )
        )
    return [split for split in splits if len(split)]


__all__ = ["PLAIN_SPLITS", "NamedSplit", "named_splits"]
