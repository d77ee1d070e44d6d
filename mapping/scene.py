"""Post-event scenes as the model sees them: bands mapped, values scaled, nodata known.

A scene is anything GDAL reads with a CRS and a geotransform, in any CRS (geographic included):
GeoTIFF, COG, VRT, JPEG2000... Its bands are mapped to the model's bands by the product's one
band-mapping rule (:func:`builders.bands.map_bands`: explicit ``--bands``, band descriptions, or
the PlanetScope order of undescribed 4- and 8-band products). Values are brought to the units of
the model's training data: integer scenes are taken as delivered; float scenes holding reflectance
in 0-1 are multiplied by 10,000 when the model was trained on reflectance x 10,000 (detected from
sampled pixels, or set with ``--scale``).

A pixel is nodata when GDAL's mask of any used band says so (nodata value, alpha band or internal
mask), where the scene's alpha band is 0 (also in a B,G,R,NIR + alpha product, whose alpha GDAL
does not apply), or when a float value is NaN, infinite or a fill value beyond +-1e30 (rasters
that carry -3.4e38 without a nodata tag). Nodata is never predicted as landslide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from builders.bands import map_bands
from hrgldd_data.errors import InputError
from mapping.model import MappingModel

log = logging.getLogger(__name__)

#: Float values beyond this magnitude are fill values (e.g. -3.4e38 without a nodata tag).
FILL_MAGNITUDE = 1e30
#: Windows of this size sampled over a float scene to detect its value range.
_SAMPLE = 256
_SAMPLES_PER_SIDE = 4


@dataclass(frozen=True)
class Scene:
    """An opened, checked scene: which bands to read and how to scale them to the model's units."""

    path: Path
    id: str
    crs: CRS
    transform: Affine
    width: int
    height: int
    indexes: tuple[int, ...]
    dtype: str
    scale: float
    scale_reason: str
    descriptions: tuple[str | None, ...]
    alpha: int | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "crs": self.crs.to_string(),
            "width": self.width,
            "height": self.height,
            "transform": list(self.transform)[:6],
            "dtype": self.dtype,
            "bands_used": list(self.indexes),
            "scale": self.scale,
            "scale_reason": self.scale_reason,
        }


def scene_id(path: Path) -> str:
    """The id outputs are named after: the file name without its suffix."""
    return path.stem


def open_scene(
    path: str | Path,
    model: MappingModel,
    bands: str | dict[str, int] = "auto",
    scale: float | None = None,
) -> Scene:
    """Check a scene and map its bands to the model's; every refusal names the file and the fix."""
    path = Path(path)
    try:
        src_ctx = rasterio.open(path)
    except RasterioIOError as err:
        raise InputError(f"{path}: cannot be read as a raster ({err})") from err
    with src_ctx as src:
        if src.transform.is_identity and src.gcps[0]:
            raise InputError(
                f"{path}: scene is georeferenced by ground control points only; warp it to a "
                f"grid first (`gdalwarp {path.name} warped.tif`)"
            )
        if src.crs is None:
            raise InputError(
                f"{path}: scene has no CRS; assign one, e.g. "
                f"`gdal_edit.py -a_srs EPSG:32645 {path.name}`"
            )
        if src.transform.is_identity:
            raise InputError(
                f"{path}: scene has no geotransform; give it one "
                f"(`gdal_edit.py -a_ullr ULX ULY LRX LRY {path.name}`)"
            )
        if any(dt.startswith("complex") for dt in src.dtypes):
            raise InputError(f"{path}: complex-valued bands cannot be mapped; give reflectance")
        spec = "--bands" if not isinstance(bands, str) or bands != "auto" else None
        alphas = [i for i, c in enumerate(src.colorinterp, start=1) if c == ColorInterp.alpha]
        alpha = alphas[0] if alphas else None
        # a last alpha band is not a band to map (B,G,R,NIR + alpha is a 4-band product)
        descriptions = src.descriptions[:-1] if alpha == src.count else src.descriptions
        try:
            indexes = map_bands(descriptions, model.bands, bands, source=str(path), spec=spec)
        except InputError as err:
            raise InputError(
                f"{err}. The model ({model.source}) was trained on bands {list(model.bands)} "
                f"of {model.release}; this scene has {src.count} band(s)"
                f"{' described ' + str(list(src.descriptions)) if any(src.descriptions) else ''}"
            ) from err
        dtype = src.dtypes[indexes[0] - 1]
        if scale is not None:
            if not np.isfinite(scale) or scale <= 0:
                raise InputError(f"--scale {scale}: must be a positive number")
            chosen, reason = float(scale), "given (--scale)"
        elif np.issubdtype(np.dtype(dtype), np.floating):
            chosen, reason = detect_scale(src, indexes, model, alpha)
        else:
            chosen, reason = 1.0, f"{dtype} values taken as delivered"
        return Scene(
            path,
            scene_id(path),
            src.crs,
            src.transform,
            src.width,
            src.height,
            tuple(int(i) for i in indexes),
            dtype,
            chosen,
            reason,
            tuple(src.descriptions),
            alpha,
        )


def _reflectance_x10000(model: MappingModel) -> bool:
    units = model.units.replace(",", "").replace(" ", "").lower()
    return "10000" in units or (not units and float(np.mean(model.mean)) > 50)


def detect_scale(
    src: rasterio.io.DatasetReader,
    indexes: tuple[int, ...],
    model: MappingModel,
    alpha: int | None = None,
) -> tuple[float, str]:
    """Scale of a float scene to the model's units, from sampled valid pixels."""
    values = []
    rows = np.linspace(0, max(src.height - _SAMPLE, 0), _SAMPLES_PER_SIDE).astype(int)
    cols = np.linspace(0, max(src.width - _SAMPLE, 0), _SAMPLES_PER_SIDE).astype(int)
    for row in np.unique(rows):
        for col in np.unique(cols):
            window = Window(
                int(col), int(row), min(_SAMPLE, src.width - col), min(_SAMPLE, src.height - row)
            )
            data, valid = read_window(src, indexes, window, alpha)
            if valid.any():
                values.append(data[:, valid].ravel())
    if not values:
        return 1.0, "no valid pixel sampled; values taken as delivered"
    high = float(np.percentile(np.concatenate(values), 99))
    model_level = float(np.mean(model.mean))
    if high <= 2.0 and _reflectance_x10000(model):
        return 10000.0, (
            f"float reflectance in 0-1 detected (99th percentile {high:.3g}); multiplied by "
            "10,000 to the model's units"
        )
    if high > 100 and model_level <= 2.0:
        return 1e-4, (
            f"values up to {high:.4g} but the model was trained on 0-1 values; divided by 10,000"
        )
    return 1.0, f"float values taken as delivered (99th percentile {high:.4g})"


def read_window(
    src: rasterio.io.DatasetReader,
    indexes: tuple[int, ...],
    window: Window,
    alpha: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bands ``indexes`` of ``window`` as float32 and where every one of them is valid.

    ``alpha``: the alpha band (GDAL applies an alpha band only to RGBA and grey + alpha
    rasters; a B,G,R,NIR + alpha product's alpha is read here).
    """
    data = src.read(indexes, window=window, out_dtype="float32")
    flags = [src.mask_flag_enums[i - 1] for i in indexes]
    if all(f == [MaskFlags.all_valid] for f in flags):
        valid = np.ones(data.shape[1:], bool)
    elif all(f == [MaskFlags.nodata] for f in flags):
        valid = np.ones(data.shape[1:], bool)
        for band, index in zip(data, indexes, strict=True):
            nodata = src.nodatavals[index - 1]
            if nodata is not None and not np.isnan(nodata):
                valid &= band != np.float32(nodata)
    else:  # alpha band or internal mask: GDAL's per-band masks
        valid = (src.read_masks(indexes, window=window) > 0).all(axis=0)
    if alpha is not None:
        valid &= src.read(alpha, window=window) > 0
    if np.issubdtype(np.dtype(src.dtypes[indexes[0] - 1]), np.floating):
        valid &= (np.abs(data) < FILL_MAGNITUDE).all(axis=0)  # also false for NaN and inf
    return data, valid


def read_region(
    src: rasterio.io.DatasetReader,
    scene: Scene,
    model: MappingModel,
    row0: int,
    col0: int,
    height: int,
    width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized bands of a region that may extend past the scene, and its valid pixels.

    Outside the scene and at nodata the normalized value is 0 (the training mean) and the pixel
    is invalid. Also returns the per-band sum of valid scaled values (to check the units).
    """
    channels = len(scene.indexes)
    out = np.zeros((channels, height, width), np.float32)
    valid = np.zeros((height, width), bool)
    r0, c0 = max(row0, 0), max(col0, 0)
    r1, c1 = min(row0 + height, scene.height), min(col0 + width, scene.width)
    sums = np.zeros(channels, np.float64)
    if r1 <= r0 or c1 <= c0:
        return out, valid, sums
    data, inside = read_window(src, scene.indexes, Window(c0, r0, c1 - c0, r1 - r0), scene.alpha)
    if scene.scale != 1.0:
        data *= np.float32(scene.scale)
    sums = data[:, inside].sum(axis=1, dtype=np.float64)
    data = model.normalization(data, inside)  # as in training; nodata and outside become 0
    ys, xs = slice(r0 - row0, r1 - row0), slice(c0 - col0, c1 - col0)
    out[:, ys, xs] = data
    valid[ys, xs] = inside
    return out, valid, sums


__all__ = ["FILL_MAGNITUDE", "Scene", "detect_scale", "open_scene", "read_region", "read_window"]
