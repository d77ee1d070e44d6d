"""Writers of tiny GeoTIFF scenes and inventories for the builder tests."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

ORIGIN = (500_000.0, 1_400_000.0)


def write_scene(
    path: Path,
    *,
    crs: str | None = "EPSG:32643",
    count: int = 4,
    size: int = 256,
    origin: tuple[float, float] = ORIGIN,
    nodata: int | None = 0,
    fill: int | None = None,
    dtype: str = "uint16",
    seed: int = 0,
) -> Path:
    """A north-up scene of ``size`` px at 3 m; bands hold distinct values (mapping is checkable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = np.stack(
        [rng.integers(100 * (b + 1), 100 * (b + 1) + 50, (size, size)) for b in range(count)]
    ).astype(dtype)
    if fill is not None:
        data[:] = fill
    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "count": count,
        "dtype": dtype,
        "transform": Affine(3.0, 0, origin[0], 0, -3.0, origin[1]),
        "nodata": nodata,
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def square(x: float, y: float, side: float = 60.0) -> shapely.Polygon:
    return shapely.box(x, y, x + side, y + side)


def default_polygons(origin: tuple[float, float] = ORIGIN) -> list[shapely.Geometry]:
    """Four landslides, one per 128-px window of a 256-px scene."""
    x0, y0 = origin
    return [square(x0 + 100 + dx, y0 - 300 - dy) for dx in (0, 384) for dy in (0, 384)]


def write_inventory(path: Path, geoms: list, crs: str | None = "EPSG:32643") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame({"id": list(range(len(geoms)))}, geometry=geoms, crs=crs).to_file(
        path, engine="pyogrio"
    )
    return path
