"""Write the builder's dummy data: a 15-patch ``hr_gldd`` 1.0.0 release in ``dummy_data/``.

``python -m hrgldd_data.tfds.hr_gldd.dummy_data_generation`` (re)writes it with the real
:class:`~hrgldd_data.writer.ReleaseWriter`: two dataset sites of five patches (3 train, 1
validation, 1 test each) and one unseen event of five patches. Images are smooth gradients with a
bright elliptic scar where the mask is 1, so the Zarr shards compress to a few kilobytes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from hrgldd_data.schema import PATCH_SIZE, SPLIT_CODES
from hrgldd_data.writer import ReleaseWriter

DUMMY_DATA = Path(__file__).with_name("dummy_data")
SITES = (("alpha_2018", "train"), ("beta_2019", "train"), ("gamma_2021", "unseen"))
PER_SITE = 5


def _patches(site_code: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:PATCH_SIZE, :PATCH_SIZE]
    images = np.empty((PER_SITE, 4, PATCH_SIZE, PATCH_SIZE), np.uint16)
    masks = np.empty((PER_SITE, PATCH_SIZE, PATCH_SIZE), np.uint8)
    for i in range(PER_SITE):
        cy, cx = 30 + 12 * i, 40 + 10 * site_code
        mask = ((yy - cy) / 14) ** 2 + ((xx - cx) / 20) ** 2 <= 1
        base = np.array([600, 800, 500, 3500])[:, None, None] + (yy + xx)[None] * (i + 1)
        scar = np.array([1800, 1700, 1500, 1900])[:, None, None]
        images[i] = np.where(mask, scar, base).astype(np.uint16)
        masks[i] = mask
    return images, masks


def write_dummy_release(root: Path = DUMMY_DATA) -> Path:
    """Write ``root/hr_gldd-1.0.0`` (replacing an older copy); return its path."""
    shutil.rmtree(root / "hr_gldd-1.0.0", ignore_errors=True)
    split, sites, scenes = [], [], []
    with ReleaseWriter(root, "hr_gldd", "1.0.0", shard_patches=8) as writer:
        for code, (site, role) in enumerate(SITES):
            images, masks = _patches(code)
            n = PER_SITE
            writer.append(
                images,
                masks,
                site=np.full(n, code),
                scene=np.full(n, code),
                row=np.arange(n) * PATCH_SIZE,
                col=np.zeros(n, int),
            )
            split += [SPLIT_CODES["unseen"]] * n if role == "unseen" else [0, 0, 0, 1, 2]
            sites.append({"id": site, "role": role, "trigger": "rainfall", "country": "Testland"})
            scenes.append(
                {
                    "site": site,
                    "path": f"{site}/scene.tif",
                    "crs": "EPSG:32643",
                    "transform": [3.0, 0.0, 500000.0 + 10000 * code, 0.0, -3.0, 1000000.0],
                    "width": PATCH_SIZE,
                    "height": PATCH_SIZE * n,
                }
            )
        attrs = {"sites": sites, "scenes": scenes, "synthetic": True, "notes": "Dummy data."}
        return writer.finish(np.array(split), attrs)


if __name__ == "__main__":
    print(write_dummy_release())
