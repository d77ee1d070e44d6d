"""Generated post-event scenes for the mapping tests: vegetation with planted landslide scars.

The values follow ``factories.synthetic_patches`` (the training patches of ``tiny_release``):
vegetated background bright in NIR, scars bright in R,G,B and dark in NIR, so a model trained on
those patches finds the scars here. Scenes are written with rasterio as real GeoTIFFs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

#: R, G, B, NIR reflectance x 10,000 of vegetation and of a fresh landslide scar.
VEGETATION = np.array([600, 800, 500, 3500])
SCAR = np.array([1800, 1700, 1500, 1900])
#: PlanetScope 4-band file order (B, G, R, NIR) as indexes into R, G, B, NIR.
FILE_ORDER = [2, 1, 0, 3]
UTM = "EPSG:32643"


def utm_transform(size: float = 3.0) -> Affine:
    return Affine(size, 0, 500_000.0, 0, -size, 3_100_000.0)


def geographic_transform() -> Affine:
    """About 3 m pixels at 28 degrees north (Nepal)."""
    return Affine(3.05e-5, 0, 85.3, 0, -2.7e-5, 28.2)


def ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def make_scene(
    path: Path,
    *,
    shape: tuple[int, int] = (300, 420),
    scars: tuple[tuple[float, float, float, float], ...] = ((150, 200, 18, 26),),
    crs: str = UTM,
    transform: Affine | None = None,
    dtype: str = "uint16",
    nodata_edge: int = 0,
    described: bool = True,
    seed: int = 0,
    noise: float = 120.0,
    nodata_as: str = "value",
    superdove: bool = False,
) -> tuple[Path, np.ndarray, np.ndarray]:
    """Write a 4-band scene; return its path, the planted landslide mask and the valid mask.

    ``dtype`` ``uint16`` stores reflectance x 10,000 with nodata 0; ``float32``/``float64``
    store reflectance in 0-1 with nodata NaN. ``nodata_edge`` pixels at the left and top are
    nodata (as at the edge of a PlanetScope strip), marked by a nodata value (``nodata_as``
    ``value``), an alpha band (``alpha``) or an internal mask (``mask``). ``superdove`` writes
    the 8 undescribed bands of a PlanetScope SuperDove product (red in band 6, NIR in band 8).
    """
    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, bool)
    for scar in scars:
        truth |= ellipse(shape, *scar)
    image = np.where(truth, SCAR[:, None, None], VEGETATION[:, None, None]).astype(np.float64)
    image += rng.normal(0, noise, (4, *shape))
    image = np.clip(image, 1, 10000)
    valid = np.ones(shape, bool)
    if nodata_edge:
        valid[:, :nodata_edge] = False
        valid[: nodata_edge // 2, :] = False
    truth &= valid
    data = image[FILE_ORDER]
    if superdove:  # coastal_blue, blue, green_i, green, yellow, red, rededge, nir
        data = image[[2, 2, 1, 1, 0, 0, 3, 3]]
        described = False
    if dtype == "uint16":
        data = data.astype(np.uint16)
        data[:, ~valid] = 0
        nodata = 0
    else:
        data = (data / 10000).astype(dtype)
        data[:, ~valid] = np.nan
        nodata = float("nan")
    if nodata_as != "value":
        nodata = None
    if nodata_as == "alpha":
        alpha = np.where(valid, 255, 0).astype(data.dtype)[None]
        data = np.concatenate([data, alpha])
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=shape[1],
        height=shape[0],
        count=len(data),
        dtype=dtype,
        crs=crs,
        transform=transform or utm_transform(),
        nodata=nodata,
        tiled=True,
        blockxsize=128,
        blockysize=128,
        compress="deflate",
    ) as dst:
        dst.write(data)
        if described:
            dst.descriptions = ("Blue", "Green", "Red", "Near-Infrared", "Alpha")[: len(data)]
        if nodata_as == "mask":
            dst.write_mask(np.where(valid, 255, 0).astype(np.uint8))
    if nodata_as == "alpha":  # GeoTIFF records the alpha band in its extra samples
        with rasterio.open(path, "r+") as dst:
            dst.colorinterp = [*dst.colorinterp[:-1], ColorInterp.alpha]
    return path, truth, valid
