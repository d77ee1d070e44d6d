"""What a map writes: Cloud-Optimized GeoTIFFs, landslide polygons, mosaics, areas.

Rasters are first written block by block to an uncompressed tiled GeoTIFF (a hidden *stage* file
in the output folder), then copied by GDAL's COG driver (tiled 512, DEFLATE level 1 with a
predictor, overviews) to a temporary file that is renamed into place when the whole run succeeds
(:func:`hrgldd_data.fileio.atomic_path`). Both steps stream through GDAL's block cache, so memory
does not grow with the scene.

- probability: float32 in [0, 1], NaN where the scene has no data (overviews: average);
- mask: uint8, 1 = landslide (probability above the threshold), 0 = not, 255 = no data;
- polygons: one feature per 4-connected group of landslide pixels (GDAL polygonize streaming the
  mask), with its area in m2 in a Lambert azimuthal equal-area projection centred on the scene
  (``builders.stats.equal_area_crs``), its mean and maximum probability, pixel count and scene id.
"""

from __future__ import annotations

import functools
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.features import rasterize, shapes
from rasterio.transform import array_bounds
from rasterio.windows import Window, from_bounds

from builders.stats import equal_area_crs
from hrgldd_data.errors import HrglddError
from hrgldd_data.fileio import pid_alive

PROBABILITY_NODATA = float("nan")
MASK_NODATA = 255
LAYER = "landslides"
COG_OPTIONS = {
    "BLOCKSIZE": 512,
    "COMPRESS": "DEFLATE",  # read by every GIS; level 1: 40 % faster than 6, files 1.5 % larger
    "LEVEL": 1,
    "PREDICTOR": "YES",
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "ALL_CPUS",
}


class OutputWriteError(HrglddError, OSError):
    """Writing an output failed (disk full, file size limit, I/O error); the run was abandoned
    and nothing was left as if complete."""


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write of ``path`` into an :class:`OutputWriteError` naming it and the fix.

    GDAL reports a full disk only in its log ("No space left on device", "File too large");
    the exception says "Write failed", so the message gives the free space found now.
    """
    try:
        yield
    except (OSError, RasterioError, CPLE_BaseError) as err:
        if isinstance(err, HrglddError):
            raise
        cause = err.__cause__ or err
        try:
            free = f"{shutil.disk_usage(path.parent).free / 1e9:.2f} GB free in {path.parent}"
        except OSError:
            free = f"{path.parent} unreachable"
        raise OutputWriteError(
            f"{path}: writing the map failed ({cause}); the disk is probably full or a file "
            f"size limit was reached ({free}). Free space or choose another --out; nothing was "
            "left as if complete."
        ) from err


# -- rasters ---------------------------------------------------------------------------------------
class StageWriter:
    """Two block-written GeoTIFFs on a scene's grid: probability and mask (see module docstring)."""

    def __init__(
        self,
        prob_path: Path | None,
        mask_path: Path,
        *,
        crs: CRS,
        transform: Affine,
        width: int,
        height: int,
        block: int,
        threshold: float,
    ) -> None:
        tile = block if block % 16 == 0 and block <= 4096 else 512
        common = {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": 1,
            "crs": crs,
            "transform": transform,
            "tiled": True,
            "blockxsize": tile,
            "blockysize": tile,
            "BIGTIFF": "IF_SAFER",
        }
        self.threshold = threshold
        self.prob = None
        if prob_path is not None:
            with writing(prob_path):
                self.prob = rasterio.open(
                    prob_path, "w", dtype="float32", nodata=PROBABILITY_NODATA, **common
                )
        with writing(mask_path):
            self.mask = rasterio.open(mask_path, "w", dtype="uint8", nodata=MASK_NODATA, **common)

    def write(
        self, r0: int, r1: int, c0: int, c1: int, probability: np.ndarray, valid: np.ndarray
    ) -> None:
        window = Window(c0, r0, c1 - c0, r1 - r0)
        if self.prob is not None:
            with writing(Path(self.prob.name)):
                self.prob.write(probability, 1, window=window)
        mask = (probability > self.threshold).astype(np.uint8)
        mask[~valid] = MASK_NODATA
        with writing(Path(self.mask.name)):
            self.mask.write(mask, 1, window=window)

    def close(self) -> None:
        for dataset in (self.prob, self.mask):
            if dataset is not None and not dataset.closed:
                with writing(Path(dataset.name)):
                    dataset.close()


def to_cog(stage: Path, target: Path, *, categorical: bool) -> None:
    """Copy a stage GeoTIFF to a Cloud-Optimized GeoTIFF at ``target`` (a temporary path)."""
    from rasterio.shutil import copy

    resampling = "NEAREST" if categorical else "AVERAGE"
    target.unlink(missing_ok=True)  # the empty placeholder of atomic_path
    with writing(target):
        copy(stage, target, driver="COG", OVERVIEW_RESAMPLING=resampling, **COG_OPTIONS)


def threshold_raster(prob_path: Path, mask_path: Path, threshold: float, block: int = 1024) -> None:
    """Write the mask of a probability raster (block by block) to a stage GeoTIFF."""
    with rasterio.open(prob_path) as src:
        writer = StageWriter(
            None,
            mask_path,
            crs=src.crs,
            transform=src.transform,
            width=src.width,
            height=src.height,
            block=block,
            threshold=threshold,
        )
        try:
            for r0 in range(0, src.height, block):
                for c0 in range(0, src.width, block):
                    r1, c1 = min(r0 + block, src.height), min(c0 + block, src.width)
                    probability = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
                    writer.write(r0, r1, c0, c1, probability, ~np.isnan(probability))
        finally:
            writer.close()


def mosaic(prob_paths: list[Path], stage: Path) -> None:
    """Mosaic probability rasters onto the first one's CRS and resolution (maximum where they
    overlap: a landslide seen in either scene is kept), written in chunks to ``stage``."""
    from rasterio.merge import merge
    from rasterio.vrt import WarpedVRT

    sources = [rasterio.open(p) for p in prob_paths]
    try:
        first = sources[0]
        views = [
            src
            if src.crs == first.crs
            else WarpedVRT(src, crs=first.crs, resampling=Resampling.bilinear, nodata=np.nan)
            for src in sources
        ]
        with writing(stage):
            merge(
                views,
                res=(abs(first.transform.a), abs(first.transform.e)),
                nodata=np.nan,
                method="max",
                mem_limit=128,
                dst_path=stage,
                dst_kwds={
                    "tiled": True,
                    "blockxsize": 512,
                    "blockysize": 512,
                    "BIGTIFF": "IF_SAFER",
                },
            )
    finally:
        for src in sources:
            src.close()


# -- areas -----------------------------------------------------------------------------------------
def scene_equal_area(crs: CRS, transform: Affine, width: int, height: int) -> pyproj.CRS:
    """The equal-area CRS of a grid's extent (``builders.stats.equal_area_crs``)."""
    extent = shapely.box(*array_bounds(height, width, transform))
    return equal_area_crs(gpd.GeoDataFrame(geometry=[extent], crs=crs))


def row_pixel_areas(crs: CRS, transform: Affine, width: int, height: int) -> np.ndarray:
    """Area in m2 of one pixel of each row (at the grid's central column), equal-area.

    Read-only and computed once per grid: a map asks for the same grid's areas several times
    (area mapped, landslide areas, warnings), and each computation builds a PROJ transformer.
    """
    return _row_pixel_areas(crs.to_wkt(), tuple(transform), int(width), int(height))


@functools.lru_cache(maxsize=16)
def _row_pixel_areas(wkt: str, affine: tuple[float, ...], width: int, height: int) -> np.ndarray:
    crs, transform = CRS.from_wkt(wkt), Affine(*affine[:6])
    ea = scene_equal_area(crs, transform, width, height)
    to_ea = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs), ea, always_xy=True)
    rows = np.arange(height, dtype=np.float64)
    col = width / 2.0
    corners = [(col, rows), (col + 1, rows), (col + 1, rows + 1), (col, rows + 1)]
    xs, ys = [], []
    t = transform
    for c, r in corners:
        x, y = t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f
        ex, ey = to_ea.transform(np.broadcast_to(x, r.shape), y)
        xs.append(np.asarray(ex))
        ys.append(np.asarray(ey))
    area = 0.0
    for i in range(4):
        j = (i + 1) % 4
        area = area + xs[i] * ys[j] - xs[j] * ys[i]
    areas = np.abs(area) / 2.0
    areas.flags.writeable = False
    return areas


# -- polygons --------------------------------------------------------------------------------------
COLUMNS = ["id", "scene", "area_m2", "mean_prob", "max_prob", "pixels"]


def polygonize(
    mask_path: Path,
    prob_path: Path,
    *,
    scene: str | list[tuple[str, shapely.Geometry]],
    min_area_m2: float = 0.0,
    simplify_m: float = 0.0,
) -> gpd.GeoDataFrame:
    """One polygon per landslide of a mask raster, with area and probability statistics.

    ``scene``: the scene id of every polygon, or (id, extent) pairs for a mosaic (a polygon
    gets the ids of the scenes it touches). ``simplify_m``: Douglas-Peucker tolerance in metres
    (topology kept). ``min_area_m2``: smaller polygons are left out (the mask keeps them).
    """
    with rasterio.open(mask_path) as mds:
        crs, transform = mds.crs, mds.transform
        band = rasterio.band(mds, 1)
        geoms = [
            shapely.geometry.shape(geom)
            for geom, value in shapes(band, mask=band, connectivity=4, transform=transform)
            if value == 1
        ]
        width, height = mds.width, mds.height
    if not geoms:
        return gpd.GeoDataFrame({c: [] for c in COLUMNS}, geometry=[], crs=crs)
    ea = scene_equal_area(crs, transform, width, height)
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=crs)
    if simplify_m > 0:
        pixel_m = float(np.sqrt(np.median(row_pixel_areas(crs, transform, width, height))))
        tolerance = simplify_m / pixel_m * abs(transform.a)
        gdf["geometry"] = gdf.geometry.simplify(tolerance, preserve_topology=True)
    gdf["area_m2"] = gdf.to_crs(ea).area.round(2)
    if min_area_m2 > 0:
        gdf = gdf[gdf["area_m2"] >= min_area_m2].reset_index(drop=True)
    stats = _zonal(prob_path, list(gdf.geometry)) if len(gdf) else np.empty((0, 3))
    gdf["mean_prob"] = np.round(stats[:, 0], 4)
    gdf["max_prob"] = np.round(stats[:, 1], 4)
    gdf["pixels"] = stats[:, 2].astype(np.int64)
    if isinstance(scene, str):
        gdf["scene"] = scene
    else:
        gdf["scene"] = [
            ",".join(name for name, extent in scene if geom.intersects(extent))
            for geom in gdf.geometry
        ]
    gdf["id"] = np.arange(1, len(gdf) + 1)
    return gdf[[*COLUMNS, "geometry"]]


def _zonal(prob_path: Path, geoms: list[shapely.Geometry]) -> np.ndarray:
    """(mean, max, pixel count) of the probability inside each polygon (one small read each)."""
    out = np.zeros((len(geoms), 3))
    with rasterio.open(prob_path) as src:
        for i, geom in enumerate(geoms):
            window = (
                from_bounds(*geom.bounds, transform=src.transform)
                .round_offsets()
                .round_lengths()
                .intersection(Window(0, 0, src.width, src.height))
            )
            values = src.read(1, window=window)
            inside = rasterize(
                [(geom, 1)],
                out_shape=values.shape,
                transform=src.window_transform(window),
                fill=0,
                dtype="uint8",
            ).astype(bool)
            inside &= ~np.isnan(values)
            if inside.any():
                picked = values[inside]
                out[i] = (picked.mean(), picked.max(), picked.size)
    return out


def write_polygons(gdf: gpd.GeoDataFrame, target: Path) -> None:
    """Write polygons as a GeoPackage layer ``landslides`` at ``target`` (a temporary path)."""
    kwargs: dict[str, Any] = {"driver": "GPKG", "layer": LAYER, "engine": "pyogrio"}
    if len(gdf) == 0:
        kwargs["geometry_type"] = "Polygon"
    target.unlink(missing_ok=True)  # the empty placeholder of atomic_path
    with writing(target), warnings.catch_warnings():  # .tmp until it is renamed
        warnings.filterwarnings("ignore", "The filename extension should be", RuntimeWarning)
        gdf.to_file(target, **kwargs)


def readable(path: Path) -> None:
    """Make a finished temporary file readable by all, as a file written directly would be
    (temporary files are created private)."""
    os.chmod(path, 0o644)


def remove_stale_stages(folder: Path) -> None:
    """Delete stage files that killed runs left in an output folder (their process is gone)."""
    for stale in folder.glob(".*.stage-*.tif"):
        pid = stale.name.rsplit(".stage-", 1)[-1].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
            continue
        stale.unlink(missing_ok=True)


__all__ = [
    "COLUMNS",
    "LAYER",
    "MASK_NODATA",
    "OutputWriteError",
    "StageWriter",
    "mosaic",
    "polygonize",
    "readable",
    "remove_stale_stages",
    "row_pixel_areas",
    "scene_equal_area",
    "threshold_raster",
    "to_cog",
    "write_polygons",
    "writing",
]
