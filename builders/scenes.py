"""Post-event scenes: open them, map their bands to R,G,B,NIR, and put a site on one grid.

PlanetScope products come as 4-band analytic (B,G,R,NIR) or 8-band SuperDove files, 16-bit surface
reflectance, with nodata at the edges. Scenes of one site in different CRSs are warped on the
fly (rasterio's ``WarpedVRT``, nearest neighbour so reflectance values stay as delivered) to the
site CRS: the event's ``imagery.crs``, or the CRS of its first scene.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform

from builders.bands import map_bands
from hrgldd_data.errors import InputError
from hrgldd_data.schema import BANDS

log = logging.getLogger(__name__)

_DTYPES = ("uint16", "int16", "uint8")


@dataclass(frozen=True)
class Scene:
    """A scene file read on the site grid, with its bands mapped to R,G,B,NIR (1-based)."""

    path: Path
    crs: CRS
    transform: Affine
    width: int
    height: int
    indexes: tuple[int, int, int, int]
    warped_from: str | None = None

    def metadata(self, site: str, raw_root: Path) -> dict[str, Any]:
        """What a release stores about the scene: enough to georeference every patch."""
        try:
            rel = self.path.relative_to(raw_root).as_posix()
        except ValueError:
            rel = self.path.name
        return {
            "site": site,
            "path": rel,
            "crs": self.crs.to_wkt(),
            "epsg": self.crs.to_epsg(),
            "transform": list(self.transform)[:6],
            "width": self.width,
            "height": self.height,
            "bands_used": list(self.indexes),
            "warped_from": self.warped_from,
        }

    @contextmanager
    def open(self) -> Iterator[rasterio.io.DatasetReaderBase]:
        """The scene as a dataset on the site grid (a WarpedVRT when it was reprojected)."""
        with rasterio.open(self.path) as src:
            if self.warped_from is None:
                yield src
            else:
                with WarpedVRT(
                    src,
                    crs=self.crs,
                    transform=self.transform,
                    width=self.width,
                    height=self.height,
                    resampling=Resampling.nearest,
                ) as vrt:
                    yield vrt


def band_indexes(
    src: rasterio.io.DatasetReaderBase,
    bands: str | dict[str, int],
    path: Path,
    event_file: Path | None,
) -> tuple[int, ...]:
    """1-based indexes of R,G,B,NIR in ``src`` (the rule of :func:`builders.bands.map_bands`)."""
    spec = f"imagery.bands in {event_file}" if event_file else "imagery.bands"
    return map_bands(src.descriptions, BANDS, bands, source=str(path), spec=spec)


def expand_scenes(
    patterns: tuple[str, ...], raw_root: Path, event_file: Path | None = None
) -> list[Path]:
    """Scene files matched by the event's paths or globs below ``raw_root`` (sorted, each once)."""
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(Path(p) for p in glob.glob(str(raw_root / pattern)))
        if not matches:
            raise InputError(
                f"{raw_root / pattern}: no scene matches this path (from {event_file or 'the event'}); check --raw-root"
            )
        found += [m for m in matches if m not in found]
    return found


def open_scenes(
    paths: list[Path],
    bands: str | dict[str, int],
    *,
    crs: str | None = None,
    event_file: Path | None = None,
) -> list[Scene]:
    """Validate scenes and place them on one site CRS (warping those in another CRS)."""
    scenes: list[Scene] = []
    site_crs = CRS.from_user_input(crs) if crs else None
    for path in paths:
        try:
            src_ctx = rasterio.open(path)
        except RasterioIOError as err:
            raise InputError(f"{path}: cannot be read as a raster ({err})") from err
        with src_ctx as src:
            if src.crs is None:
                raise InputError(
                    f"{path}: scene has no CRS; assign one (e.g. `gdal_edit.py -a_srs EPSG:32643 {path.name}`)"
                )
            if src.dtypes[0] not in _DTYPES:
                raise InputError(
                    f"{path}: bands are {src.dtypes[0]}; expected 16-bit surface reflectance (uint16)"
                )
            if src.transform.b != 0 or src.transform.d != 0:
                raise InputError(
                    f"{path}: rotated geotransform is not supported; warp it north-up first (gdalwarp)"
                )
            indexes = band_indexes(src, bands, path, event_file)
            site_crs = site_crs or src.crs
            if src.crs == site_crs:
                scenes.append(Scene(path, src.crs, src.transform, src.width, src.height, indexes))
                continue
            transform, width, height = calculate_default_transform(
                src.crs, site_crs, src.width, src.height, *src.bounds, resolution=None
            )
            log.warning(
                "%s: CRS %s differs from the site CRS %s; warping it (nearest neighbour)",
                path,
                src.crs.to_string(),
                site_crs.to_string(),
            )
            scenes.append(
                Scene(
                    path, site_crs, transform, width, height, indexes, warped_from=src.crs.to_wkt()
                )
            )
    return scenes
