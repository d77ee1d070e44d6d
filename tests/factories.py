"""Small synthetic releases for tests, written with the real :class:`ReleaseWriter`.

Patches follow the paper's contrast so that a model can learn something: vegetated background
(high NIR), landslide scars bright in R,G,B and dark in NIR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrgldd_data.schema import PATCH_SIZE, SPLIT_CODES, UNKNOWN_SITE
from hrgldd_data.writer import ReleaseWriter

DEFAULT_SITES = (
    ("alpha_2018", "train", "rainfall"),
    ("beta_2019", "train", "earthquake"),
    ("gamma_2021", "unseen", "earthquake"),
)


def synthetic_patches(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patches (n, 4, 128, 128) uint16 with an elliptic scar each, and their masks."""
    yy, xx = np.mgrid[:PATCH_SIZE, :PATCH_SIZE]
    images = np.empty((n, 4, PATCH_SIZE, PATCH_SIZE), np.uint16)
    masks = np.empty((n, PATCH_SIZE, PATCH_SIZE), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(20, PATCH_SIZE - 20, 2)
        ry, rx = rng.integers(6, 24, 2)
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        veg = np.array([600, 800, 500, 3500])[:, None, None]
        scar = np.array([1800, 1700, 1500, 1900])[:, None, None]
        noise = rng.normal(0, 120, (4, PATCH_SIZE, PATCH_SIZE))
        images[i] = np.clip(np.where(mask, scar, veg) + noise, 1, 65535).astype(np.uint16)
        masks[i] = mask
    return images, masks


def make_release(
    root: Path,
    *,
    name: str = "hr_gldd",
    version: str = "1.0.0",
    sites: tuple[tuple[str, str, str], ...] = DEFAULT_SITES,
    per_site: int = 10,
    seed: int = 0,
) -> Path:
    """Write a release with ``per_site`` patches per site: dataset sites split 6/2/2 of 10."""
    rng = np.random.default_rng(seed)
    split = []
    site_meta = []
    scenes = []
    with ReleaseWriter(root, name, version, shard_patches=8) as writer:
        for code, (site, role, trigger) in enumerate(sites):
            images, masks = synthetic_patches(per_site, rng)
            rows = (np.arange(per_site) // 4) * PATCH_SIZE
            cols = (np.arange(per_site) % 4) * PATCH_SIZE
            writer.append(
                images,
                masks,
                site=np.full(per_site, code),
                scene=np.full(per_site, code),
                row=rows,
                col=cols,
            )
            if role == "unseen":
                split += [SPLIT_CODES["unseen"]] * per_site
            else:
                n_train, n_val = round(0.6 * per_site), round(0.2 * per_site)
                split += [0] * n_train + [1] * n_val + [2] * (per_site - n_train - n_val)
            crs = "EPSG:32643"
            site_meta.append(
                {
                    "id": site,
                    "role": role,
                    "trigger": trigger,
                    "crs": crs,
                    "country": "Testland",
                    "year": 2020,
                }
            )
            scenes.append(
                {
                    "site": site,
                    "path": f"{site}/scene.tif",
                    "crs": crs,
                    "transform": [3.0, 0.0, 500000.0 + 10000 * code, 0.0, -3.0, 1000000.0],
                    "width": 512,
                    "height": 512,
                }
            )
        return writer.finish(
            np.array(split),
            {"sites": site_meta, "scenes": scenes, "synthetic": True, "split_seed": seed},
        )


def make_legacy_release(
    root: Path, *, version: str = "0.9.0", counts=(6, 2, 2), seed: int = 1
) -> Path:
    """A release shaped like an import of the Zenodo arrays: site ``unknown``, no coordinates."""
    rng = np.random.default_rng(seed)
    n = sum(counts)
    images, masks = synthetic_patches(n, rng)
    with ReleaseWriter(root, "hr_gldd", version, shard_patches=8) as writer:
        minus = np.full(n, -1)
        writer.append(images, masks, site=np.zeros(n), scene=minus, row=minus, col=minus)
        split = np.repeat([0, 1, 2], counts)
        return writer.finish(
            split, {"sites": [{"id": UNKNOWN_SITE, "role": "train"}], "scenes": [], "legacy": True}
        )
