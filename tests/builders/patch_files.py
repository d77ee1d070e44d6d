"""Writers of small patch folders in the layouts researchers share (PNG, GeoTIFF, HDF5, .npy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from PIL import Image

#: A Mars equirectangular CRS without an EPSG code, as MMLSv2 delivers it.
MARS_WKT = (
    'PROJCS["SimpleCylindrical_Mars",GEOGCS["GCS_Mars",DATUM["D_Mars",SPHEROID["Mars",3396190,0]],'
    'PRIMEM["Reference_Meridian",0],UNIT["degree",0.0174532925199433]],'
    'PROJECTION["Equirectangular"],PARAMETER["standard_parallel_1",0],'
    'PARAMETER["central_meridian",0],PARAMETER["false_easting",0],'
    'PARAMETER["false_northing",0],UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
)


def blob_mask(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A 0/1 mask with one rectangle of landslide."""
    mask = np.zeros((size, size), np.uint8)
    y, x = rng.integers(0, size - 30, 2)
    mask[y : y + 20, x : x + 25] = 1
    return mask


def write_png_pairs(
    folder: Path, keys: list[int], *, seed: int = 0, mode: str = "RGBA", size: int = 128
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``images/image_<k>.png`` (RGB(A) uint8) and ``masks/mask_<k>.png`` (0/255, RGBA)."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    written = {}
    for key in keys:
        rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        mask = blob_mask(rng, size)
        pixels = np.dstack([rgb, np.full((size, size), 255, np.uint8)]) if mode == "RGBA" else rgb
        Image.fromarray(pixels, mode).save(folder / "images" / f"image_{key}.png")
        grey = mask * 255
        Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)]), "RGBA").save(
            folder / "masks" / f"mask_{key}.png"
        )
        written[key] = (rgb.transpose(2, 0, 1), mask)
    return written


def write_geotiff_pairs(
    folder: Path,
    names: list[str],
    *,
    crs: str = MARS_WKT,
    bands: int = 3,
    resolution: float = 232.0,
    fill: dict[str, tuple[int, float]] | None = None,
    seed: int = 0,
    dtype: str = "float32",
) -> dict[str, tuple[np.ndarray, np.ndarray, Affine]]:
    """``images/<name>.tif`` (float, no nodata tag) and ``masks/<name>.tif`` (uint8, nodata 0).

    ``fill`` puts a value (e.g. -3.4e38) into one band (0-based) of a named patch, as MMLSv2 does.
    """
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    written = {}
    for n, name in enumerate(names):
        transform = Affine(
            resolution, 0, -5_500_000 + n * 128 * resolution, 0, -resolution, -250_000
        )
        data = rng.normal(100, 20, (bands, 128, 128)).astype(dtype)
        if fill and name in fill:
            band, value = fill[name]
            data[band, :4, :] = value
        mask = blob_mask(rng)
        profile = {
            "driver": "GTiff",
            "width": 128,
            "height": 128,
            "crs": crs,
            "transform": transform,
        }
        with rasterio.open(
            folder / "images" / f"{name}.tif", "w", count=bands, dtype=dtype, **profile
        ) as dst:
            dst.write(data)
        with rasterio.open(
            folder / "masks" / f"{name}.tif", "w", count=1, dtype="uint8", nodata=0, **profile
        ) as dst:
            dst.write(mask[None])
        written[name] = (data, mask, transform)
    return written


def write_h5_pairs(
    folder: Path, keys: list[int], *, bands: int = 14, seed: int = 0
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Landslide4Sense layout: ``img/image_<k>.h5`` (key ``img``, 128x128xB float64) and
    ``mask/mask_<k>.h5`` (key ``mask``, uint8 0/1)."""
    import h5py

    rng = np.random.default_rng(seed)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    (folder / "mask").mkdir(parents=True, exist_ok=True)
    written = {}
    for key in keys:
        image = rng.random((128, 128, bands))
        mask = blob_mask(rng)
        with h5py.File(folder / "img" / f"image_{key}.h5", "w") as handle:
            handle["img"] = image
        with h5py.File(folder / "mask" / f"mask_{key}.h5", "w") as handle:
            handle["mask"] = mask
        written[key] = (image, mask)
    return written


def write_npy_pairs(
    folder: Path, keys: list[int], *, bands: int = 4, seed: int = 0
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Flat folder: ``image_<k>.npy`` (bands first, uint16) beside ``mask_<k>.npy``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for key in keys:
        image = rng.integers(1, 10_000, (bands, 128, 128)).astype(np.uint16)
        mask = blob_mask(rng)
        np.save(folder / f"image_{key}.npy", image)
        np.save(folder / f"mask_{key}.npy", mask)
        written[key] = (image, mask)
    return written


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path (to compare two releases byte for byte)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
