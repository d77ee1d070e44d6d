"""Post-event scenes: open them, map their bands to the release's, and put a site on one grid.

PlanetScope products come as 4-band analytic (B,G,R,NIR) or 8-band SuperDove files, 16-bit surface
reflectance, with nodata at the edges; other sensors (a UAV's RGB + DSM) say what their bands are
in their band descriptions. Bands are found by :func:`builders.bands.map_bands`, the product's one
rule: never a silent guess.

What a scene's values mean is checked before any pixel is cut: unsigned integers are stored as
they are; signed integers only with an explicit ``imagery.scale`` (or in a float32 release); float
reflectance in a uint16 release needs ``imagery.scale`` or a clear reading of its range (0–1 is
scaled by 10 000, 0–10 000 stored as is), else it is refused with the fix.

Scenes of one site in different CRSs are warped on the fly (rasterio's ``WarpedVRT``, nearest
neighbour so values stay as delivered) to the site CRS: the event's ``imagery.crs``, or the CRS of
its first scene.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform

from builders.bands import map_bands
from hrgldd_data.errors import InputError
from hrgldd_data.schema import BANDS

log = logging.getLogger(__name__)

#: Scene dtypes stored as they are in an integer release.
_UNSIGNED = ("uint8", "uint16")
#: Range (0.1th–99.9th percentile of valid values) of float reflectance read as 0–1 ...
_UNIT_RANGE = (-0.5, 1.5)
#: ... or as 0–10 000 (stored as is).
_SCALED_RANGE = (-1000.0, 65535.0)
_SCALED_MIN_HIGH = 100.0
#: Float values this large are fill values (GDAL's -3.4e38 float minimum and kin), never data.
FILL_MAGNITUDE = 1e30


@dataclass(frozen=True)
class Scene:
    """A scene file read on the site grid, with its wanted bands' 1-based indexes."""

    path: Path
    crs: CRS
    transform: Affine
    width: int
    height: int
    indexes: tuple[int, ...]
    warped_from: str | None = None
    scale: float | None = None

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
            "scale": self.scale,
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
    wanted: Sequence[str] = BANDS,
) -> tuple[int, ...]:
    """1-based indexes of the ``wanted`` bands in ``src`` (:func:`builders.bands.map_bands`)."""
    spec = f"imagery.bands in {event_file}" if event_file else "imagery.bands"
    return map_bands(src.descriptions, wanted, bands, source=str(path), spec=spec)


def outside_root(pattern: str, raw_root: Path) -> str | None:
    """Why ``pattern`` (a path or glob below ``--raw-root``) leaves it, or None when it stays."""
    archive = pattern.partition("!")[0]  # an inventory may be archive.zip!member.shp
    if Path(archive).is_absolute():
        return "it is absolute"
    if os.path.normpath(archive).split(os.sep)[0] == "..":
        return "it climbs out with '..'"
    return None


def check_inside_root(
    pattern: str, raw_root: Path, event_file: Path | None, key: str, allowed: bool
) -> None:
    """Refuse a path that leaves ``--raw-root``, unless the event file opted in."""
    why = outside_root(pattern, raw_root)
    if why and not allowed:
        raise InputError(
            f"{event_file or 'the event'}: {key} {pattern!r} leaves --raw-root {raw_root} ({why}); "
            "put the data below --raw-root and give the path relative to it, or set "
            "allow_outside_raw_root = true in the event file to opt in"
        )


def expand_scenes(
    patterns: tuple[str, ...],
    raw_root: Path,
    event_file: Path | None = None,
    *,
    allow_outside: bool = False,
) -> list[Path]:
    """Scene files matched by the event's paths or globs below ``raw_root`` (sorted, each once)."""
    found: list[Path] = []
    for pattern in patterns:
        check_inside_root(pattern, raw_root, event_file, "scene path", allow_outside)
        matches = sorted(Path(p) for p in glob.glob(str(raw_root / pattern)))
        if not matches:
            raise InputError(
                f"{raw_root / pattern}: no scene matches this path (from "
                f"{event_file or 'the event'}); check --raw-root"
            )
        for match in matches:
            if not match.is_file():
                raise InputError(
                    f"{match}: not a regular file (a folder, FIFO or device), matched by "
                    f"{pattern!r} in {event_file or 'the event'}; scenes must be raster files: "
                    "remove it or narrow the pattern"
                )
        found += [m for m in matches if m not in found]
    return found


def _value_scale(
    src: rasterio.io.DatasetReaderBase,
    indexes: tuple[int, ...],
    path: Path,
    event_file: Path | None,
    dtype: str,
    scale: float | None,
) -> float | None:
    """How the scene's values become the release's: None (as they are) or a factor."""
    where = event_file or "the event file"
    source = src.dtypes[indexes[0] - 1] if indexes else src.dtypes[0]
    if dtype == "float32":
        return scale
    if source in _UNSIGNED and (dtype == "uint16" or source == "uint8"):
        return scale
    if scale is not None:
        return scale  # the user said how to read them
    kind = np.dtype(source).kind
    if kind in "iu":
        raise InputError(
            f"{path}: bands are {source}"
            + (" (signed: negative values cannot be stored)" if kind == "i" else "")
            + f" and the release stores {dtype}; if the values are non-negative reflectance "
            f'set imagery.scale = 1 in {where}, or declare dtype = "float32" in the release\'s '
            "[sensor] table"
        )
    return _detect_float_scale(src, indexes, path, where)


def _detect_float_scale(
    src: rasterio.io.DatasetReaderBase, indexes: tuple[int, ...], path: Path, where: Any
) -> float:
    """10 000 for 0–1 float reflectance, 1 for 0–10 000; anything unclear is refused."""
    side = 512
    out_shape = (len(indexes), min(side, src.height), min(side, src.width))
    try:
        sample = src.read(indexes, out_shape=out_shape, masked=True).astype(np.float64)
    except RasterioError as err:
        raise _unreadable(path, err) from err
    values = sample.compressed()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0  # no valid pixel: the build refuses the scene with that message later
    low, high = np.percentile(values, [0.1, 99.9])
    if _UNIT_RANGE[0] <= low and high <= _UNIT_RANGE[1]:
        log.warning(
            "%s: float values %.3g..%.3g read as 0–1 reflectance (x 10 000)", path, low, high
        )
        return 10000.0
    if _SCALED_RANGE[0] <= low and _SCALED_MIN_HIGH <= high <= _SCALED_RANGE[1]:
        log.warning("%s: float values %.3g..%.3g read as 0–10 000 reflectance", path, low, high)
        return 1.0
    raise InputError(
        f"{path}: float values {low:.4g}..{high:.4g} are neither 0–1 nor 0–10 000 reflectance; "
        f"set imagery.scale in {where} (10000 for 0–1 reflectance, 1 for 0–10 000), or "
        'declare dtype = "float32" in the release\'s [sensor] table to store them as they are'
    )


def _unreadable(path: Path, err: Exception) -> InputError:
    return InputError(
        f"{path}: cannot read its pixels ({err}); the file is truncated or damaged: re-download "
        "or re-export it"
    )


def open_scenes(
    paths: list[Path],
    bands: str | dict[str, int],
    *,
    wanted: Sequence[str] | None = BANDS,
    dtype: str | None = "uint16",
    scale: float | None = None,
    crs: str | None = None,
    event_file: Path | None = None,
) -> list[Scene]:
    """Validate scenes and place them on one site CRS (warping those in another CRS).

    Args:
        wanted: the release's band names (None: every band, for footprints only).
        dtype: the release's dtype, to check that the values can be stored (None: no check).
        scale: the event's ``imagery.scale``.
    """
    scenes: list[Scene] = []
    site_crs = CRS.from_user_input(crs) if crs else None
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: not a regular file (a folder, FIFO or device)")
        try:
            src_ctx = rasterio.open(path)
        except RasterioError as err:
            raise InputError(f"{path}: cannot be read as a raster ({err})") from err
        with src_ctx as src:
            try:
                scene_crs = src.crs
            except CRSError as err:
                raise InputError(
                    f"{path}: its CRS is not one PROJ knows ({err}); assign a known one (e.g. "
                    f"`gdal_edit.py -a_srs EPSG:32643 {path.name}`)"
                ) from err
            if scene_crs is None:
                raise InputError(
                    f"{path}: scene has no CRS; assign one "
                    f"(e.g. `gdal_edit.py -a_srs EPSG:32643 {path.name}`)"
                )
            if src.transform.b != 0 or src.transform.d != 0:
                raise InputError(
                    f"{path}: rotated geotransform is not supported; warp it north-up first "
                    "(gdalwarp)"
                )
            if wanted is None:
                indexes = tuple(range(1, src.count + 1))
            else:
                indexes = band_indexes(src, bands, path, event_file, wanted)
            value_scale = (
                _value_scale(src, indexes, path, event_file, dtype, scale) if dtype else None
            )
            site_crs = site_crs or scene_crs
            if scene_crs == site_crs:
                scenes.append(
                    Scene(
                        path,
                        scene_crs,
                        src.transform,
                        src.width,
                        src.height,
                        indexes,
                        scale=value_scale,
                    )
                )
                continue
            transform, width, height = calculate_default_transform(
                scene_crs, site_crs, src.width, src.height, *src.bounds, resolution=None
            )
            log.warning(
                "%s: CRS %s differs from the site CRS %s; warping it (nearest neighbour)",
                path,
                scene_crs.to_string(),
                site_crs.to_string(),
            )
            scenes.append(
                Scene(
                    path,
                    site_crs,
                    transform,
                    width,
                    height,
                    indexes,
                    warped_from=scene_crs.to_wkt(),
                    scale=value_scale,
                )
            )
    return scenes
