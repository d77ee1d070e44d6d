"""Import a folder of image/mask patches as a release (``hrgldd import-patches``).

Landslide researchers keep their datasets as folders of 128x128 patches: Landslide4Sense (HDF5 or
PNG renderings), MMLS (GeoTIFF), CAS-style ``images/`` + ``masks/`` folders. This module turns
such a folder into a release with the same format, loaders and leaderboard as HR-GLDD, and says
what the release is: the declared sensor, resolution, units and band names (wavelengths filled in
from :mod:`hrgldd_data.sensors` where known).

The rules, each refused with a message naming the file and the fix when it does not hold:

- **Files**: GeoTIFF (``.tif``; CRS and transform kept per patch, any CRS including non-EPSG
  WKT such as a Mars equirectangular one), PNG (8-bit; RGB(A) bands are named red, green, blue,
  alpha), HDF5 (``img`` / ``mask`` datasets) and ``.npy``; bands first or last.
- **Pairing**: a patch's key is its file stem without a leading ``image``/``img`` (images) or
  ``mask``/``label``/``gt`` (masks) word and its ``_``/``-`` separator: ``image_12.png`` pairs
  with ``mask_12.png``, and ``a.tif`` in ``images/`` with ``a.tif`` in ``masks/``. Images and
  masks lie in ``images/``|``image/``|``img/`` and ``masks/``|``mask/``|``labels/`` folders, or
  side by side. Unpaired files are refused, listed, unless ``skip_unpaired``.
- **Splits**: split folders (``train/``, ``val/``|``validation/``, ``test/``), a split file (CSV
  ``id,split[,site]`` or JSON ``{id: split}``), or a seeded per-site split (60/20/20 by default).
- **Bands**: :func:`builders.bands.map_bands`, the product's one band-mapping rule.
- **Values**: uint8 and uint16 are stored as they are, other numbers as float32 (int32/64 are
  refused). Float fill values without a nodata tag (|v| >= 1e30, e.g. -3.4e38) and non-finite
  values become nodata (NaN), never enter the statistics, and are reported.
- **Masks**: 0/1 or 0/255 (one channel; an RGB(A) mask must be grey) -> binary; else refused.

Everything is deterministic (same inputs and seed -> byte-identical release) and atomic
(:class:`hrgldd_data.writer.ReleaseWriter`): a refused import leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from builders.bands import map_bands
from builders.scenes import FILL_MAGNITUDE
from builders.split import split_site
from hrgldd_data._version import __version__
from hrgldd_data.errors import InputError, ReleaseExistsError
from hrgldd_data.schema import (
    DATASET_SPLITS,
    PATCH_SIZE,
    SPLIT_CODES,
    release_dirname,
)
from hrgldd_data.sensors import Sensor, canonical_band, make_sensor
from hrgldd_data.writer import ReleaseWriter

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".h5", ".hdf5", ".npy")
IMAGE_DIRS = ("images", "image", "imgs", "img")
MASK_DIRS = ("masks", "mask", "labels", "label", "gt")
IMAGE_WORDS = ("image", "img")
MASK_WORDS = ("mask", "label", "gt")
#: Split folder names -> split.
SPLIT_DIRS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
#: Patches decoded per writer batch.
BATCH = 256
SPLIT_LAYOUTS = ("auto", "folders", "seeded")


@dataclass(frozen=True)
class PatchPair:
    """One image file and its mask, with the split and site they go to."""

    key: str
    image: Path
    mask: Path
    split: str | None = None
    site: str | None = None


@dataclass
class Raster:
    """A decoded patch: (bands, H, W) values and what the file says about them."""

    data: np.ndarray
    descriptions: tuple[str | None, ...]
    crs: Any = None
    transform: tuple[float, ...] | None = None
    nodata: float | None = None
    kind: str = ""
    sha256: str = ""


@dataclass
class ImportReport:
    """What an import did, beyond the counts: stored in the release and printed by the CLI."""

    layout: str = ""
    files: int = 0
    skipped_unpaired: list[str] = field(default_factory=list)
    fill_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    nonfinite: dict[str, int] = field(default_factory=dict)
    empty_masks: list[str] = field(default_factory=list)
    masks_0_255: int = 0

    def lines(self) -> list[str]:
        """Human sentences for the console and the release notes."""
        out = [f"split: {self.layout}"]
        if self.skipped_unpaired:
            out.append(
                f"skipped {len(self.skipped_unpaired)} unpaired file(s): "
                + ", ".join(self.skipped_unpaired[:10])
                + (" ..." if len(self.skipped_unpaired) > 10 else "")
            )
        for band, fill in self.fill_values.items():
            out.append(
                f"band {band}: {fill['pixels']} fill value(s) {fill['values']} without a nodata "
                f"tag in {len(fill['patches'])} patch(es) ({', '.join(fill['patches'][:6])}"
                + (" ..." if len(fill["patches"]) > 6 else "")
                + ") stored as nodata (NaN), excluded from the statistics"
            )
        for band, n in self.nonfinite.items():
            out.append(f"band {band}: {n} NaN/infinite value(s) stored as nodata")
        if self.masks_0_255:
            out.append(f"{self.masks_0_255} mask(s) stored 0/255; read as 0/1")
        if self.empty_masks:
            out.append(
                f"{len(self.empty_masks)} patch(es) have no landslide pixel (kept): "
                + ", ".join(self.empty_masks[:10])
            )
        return out

    def to_attrs(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "files": self.files,
            "skipped_unpaired": self.skipped_unpaired,
            "fill_values": self.fill_values,
            "nonfinite_values": self.nonfinite,
            "empty_masks": self.empty_masks,
            "masks_0_255": self.masks_0_255,
        }


# -- finding and pairing files ----------------------------------------------------------------
def natural_key(text: str) -> tuple:
    """``image_2`` before ``image_10``: digit runs compare as numbers."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part.lower())
        for part in re.split(r"(\d+)", text)
        if part
    )


def patch_key(stem: str, words: Sequence[str]) -> str:
    """The pairing key of a file stem: without a leading ``words`` entry and its separator."""
    for word in words:  # image_12, image-12, image12; not "imagery"
        match = re.match(rf"^{word}(?:[_\-]|(?=\d))(?=.)", stem, flags=re.IGNORECASE)
        if match:
            return stem[match.end() :]
    return stem


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _patch_files(folder: Path) -> list[Path]:
    """Patch files in one folder (hidden files and sidecars such as ``.aux.xml`` ignored)."""
    files = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.name.lower().endswith(IMAGE_SUFFIXES):
            continue
        path = Path(entry.path)
        if not entry.is_file():
            raise InputError(
                f"{path}: not a regular file (a folder, FIFO or device); remove it or move it "
                "out of the patch folder"
            )
        files.append(path)
    return files


def _subdir(folder: Path, names: Sequence[str]) -> Path | None:
    found = [p for p in sorted(folder.iterdir()) if p.is_dir() and p.name.lower() in names]
    if len(found) > 1:
        raise InputError(
            f"{folder}: holds {[p.name for p in found]}; keep one folder of "
            f"{'images' if names is IMAGE_DIRS else 'masks'}"
        )
    return found[0] if found else None


def pair_folder(folder: Path, split: str | None = None) -> tuple[list[PatchPair], list[Path]]:
    """Pairs of one patch folder, and the files that have no partner."""
    image_dir, mask_dir = _subdir(folder, IMAGE_DIRS), _subdir(folder, MASK_DIRS)
    if (image_dir is None) != (mask_dir is None):
        have = image_dir or mask_dir
        raise InputError(
            f"{folder}: has {have.name}/ but no "
            f"{'masks/' if mask_dir is None else 'images/'} folder beside it; put the "
            f"{'masks' if mask_dir is None else 'images'} in {folder}/"
            f"{'masks' if mask_dir is None else 'images'}/"
        )
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    unpaired: list[Path] = []
    if image_dir is not None:
        for path in _patch_files(image_dir):
            _add(images, patch_key(_stem(path), IMAGE_WORDS), path)
        for path in _patch_files(mask_dir):
            _add(masks, patch_key(_stem(path), MASK_WORDS), path)
    else:
        for path in _patch_files(folder):
            stem = _stem(path)
            image_key, mask_key = patch_key(stem, IMAGE_WORDS), patch_key(stem, MASK_WORDS)
            if image_key != stem:
                _add(images, image_key, path)
            elif mask_key != stem:
                _add(masks, mask_key, path)
            else:
                unpaired.append(path)
    pairs = [
        PatchPair(key, images[key], masks[key], split)
        for key in sorted(set(images) & set(masks), key=natural_key)
    ]
    unpaired += [images[k] for k in set(images) - set(masks)]
    unpaired += [masks[k] for k in set(masks) - set(images)]
    return pairs, sorted(unpaired)


def _add(found: dict[str, Path], key: str, path: Path) -> None:
    if key in found:
        raise InputError(
            f"{path}: pairs under the same key {key!r} as {found[key].name}; "
            "keep one file per patch (e.g. image_12.tif, not also image_12.png)"
        )
    found[key] = path


def split_folders(folder: Path) -> dict[str, Path]:
    """The split folders of ``folder`` (``train/``, ``val/``|``validation/``, ``test/``)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        split = SPLIT_DIRS.get(path.name.lower())
        if split and path.is_dir():
            if split in found:
                raise InputError(
                    f"{folder}: both {found[split].name}/ and {path.name}/ hold the {split} "
                    "split; keep one"
                )
            found[split] = path
    return found


def read_split_file(path: Path) -> dict[str, tuple[str, str | None]]:
    """``{id: (split, site or None)}`` from a CSV (``id,split[,site]``) or JSON split file."""
    if not path.is_file():
        raise InputError(f"{path}: no such split file; give a CSV (id,split[,site]) or JSON file")
    text = path.read_text()
    entries: dict[str, tuple[str, str | None]] = {}

    def put(key: str, split: str, site: str | None) -> None:
        name = SPLIT_DIRS.get(str(split).strip().lower())
        if name is None:
            raise InputError(
                f"{path}: split {split!r} of {key!r} is not train, val (validation) or test"
            )
        if key in entries:
            raise InputError(f"{path}: {key!r} is listed twice; list each patch once")
        entries[key] = (name, site)

    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(data, dict):
            raise InputError(f'{path}: expected an object {{"id": "train", ...}}')
        if data and all(SPLIT_DIRS.get(k.lower()) and isinstance(v, list) for k, v in data.items()):
            for split, keys in data.items():
                for key in keys:
                    put(str(key), split, None)
        else:
            for key, value in data.items():
                if isinstance(value, dict):
                    put(str(key), str(value.get("split", "")), value.get("site"))
                else:
                    put(str(key), str(value), None)
        return entries
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputError(f"{path}: empty split file; write one line id,split per patch")
    header = [c.strip().lower() for c in rows[0]]
    if "split" in header:
        body = rows[1:]
        id_col = header.index("id") if "id" in header else 0
        split_col = header.index("split")
        site_col = header.index("site") if "site" in header else None
    else:
        body, id_col, split_col, site_col = rows, 0, 1, None
    for number, row in enumerate(body, start=2 if body is not rows else 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) <= max(id_col, split_col):
            raise InputError(f"{path}: line {number} {row}: expected id,split[,site]")
        site = row[site_col].strip() if site_col is not None and len(row) > site_col else None
        put(row[id_col].strip(), row[split_col], site or None)
    return entries


def find_pairs(
    folder: Path, split: str, *, skip_unpaired: bool = False
) -> tuple[list[PatchPair], list[Path], str]:
    """Every pair below ``folder`` with its split (None: drawn later), skipped files, layout."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of patches")
    folders = split_folders(folder)
    if split == "auto":
        split = "folders" if folders else "seeded"
    pairs: list[PatchPair] = []
    unpaired: list[Path] = []
    if folders:
        for name in DATASET_SPLITS:
            if name in folders:
                found, lone = pair_folder(folders[name], name if split == "folders" else None)
                pairs += found
                unpaired += lone
        layout = "split folders " + ", ".join(
            f"{folders[n].name}/" for n in DATASET_SPLITS if n in folders
        )
    elif split == "folders":
        raise InputError(
            f"{folder}: no split folders (train/, val/ or validation/, test/); use --split "
            "seeded or a split file (--split splits.csv)"
        )
    else:
        pairs, unpaired = pair_folder(folder)
        layout = ""
    if unpaired and not skip_unpaired:
        shown = ", ".join(str(p.relative_to(folder)) for p in unpaired[:10])
        more = f" and {len(unpaired) - 10} more" if len(unpaired) > 10 else ""
        raise InputError(
            f"{folder}: {len(unpaired)} file(s) have no partner: {shown}{more}. Pair each image "
            "with its mask (image_12.png <-> mask_12.png, or the same name in images/ and "
            "masks/), or pass --skip-unpaired to leave them out"
        )
    if not pairs:
        raise InputError(
            f"{folder}: no image/mask pairs found; expected images/ and masks/ folders (or "
            f"image_<id> and mask_<id> files) of {', '.join(IMAGE_SUFFIXES)}"
        )
    if split != "folders" and split != "seeded":
        entries = read_split_file(Path(split))
        by_id = {}
        for pair in pairs:
            for ident in (pair.key, _stem(pair.image), pair.image.name):
                by_id.setdefault(ident, pair)
        missing = [p.image.name for p in pairs if not _in_split_file(p, entries)]
        unknown = [k for k in entries if k not in by_id]
        if missing or unknown:
            problem = []
            if missing:
                problem.append(f"{len(missing)} patch(es) not listed ({', '.join(missing[:5])})")
            if unknown:
                problem.append(f"{len(unknown)} id(s) match no patch ({', '.join(unknown[:5])})")
            raise InputError(
                f"{split}: {'; '.join(problem)}; list every patch once by its key (e.g. 12 "
                "for image_12.png), file stem or file name"
            )
        pairs = [PatchPair(p.key, p.image, p.mask, *_in_split_file(p, entries)) for p in pairs]
        layout = f"split file {Path(split).name}"
    elif split == "seeded":
        pairs = [PatchPair(p.key, p.image, p.mask, None, p.site) for p in pairs]
        layout = (layout + ", " if layout else "") + "seeded split"
    return pairs, unpaired, layout


def _in_split_file(
    pair: PatchPair, entries: dict[str, tuple[str, str | None]]
) -> tuple[str, str | None] | None:
    for ident in (pair.key, _stem(pair.image), pair.image.name):
        if ident in entries:
            return entries[ident]
    return None


# -- reading patches --------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give the patch file itself")
    return path.read_bytes()


def _to_bands_first(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    """(bands, H, W) from a 2-D array or a 3-D one with bands first or last."""
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise InputError(
            f"{path}: {what} has shape {array.shape}; expected (128, 128), (128, 128, bands) "
            "or (bands, 128, 128)"
        )
    first, last = array.shape[0], array.shape[-1]
    if array.shape[1] == PATCH_SIZE and last == PATCH_SIZE and first != PATCH_SIZE:
        return array
    if array.shape[0] == PATCH_SIZE and array.shape[1] == PATCH_SIZE and last != PATCH_SIZE:
        return np.moveaxis(array, -1, 0)
    if first == last == array.shape[1] == PATCH_SIZE:
        raise InputError(
            f"{path}: {what} shape {array.shape} is ambiguous (bands first or last?); "
            "save it as (bands, 128, 128) with fewer than 128 bands"
        )
    return _wrong_size(path, array.shape)


def _wrong_size(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    raise InputError(
        f"{path}: patch of shape {shape} is not 128x128; patches must be 128x128 pixels: cut "
        "the source into 128x128 tiles first (e.g. gdal_retile.py -ps 128 128)"
    )


def read_raster(path: Path, key: str) -> Raster:
    """Decode one patch file (GeoTIFF, PNG, HDF5 dataset ``key``, .npy) from a single read."""
    raw = _read_bytes(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            raster = _read_geotiff(raw)
        elif suffix == ".png":
            raster = _read_png(raw, path)
        elif suffix in (".h5", ".hdf5"):
            raster = _read_hdf5(raw, path, key)
        else:
            raster = Raster(
                np.asarray(np.load(io.BytesIO(raw), allow_pickle=False)), (), kind="npy"
            )
        raster.sha256 = hashlib.sha256(raw).hexdigest()
        return raster
    except InputError:
        raise
    except Exception as err:  # a decoder's own error: the file is damaged or not what it says
        raise InputError(
            f"{path}: cannot be read as {suffix.lstrip('.').upper()} ({type(err).__name__}: "
            f"{err}); re-export or re-download it"
        ) from err


def _read_geotiff(raw: bytes) -> Raster:
    from rasterio.io import MemoryFile

    with MemoryFile(raw) as memfile, memfile.open() as src:
        data = src.read()
        transform = tuple(src.transform)[:6] if src.crs is not None else None
        return Raster(
            data,
            tuple(src.descriptions),
            src.crs,
            transform,
            src.nodata,
            kind="geotiff",
        )


_PNG_BANDS = {
    "L": ("gray",),
    "LA": ("gray", "alpha"),
    "I;16": ("gray",),
    "I": ("gray",),
    "RGB": ("red", "green", "blue"),
    "RGBA": ("red", "green", "blue", "alpha"),
}


def _read_png(raw: bytes, path: Path) -> Raster:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as image:
        mode = image.mode
        if mode == "P":  # palette PNGs: the indexes are the values (masks are saved like this)
            data = np.asarray(image)
            return Raster(data[None], ("gray",), kind="png")
        if mode not in _PNG_BANDS:
            raise InputError(
                f"{path}: PNG mode {mode} is not supported; save it as 8-bit gray, RGB or RGBA"
            )
        data = np.asarray(image)
    return Raster(
        np.moveaxis(data, -1, 0) if data.ndim == 3 else data[None], _PNG_BANDS[mode], kind="png"
    )


def _read_hdf5(raw: bytes, path: Path, key: str) -> Raster:
    import h5py

    with h5py.File(io.BytesIO(raw), "r") as handle:
        names = [k for k in handle if isinstance(handle[k], h5py.Dataset)]
        if key in handle:
            chosen = key
        elif len(names) == 1:
            chosen = names[0]
        else:
            raise InputError(
                f"{path}: HDF5 file has no dataset {key!r} (datasets: {names}); store the "
                f"{'image' if key == 'img' else 'mask'} under the key {key!r}"
            )
        data = handle[chosen][()]
    return Raster(np.asarray(data), (), kind="hdf5")


# -- converting patches -----------------------------------------------------------------------
def release_dtype(dtype: np.dtype, path: Path) -> str:
    """How a source dtype is stored: uint8/uint16 as they are, other numbers as float32."""
    if dtype == np.uint8 or dtype == np.uint16:
        return dtype.name
    if dtype.kind == "f" or dtype in (np.int8, np.int16):
        return "float32"
    raise InputError(
        f"{path}: values of type {dtype} cannot be stored exactly; convert the patches to "
        "uint8, uint16 or float32 first"
    )


def binary_mask(raster: Raster, path: Path) -> tuple[np.ndarray, bool]:
    """A 0/1 mask from 0/1 or 0/255 values (one channel); True when it was 0/255."""
    data = _to_bands_first(raster.data, path, "mask")
    if data.shape[1:] != (PATCH_SIZE, PATCH_SIZE):
        _wrong_size(path, data.shape)
    descriptions = raster.descriptions
    if data.shape[0] > 1:
        colour = [
            i for i in range(data.shape[0]) if i >= len(descriptions) or descriptions[i] != "alpha"
        ]
        data = data[colour]
        if not all(np.array_equal(data[0], data[i]) for i in range(1, data.shape[0])):
            raise InputError(
                f"{path}: mask channels differ (a colour mask); save the landslide mask as one "
                "channel, 1 or 255 = landslide, 0 = background"
            )
    mask = data[0]
    values = np.unique(mask)
    if np.all(np.isin(values, (0, 1))):
        return mask.astype(np.uint8), False
    if np.all(np.isin(values, (0, 255))):
        return (mask == 255).astype(np.uint8), True
    raise InputError(
        f"{path}: mask values {values[:8].tolist()} are not binary; masks must hold 0/1 or "
        "0/255 (1 or 255 = landslide)"
    )


@dataclass
class _Plan:
    """What the first patch fixed for the whole import."""

    sensor: Sensor
    dtype: str
    nodata: float | int | None
    wanted: tuple[str, ...]
    source_bands: tuple[str, ...] | None
    mapping: str | dict[str, int]
    indexes: dict[tuple, tuple[int, ...]] = field(default_factory=dict)


def _descriptions(raster: Raster, n_bands: int, source_bands: Sequence[str] | None) -> tuple:
    if source_bands is not None:
        return tuple(source_bands)
    if len(raster.descriptions) == n_bands:
        return tuple(raster.descriptions)
    return (None,) * n_bands


def _default_wanted(
    descriptions: tuple, mapping: str | dict[str, int], path: Path
) -> tuple[str, ...]:
    if isinstance(mapping, dict):
        return tuple(mapping)
    names = [canonical_band(d) for d in descriptions]
    if not all(names):
        raise InputError(
            f"{path}: its {len(names)} band(s) carry no names; declare them (--source-bands "
            "a,b,c in file order) or choose the bands to keep (--bands red,green,blue with "
            "--band-map red=3,green=2,blue=1)"
        )
    return tuple(n for n in names if n != "alpha")


def _plan(
    first: Raster,
    path: Path,
    *,
    sensor: str,
    bands: Sequence[str] | None,
    band_map: str | dict[str, int],
    source_bands: Sequence[str] | None,
    resolution_m: float | None,
    units: str | None,
    nodata: float | None,
) -> _Plan:
    data = _to_bands_first(first.data, path, "image")
    if source_bands is not None:
        source_bands = tuple(canonical_band(b) or "" for b in source_bands)
        if len(source_bands) != data.shape[0]:
            raise InputError(
                f"{path}: has {data.shape[0]} band(s) but --source-bands names "
                f"{len(source_bands)} ({', '.join(source_bands)}); name every band in file order"
            )
    if isinstance(band_map, dict):
        band_map = {canonical_band(k) or k: v for k, v in band_map.items()}
    descriptions = _descriptions(first, data.shape[0], source_bands)
    wanted = (
        tuple(canonical_band(b) or b for b in bands)
        if bands
        else _default_wanted(descriptions, band_map, path)
    )
    dtype = release_dtype(data.dtype, path)
    if dtype == "float32":
        release_nodata: float | int | None = float("nan")
    elif nodata is not None:
        release_nodata = nodata
    else:
        release_nodata = first.nodata
    if release_nodata is not None and dtype != "float32":
        if not float(release_nodata).is_integer():
            raise InputError(f"{path}: nodata {release_nodata} is not a {dtype} value")
        release_nodata = int(release_nodata)
    resolution = resolution_m
    if first.crs is not None and first.transform is not None and first.crs.is_projected:
        pixel = abs(first.transform[0])
        metres = first.crs.linear_units_factor[1] if first.crs.linear_units_factor else 1.0
        pixel_m = pixel * metres
        if resolution is None:
            resolution = round(pixel_m, 6)
        elif not math.isclose(resolution, pixel_m, rel_tol=0.01):
            raise InputError(
                f"{path}: pixels are {pixel_m:g} m but --resolution declares {resolution:g} m; "
                "fix --resolution or leave it out to take it from the GeoTIFF"
            )
    if units is None and first.kind == "png":
        units = "8-bit display rendering (not reflectance)"
    try:
        made = make_sensor(sensor, wanted, resolution_m=resolution, units=units)
    except ValueError as err:
        raise InputError(f"{path}: {err}; fix --bands/--source-bands") from err
    return _Plan(made, dtype, release_nodata, made.band_names, source_bands, band_map)


def convert_image(
    raster: Raster, path: Path, key: str, plan: _Plan, report: ImportReport, extra_nodata: Any
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The patch's wanted bands in the release dtype (fills made nodata), and their indexes."""
    data = _to_bands_first(raster.data, path, "image")
    if data.shape[1:] != (PATCH_SIZE, PATCH_SIZE):
        _wrong_size(path, data.shape)
    descriptions = _descriptions(raster, data.shape[0], plan.source_bands)
    cache_key = (descriptions, data.shape[0])
    indexes = plan.indexes.get(cache_key)
    if indexes is None:
        spec = "--band-map" if isinstance(plan.mapping, dict) else "--band-map/--source-bands"
        indexes = map_bands(descriptions, plan.wanted, plan.mapping, source=str(path), spec=spec)
        plan.indexes[cache_key] = indexes
    dtype = release_dtype(data.dtype, path)
    if dtype != plan.dtype:
        raise InputError(
            f"{path}: values are {data.dtype} (stored as {dtype}) but earlier patches are "
            f"{plan.dtype}; convert all patches to one type"
        )
    picked = data[[i - 1 for i in indexes]]
    if plan.dtype != "float32":
        if (
            raster.nodata is not None
            and plan.nodata is not None
            and raster.nodata != plan.nodata
            and extra_nodata is None
        ):
            raise InputError(
                f"{path}: nodata tag {raster.nodata} differs from the other patches' "
                f"{plan.nodata}; give --nodata or retag the files"
            )
        return np.ascontiguousarray(picked), indexes
    values = picked.astype(np.float64)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(values)
        fill = finite & (np.abs(values) >= FILL_MAGNITUDE)
        tagged = np.zeros_like(finite)
        for tag in (raster.nodata, extra_nodata):
            if tag is not None and not (isinstance(tag, float) and math.isnan(tag)):
                tagged |= finite & (values == tag)
        overflow = finite & ~fill & (np.abs(values) > np.finfo(np.float32).max)
    if overflow.any():
        raise InputError(
            f"{path}: values beyond the float32 range; rescale the patches before importing"
        )
    for b, name in enumerate(plan.wanted):
        fills = fill[b] & ~tagged[b]
        if fills.any():
            entry = report.fill_values.setdefault(name, {"pixels": 0, "values": [], "patches": []})
            entry["pixels"] += int(fills.sum())
            for value in np.unique(values[b][fills]).tolist():
                text = float(f"{value:.6g}")
                if text not in entry["values"]:
                    entry["values"].append(text)
            entry["patches"].append(key)
        bad = int((~finite[b]).sum())
        if bad:
            report.nonfinite[name] = report.nonfinite.get(name, 0) + bad
    values[~finite | fill | tagged] = np.nan
    return values.astype(np.float32), indexes


def _check_grid(image: Raster, mask: Raster, pair: PatchPair) -> None:
    if image.crs is None or mask.crs is None:
        return
    same = image.crs == mask.crs and np.allclose(
        image.transform, mask.transform, rtol=0, atol=1e-6 * max(1.0, abs(image.transform[0]))
    )
    if not same:
        raise InputError(
            f"{pair.mask}: mask grid (CRS/transform) differs from its image {pair.image.name}; "
            "masks must cover the same pixels as their images"
        )


# -- writing the release ----------------------------------------------------------------------
def write_release(
    out_root: Path,
    name: str,
    version: str,
    *,
    sensor: Sensor,
    dtype: str,
    nodata: Any,
    batches: Iterable[dict[str, np.ndarray]],
    sites: list[dict[str, Any]],
    attrs: dict[str, Any],
    seed: int = 0,
) -> Path:
    """Write batches (``images``, ``masks``, ``site``, ``scene``, ``split``) as a carded release."""
    from hrgldd_data.cards import write_card

    split_codes: list[np.ndarray] = []
    with ReleaseWriter(
        out_root, name, version, sensor=sensor, dtype=dtype, nodata=nodata, stats_seed=seed
    ) as writer:
        for batch in batches:
            k = batch["images"].shape[0]
            minus_or = batch.get("row", np.zeros(k, np.int32))
            writer.append(
                batch["images"],
                batch["masks"],
                site=batch["site"],
                scene=batch["scene"],
                row=minus_or,
                col=batch.get("col", np.zeros(k, np.int32)),
            )
            split_codes.append(np.asarray(batch["split"], np.uint8))
        return writer.finish(
            np.concatenate(split_codes) if split_codes else np.empty(0, np.uint8),
            attrs | {"sites": sites},
            on_complete=write_card,
        )


def import_patches(
    folder: str | Path,
    out_root: str | Path,
    *,
    name: str,
    version: str,
    sensor: str,
    bands: Sequence[str] | None = None,
    band_map: str | dict[str, int] = "auto",
    source_bands: Sequence[str] | None = None,
    resolution_m: float | None = None,
    units: str | None = None,
    split: str = "auto",
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    site: str | None = None,
    skip_unpaired: bool = False,
    nodata: float | None = None,
    title: str | None = None,
    description: str | None = None,
    license: str | None = None,
    citation: str | None = None,
) -> tuple[Path, ImportReport]:
    """Import a folder of image/mask patches as release ``name``-``version`` below ``out_root``.

    Args:
        folder: the patch folder (with split folders, or images/ and masks/, or both kinds side
            by side).
        sensor: what the imagery is: a known sensor (``sentinel-2``, ``planetscope``) lends
            resolution, units and wavelengths; any other text names it (``"UAV RGB + DSM"``).
        bands: the release's bands, in order (default: every named source band, or the
            explicit ``band_map``'s names).
        band_map: ``"auto"`` (band names of the files) or ``{name: 1-based index}``.
        source_bands: names of the files' bands in file order, for files that carry none.
        split: ``"auto"`` (split folders if present, else seeded), ``"folders"``,
            ``"seeded"`` or the path of a split file (CSV ``id,split[,site]`` or JSON).
        fractions, seed: the seeded split (60/20/20, seed 0 by default).
        site: the site id of the patches (default: ``name``); a split file may give sites.
        skip_unpaired: leave out files without a partner instead of refusing.
        nodata: source value meaning no data (besides tags, float fills and non-finite values).

    Returns:
        The release directory and the report of what was converted, filled or skipped.
    """
    folder, out_root = Path(folder), Path(out_root)
    try:
        dirname = release_dirname(name, version)
    except ValueError as err:
        raise InputError(f"--name/--version: {err}") from err
    if isinstance(seed, bool) or int(seed) < 0:
        raise InputError(f"--seed {seed}: the split seed must be a non-negative integer")
    fractions = check_fractions(fractions or {"train": 0.6, "val": 0.2, "test": 0.2}, "--fractions")
    site = site or name
    _check_site_id(site, "--site")
    target = out_root / dirname
    if target.exists():
        raise ReleaseExistsError(
            f"{target} already exists: release {name} {version} is immutable; import as a new "
            "version"
        )
    pairs, unpaired, layout = find_pairs(folder, split, skip_unpaired=skip_unpaired)
    report = ImportReport(
        layout=layout,
        files=2 * len(pairs),
        skipped_unpaired=[p.relative_to(folder).as_posix() for p in unpaired],
    )
    # Sites: one per import by default, or as a split file names them.
    site_ids = sorted({p.site or site for p in pairs}, key=natural_key)
    for ident in site_ids:
        _check_site_id(ident, f"site in {split}")
    order = {s: i for i, s in enumerate(DATASET_SPLITS)}
    pairs.sort(
        key=lambda p: (
            site_ids.index(p.site or site),
            order.get(p.split or "", 0),
            natural_key(p.key),
        )
    )
    codes = np.empty(len(pairs), np.uint8)
    for ident in site_ids:
        here = [i for i, p in enumerate(pairs) if (p.site or site) == ident]
        drawn = [i for i in here if pairs[i].split is None]
        if drawn:
            codes[drawn] = split_site(len(drawn), fractions, seed, ident)
        for i in here:
            if pairs[i].split is not None:
                codes[i] = SPLIT_CODES[pairs[i].split]

    first_pair = pairs[0]
    first = read_raster(first_pair.image, "img")
    plan = _plan(
        first,
        first_pair.image,
        sensor=sensor,
        bands=bands,
        band_map=band_map,
        source_bands=source_bands,
        resolution_m=resolution_m,
        units=units,
        nodata=nodata,
    )
    scenes: list[dict[str, Any]] = []
    digest_lines: list[str] = []
    crs_cache: dict[Any, tuple[str, int | None]] = {}

    def batches() -> Iterator[dict[str, np.ndarray]]:
        images, masks, site_codes, scene_codes = [], [], [], []
        start = 0
        decoded = _read_ahead(pairs, first)
        for i, (pair, (raw_image, raw_mask)) in enumerate(zip(pairs, decoded, strict=True)):
            for path, raster in ((pair.image, raw_image), (pair.mask, raw_mask)):
                digest_lines.append(f"{raster.sha256}  {path.relative_to(folder).as_posix()}")
            image, indexes = convert_image(raw_image, pair.image, pair.key, plan, report, nodata)
            mask, was_255 = binary_mask(raw_mask, pair.mask)
            _check_grid(raw_image, raw_mask, pair)
            report.masks_0_255 += was_255
            if not mask.any():
                report.empty_masks.append(pair.key)
            ident = pair.site or site
            scene = {
                "site": ident,
                "path": pair.image.relative_to(folder).as_posix(),
                "mask": pair.mask.relative_to(folder).as_posix(),
            }
            if raw_image.crs is not None:  # georeferenced: Release.bounds() puts it on the map
                wkt, epsg = _crs_text(raw_image.crs, crs_cache)
                scene |= {
                    "crs": wkt,
                    "epsg": epsg,
                    "transform": list(raw_image.transform),
                    "width": PATCH_SIZE,
                    "height": PATCH_SIZE,
                    "bands_used": list(indexes),
                }
            scenes.append(scene)
            images.append(image)
            masks.append(mask)
            site_codes.append(site_ids.index(ident))
            scene_codes.append(i)
            if len(images) == BATCH or i == len(pairs) - 1:
                yield {
                    "images": np.stack(images),
                    "masks": np.stack(masks),
                    "site": np.asarray(site_codes),
                    "scene": np.asarray(scene_codes),
                    "split": codes[start : i + 1],
                }
                start = i + 1
                images, masks, site_codes, scene_codes = [], [], [], []

    sites = [
        {
            "id": ident,
            "role": "train",
            "study_area": description or title or name,
            "inventory_source": citation,
            "source_folder": folder.name,
        }
        for ident in site_ids
    ]
    seeded = bool((np.array([p.split is None for p in pairs])).any())
    attrs: dict[str, Any] = dict(
        {
            "title": title or f"{name}: landslide patches imported with hrgldd",
            "description": description
            or f"{len(pairs)} image/mask patches imported from {folder.name}/ "
            f"({plan.sensor.name}).",
            "license": license or "unspecified (see the source dataset)",
            "citation": citation or "",
            "imported": True,
            "builder_version": __version__,
            "split_seed": seed if seeded else None,
            "split_fractions": fractions if seeded else None,
            "scenes": scenes,
        }
    )
    path = write_release(
        out_root,
        name,
        version,
        sensor=plan.sensor,
        dtype=plan.dtype,
        nodata=plan.nodata,
        batches=_then(batches(), lambda: attrs.update(_final_attrs(report, digest_lines))),
        sites=sites,
        attrs=attrs,
        seed=seed,
    )
    return path, report


def _crs_text(crs: Any, cache: dict[Any, tuple[str, int | None]]) -> tuple[str, int | None]:
    """WKT and EPSG code of a CRS, once per distinct CRS (an EPSG search of a non-EPSG CRS such
    as Mars' equirectangular one scans the whole database)."""
    wkt = crs.to_wkt()
    if wkt not in cache:
        cache[wkt] = (wkt, crs.to_epsg())
    return cache[wkt]


def _read_ahead(pairs: list[PatchPair], first: Raster) -> Iterator[tuple[Raster, Raster]]:
    """Decoded (image, mask) of every pair in order, decoded a batch ahead in a few threads.

    Decoders (zlib, GDAL, HDF5) release the GIL, so reading overlaps with converting and writing;
    the order, and so the release, does not depend on the threads.
    """

    def load(item: tuple[int, PatchPair]) -> tuple[Raster, Raster]:
        i, pair = item
        image = first if i == 0 else read_raster(pair.image, "img")
        return image, read_raster(pair.mask, "mask")

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        pending = None
        for start in range(0, len(pairs), BATCH):
            chunk = list(enumerate(pairs[start : start + BATCH], start=start))
            current = pending or pool.map(load, chunk)
            following = pairs[start + BATCH : start + 2 * BATCH]
            pending = (
                pool.map(load, enumerate(following, start=start + BATCH)) if following else None
            )
            yield from current


def _then(items: Iterator, done) -> Iterator:
    """Yield ``items``, then call ``done()`` (attributes that need every patch read)."""
    yield from items
    done()


def _final_attrs(report: ImportReport, digest_lines: list[str]) -> dict[str, Any]:
    listing = "\n".join(sorted(digest_lines, key=lambda line: line[66:])) + "\n"
    return {
        "notes": "Imported patches. " + "; ".join(report.lines()) + ".",
        "import": report.to_attrs(),
        "inputs": {
            "patch files": len(digest_lines),
            "sha256 of the sorted `sha256sum` listing": hashlib.sha256(
                listing.encode()
            ).hexdigest(),
        },
    }


def check_fractions(fractions: dict[str, float], where: str) -> dict[str, float]:
    """Split fractions for train/val/test: finite, non-negative, summing to 1."""
    values = {k: float(fractions.get(k, 0.0)) for k in DATASET_SPLITS}
    if set(fractions) - set(DATASET_SPLITS):
        raise InputError(
            f"{where}: unknown split(s) {sorted(set(fractions) - set(DATASET_SPLITS))}"
        )
    if not all(math.isfinite(v) and v >= 0 for v in values.values()) or not math.isclose(
        sum(values.values()), 1.0, abs_tol=1e-6
    ):
        raise InputError(
            f"{where}: split fractions {values} must be finite, non-negative and sum to 1 "
            "(e.g. 0.6,0.2,0.2)"
        )
    return values


def _check_site_id(site: str, where: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", site):
        raise InputError(
            f"{where}: site {site!r} must be lower-case letters, digits and '_' (e.g. "
            "landslide4sense)"
        )


__all__ = [
    "ImportReport",
    "PatchPair",
    "binary_mask",
    "find_pairs",
    "import_patches",
    "natural_key",
    "patch_key",
    "read_split_file",
]
