"""Per-site seeded split, as in the paper: each site 60/20/20, then the sites are mixed."""

from __future__ import annotations

import zlib

import numpy as np

from hrgldd_data.schema import DATASET_SPLITS, SPLIT_CODES


def split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Patches per split for ``n`` patches: floor, then the remainder by largest fraction left."""
    exact = {name: n * fractions[name] for name in DATASET_SPLITS}
    counts = {name: int(np.floor(v)) for name, v in exact.items()}
    leftover = n - sum(counts.values())
    for name in sorted(
        DATASET_SPLITS, key=lambda s: (-(exact[s] - counts[s]), DATASET_SPLITS.index(s))
    )[:leftover]:
        counts[name] += 1
    return counts


def split_site(n: int, fractions: dict[str, float], seed: int, site: str) -> np.ndarray:
    """Split codes of a site's ``n`` patches (build order), reproducible from seed and site id.

    The site id enters the seed so that adding or removing another site never changes this one.
    """
    rng = np.random.default_rng([seed, zlib.crc32(site.encode())])
    counts = split_counts(n, fractions)
    codes = np.concatenate(
        [np.full(counts[name], SPLIT_CODES[name], np.uint8) for name in DATASET_SPLITS]
    )
    return codes[rng.permutation(n)]
