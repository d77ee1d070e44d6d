"""The Zenodo layout of the patch importer: the arrays published with the paper, as a release.

The published files (doi:10.5281/zenodo.7189381) are ``trainX.npy trainY.npy valX.npy valY.npy
testX.npy testY.npy``: images N x 128 x 128 x 4 in R,G,B,NIR order (float or integer) and masks
N x 128 x 128 x 1. They carry no site or coordinates, so the release has the single site
``unknown``, no georeference, and serves collection 1 (the mixed test split) only. The release
is PlanetScope R,G,B,NIR uint16 (nodata 0), written through the same
:func:`builders.patches.write_release` as every other import.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from builders.patches import write_release
from hrgldd_data.errors import ArchiveError, InputError
from hrgldd_data.fileio import sha256_file
from hrgldd_data.schema import PATCH_SIZE, SPLIT_CODES, UNKNOWN_SITE
from hrgldd_data.sensors import PLANETSCOPE

LEGACY_FILES = {
    "train": ("trainX.npy", "trainY.npy"),
    "val": ("valX.npy", "valY.npy"),
    "test": ("testX.npy", "testY.npy"),
}
#: Patch counts of the Zenodo release, reported beside an import that differs.
ZENODO_COUNTS = {"train": 1119, "val": 284, "test": 355}
BATCH = 256
_ALL_FILES = sorted(n for pair in LEGACY_FILES.values() for n in pair)


class LegacyImportError(ArchiveError, InputError):
    """The published arrays are missing or inconsistent; nothing was written."""


def _open_pair(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    x_name, y_name = LEGACY_FILES[split]
    arrays = []
    for name in (x_name, y_name):
        path = folder / name
        if not path.is_file():
            raise LegacyImportError(f"{path}: missing; the folder must hold {_ALL_FILES}")
        try:
            arrays.append(np.load(path, mmap_mode="r", allow_pickle=False))
        except ValueError as err:
            raise LegacyImportError(f"{path}: not a readable .npy array ({err})") from err
    x, y = arrays
    if x.ndim != 4 or x.shape[1:] != (PATCH_SIZE, PATCH_SIZE, 4):
        raise LegacyImportError(
            f"{folder / x_name}: shape {x.shape}; expected (N, 128, 128, 4) in R,G,B,NIR order"
        )
    if y.shape not in (
        (x.shape[0], PATCH_SIZE, PATCH_SIZE, 1),
        (x.shape[0], PATCH_SIZE, PATCH_SIZE),
    ):
        raise LegacyImportError(
            f"{folder / y_name}: shape {y.shape} does not match {x_name} {x.shape}; "
            f"expected ({x.shape[0]}, 128, 128, 1)"
        )
    return x, y


def _to_uint16(images: np.ndarray, path: Path) -> np.ndarray:
    if not np.all(np.isfinite(images)):
        raise LegacyImportError(f"{path}: images hold NaN or infinite values")
    if images.min() < 0 or images.max() > 65535:
        raise LegacyImportError(
            f"{path}: values outside 0..65535 ({images.min()}..{images.max()}); "
            "expected reflectance"
        )
    if np.issubdtype(images.dtype, np.floating) and not np.all(images == np.round(images)):
        raise LegacyImportError(
            f"{path}: fractional values ({images.dtype}); expected integer reflectance. "
            "Rescale to the delivered integers before importing"
        )
    return images.astype(np.uint16)


def _to_binary(masks: np.ndarray, path: Path) -> np.ndarray:
    values = np.unique(masks)
    if not np.all(np.isin(values, (0, 1))):
        raise LegacyImportError(f"{path}: mask values {values[:10].tolist()} are not binary 0/1")
    return masks.reshape(masks.shape[0], PATCH_SIZE, PATCH_SIZE).astype(np.uint8)


def import_legacy(
    folder: str | Path, version: str, out_root: str | Path, *, name: str = "hr_gldd"
) -> Path:
    """Validate the six arrays and write them as release ``name``-``version``; return its path."""
    folder, out_root = Path(folder), Path(out_root)
    if not folder.is_dir():
        raise LegacyImportError(f"{folder}: no such folder")
    pairs = {split: _open_pair(folder, split) for split in LEGACY_FILES}  # every file checked first
    counts = {split: int(x.shape[0]) for split, (x, _) in pairs.items()}

    def batches() -> Iterator[dict[str, np.ndarray]]:
        for split, (x, y) in pairs.items():
            for start in range(0, x.shape[0], BATCH):
                images = _to_uint16(
                    np.asarray(x[start : start + BATCH]), folder / LEGACY_FILES[split][0]
                )
                masks = _to_binary(
                    np.asarray(y[start : start + BATCH]), folder / LEGACY_FILES[split][1]
                )
                k = images.shape[0]
                minus = np.full(k, -1)
                yield {
                    "images": images.transpose(0, 3, 1, 2),
                    "masks": masks,
                    "site": np.zeros(k),
                    "scene": minus,
                    "row": minus,
                    "col": minus,
                    "split": np.full(k, SPLIT_CODES[split], np.uint8),
                }

    differs = counts != ZENODO_COUNTS
    notes = (
        "Imported from the published arrays (Zenodo doi:10.5281/zenodo.7189381): no site or "
        "coordinates per patch, so only collection 1 (the mixed test split) can be scored."
        + (f" Counts {counts} differ from the Zenodo release {ZENODO_COUNTS}." if differs else "")
    )
    attrs = {
        "legacy": True,
        "description": "HR-GLDD patches imported from the published NumPy arrays.",
        "notes": notes,
        "scenes": [],
        "inputs": {n: sha256_file(folder / n) for n in _ALL_FILES},
    }
    sites = [{"id": UNKNOWN_SITE, "role": "train", "study_area": "unknown (mixed sites)"}]
    return write_release(
        out_root,
        name,
        version,
        sensor=PLANETSCOPE,
        dtype="uint16",
        nodata=0,
        batches=batches(),
        sites=sites,
        attrs=attrs,
    )


__all__ = ["LEGACY_FILES", "LegacyImportError", "ZENODO_COUNTS", "import_legacy"]
