"""Writing a release: patches appended in bounded memory, then moved into place atomically.

A release is written into a hidden temporary directory beside its target and renamed into place
only when complete; an existing release is never overwritten, and a failed or killed write leaves
nothing behind (the next writer removes temporaries of dead processes).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec
from zarr.storage import LocalStore

from hrgldd_data.errors import ArchiveError, ReleaseExistsError
from hrgldd_data.manifest import write_manifest
from hrgldd_data.schema import (
    BANDS,
    FORMAT_VERSION,
    NODATA,
    PATCH_SIZE,
    SPLIT_CODES,
    SPLITS,
    release_dirname,
)

PARTIAL_MARK = ".partial-"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in release attributes")


def _plain(value: Any) -> Any:
    """Round-trip through JSON so that attributes hold plain types only."""
    return json.loads(json.dumps(value, default=_json_default))


class ReleaseWriter:
    """Write a release patch by patch with bounded memory, then move it into place.

    Use as a context manager; any exception (or ``KeyboardInterrupt``/``SystemExit``) removes
    the temporary directory and leaves ``root`` as it was::

        with ReleaseWriter(root, "hr_gldd", "1.0.0") as writer:
            writer.append(images, masks, site=..., scene=..., row=..., col=...)
            path = writer.finish(split=codes, attrs={...})
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        name: str,
        version: str,
        *,
        shard_patches: int = 256,
        compression_level: int = 5,
    ) -> None:
        self.root = Path(root)
        self.name = name
        self.version = version.removeprefix("v")
        self.target = self.root / release_dirname(name, version)
        self.shard_patches = int(shard_patches)
        self._compressor = BloscCodec(cname="zstd", clevel=compression_level, shuffle="bitshuffle")
        self.tmp: Path | None = None
        self._group: zarr.Group | None = None
        self._images: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self._buffered = 0
        self._written = 0
        self._table: dict[str, list[np.ndarray]] = {k: [] for k in ("site", "scene", "row", "col")}
        self._band_sums: list[np.ndarray] = []  # per patch: (4, 3) = count, sum, sum of squares
        self.finished: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> ReleaseWriter:
        if self.target.exists():
            raise ReleaseExistsError(
                f"{self.target} already exists: release {self.name} {self.version} is immutable. "
                "Bump the version in the release file (new event or labels: minor; builder fix: patch)."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self.root, self.target.name)
        self.tmp = self.root / f".{self.target.name}{PARTIAL_MARK}{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self._group = zarr.open_group(store=LocalStore(self.tmp), mode="w", zarr_format=3)
        patch = (PATCH_SIZE, PATCH_SIZE)
        self._group.create_array(
            "image",
            shape=(0, len(BANDS), *patch),
            dtype="uint16",
            chunks=(1, len(BANDS), *patch),
            shards=(self.shard_patches, len(BANDS), *patch),
            compressors=self._compressor,
            fill_value=NODATA,
            dimension_names=["patch", "band", "y", "x"],
        )
        self._group.create_array(
            "mask",
            shape=(0, *patch),
            dtype="uint8",
            chunks=(1, *patch),
            shards=(self.shard_patches, *patch),
            compressors=self._compressor,
            fill_value=0,
            dimension_names=["patch", "y", "x"],
        )
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.tmp is not None and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- writing -----------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Patches appended so far."""
        return self._written + self._buffered

    def append(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        *,
        site: np.ndarray,
        scene: np.ndarray,
        row: np.ndarray,
        col: np.ndarray,
    ) -> None:
        """Add patches: ``images`` (k, 4, 128, 128) uint16, ``masks`` (k, 128, 128) 0/1."""
        if self._group is None:
            raise RuntimeError("ReleaseWriter must be used as a context manager")
        images = np.asarray(images)
        masks = np.asarray(masks)
        k = images.shape[0]
        if images.shape[1:] != (len(BANDS), PATCH_SIZE, PATCH_SIZE) or images.dtype != np.uint16:
            raise ValueError(
                f"images must be (k, 4, 128, 128) uint16, got {images.shape} {images.dtype}"
            )
        if masks.shape != (k, PATCH_SIZE, PATCH_SIZE):
            raise ValueError(f"masks must be ({k}, 128, 128), got {masks.shape}")
        if masks.size and masks.max() > 1:
            raise ValueError("masks must be binary (0 = background, 1 = landslide)")
        if k == 0:
            return
        for key, values in (("site", site), ("scene", scene), ("row", row), ("col", col)):
            values = np.asarray(values).reshape(-1)
            if values.size != k:
                raise ValueError(f"{key} must have one value per patch ({k}), got {values.size}")
            self._table[key].append(values)
        # NODATA is 0, so plain sums over all pixels are sums over valid pixels; squares of uint16
        # fit in uint32 and their sums over a patch in uint64.
        valid_count = np.count_nonzero(images != NODATA, axis=(2, 3))
        total = images.sum(axis=(2, 3), dtype=np.uint64)
        squares = np.square(images, dtype=np.uint32).sum(axis=(2, 3), dtype=np.uint64)
        self._band_sums.append(np.stack([valid_count, total, squares], axis=-1).astype(np.float64))
        self._images.append(images)
        self._masks.append(masks.astype(np.uint8))
        self._buffered += k
        while self._buffered >= self.shard_patches:
            self._flush(self.shard_patches)

    def _flush(self, n: int) -> None:
        images = np.concatenate(self._images)
        masks = np.concatenate(self._masks)
        start, stop = self._written, self._written + n
        image_arr = self._group["image"]
        mask_arr = self._group["mask"]
        image_arr.resize((stop, *image_arr.shape[1:]))
        mask_arr.resize((stop, *mask_arr.shape[1:]))
        image_arr[start:stop] = images[:n]
        mask_arr[start:stop] = masks[:n]
        self._images = [images[n:]] if n < images.shape[0] else []
        self._masks = [masks[n:]] if n < masks.shape[0] else []
        self._buffered -= n
        self._written = stop

    def finish(
        self,
        split: np.ndarray,
        attrs: dict[str, Any],
        on_complete: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write the per-patch table, attributes and manifest, then move the release into place.

        Args:
            split: split code (``SPLIT_CODES``) of every appended patch, in append order.
            attrs: release attributes; must hold ``sites`` (list of dicts with ``id``) and
                ``scenes`` (list of dicts); name, version, bands, counts and the train-split
                normalization statistics are added here.
            on_complete: called with the complete temporary directory just before it is moved
                into place (the builder writes the dataset card there); an exception aborts.
        """
        if self._buffered:
            self._flush(self._buffered)
        n = self._written
        if n == 0:
            raise ArchiveError(f"{self.target}: no patches to write; the release would be empty")
        split = np.asarray(split, dtype=np.uint8).reshape(-1)
        if split.size != n:
            raise ValueError(f"split must have one code per patch ({n}), got {split.size}")
        table = {key: np.concatenate(parts) for key, parts in self._table.items()}
        dtypes = {
            "site": "int16",
            "split": "uint8",
            "scene": "int16",
            "row": "int32",
            "col": "int32",
        }
        table["split"] = split
        for key, dtype in dtypes.items():
            self._group.create_array(
                key,
                shape=(n,),
                dtype=dtype,
                chunks=(n,),
                compressors=self._compressor,
                fill_value=-1 if dtype.startswith("int") else 0,
                dimension_names=["patch"],
            )
            self._group[key][:] = table[key].astype(dtype)

        sites = [s["id"] for s in attrs.get("sites", [])]
        if not sites:
            raise ValueError("attrs['sites'] must list the sites of the release")
        sums = np.concatenate(self._band_sums)
        train = split == SPLIT_CODES["train"]
        pooled = sums[train].sum(axis=0) if train.any() else sums.sum(axis=0)
        count = np.maximum(pooled[:, 0], 1)
        mean = pooled[:, 1] / count
        std = np.sqrt(np.maximum(pooled[:, 2] / count - mean**2, 0))
        counts = _counts(sites, table["site"], split)
        full = {
            "format_version": FORMAT_VERSION,
            **attrs,
            "name": self.name,
            "version": self.version,
            "bands": list(BANDS),
            "patch_size": PATCH_SIZE,
            "nodata": NODATA,
            "split_names": list(SPLITS),
            "counts": counts,
            "normalization": {
                "split": "train" if train.any() else "all",
                "mean": [round(float(v), 4) for v in mean],
                "std": [round(float(v), 4) for v in std],
                "note": "per band over valid (non-nodata) pixels, reflectance as stored",
            },
        }
        self._group.attrs.update(_plain(full))
        write_manifest(self.tmp, self.name, self.version, counts)
        if on_complete is not None:
            on_complete(self.tmp)
        if self.target.exists():
            raise ReleaseExistsError(f"{self.target} appeared while building; nothing was replaced")
        os.rename(self.tmp, self.target)
        self.finished = self.target
        self.tmp = None
        return self.target


def remove_stale_partials(root: Path, dirname: str) -> None:
    """Delete temporary directories of ``dirname`` left by builds that were killed."""
    for stale in root.glob(f".{dirname}{PARTIAL_MARK}*"):
        pid = stale.name.rsplit(PARTIAL_MARK, 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _counts(sites: list[str], site_codes: np.ndarray, split: np.ndarray) -> dict[str, Any]:
    per_site = {}
    for code, site in enumerate(sites):
        here = site_codes == code
        per_site[site] = {
            name: int((here & (split == SPLIT_CODES[name])).sum()) for name in SPLITS
        } | {"total": int(here.sum())}
    return {
        "total": int(split.size),
        "splits": {name: int((split == SPLIT_CODES[name]).sum()) for name in SPLITS},
        "sites": per_site,
    }


__all__ = ["PARTIAL_MARK", "ReleaseWriter", "remove_stale_partials"]
