"""Reading a release: the per-patch table in memory, images and masks decoded on demand.

Layout of a release directory ``<root>/<name>-<version>/``::

    zarr.json            group attributes (see ``Release.attrs``)
    image/               (N, bands, 128, 128) of ``attrs["dtype"]``: HR-GLDD stores uint16
                         R,G,B,NIR reflectance as delivered; others say what they store
                         (``Release.sensor``, ``bands``, ``dtype``, ``nodata``)
    mask/                (N, 128, 128) uint8, 1 = landslide
    site/ split/ scene/  (N,) int16 / uint8 / int32 codes into attrs["sites"], SPLITS and
                         attrs["scenes"]
    row/ col/            (N,) int32 window origin (pixels) in its scene; -1 when unknown
    manifest.json        sha256 and size of every Zarr file above, plus counts

Images and masks are stored one chunk per patch inside shards of ``shard_patches`` patches, so a
release is a few dozen files (good for the Hugging Face Hub) and one patch still reads alone.
Writing is :mod:`hrgldd_data.writer`; checksums are :mod:`hrgldd_data.manifest`; finding a
release by name, version or path is :mod:`hrgldd_data.resolve`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

from hrgldd_data.errors import ArchiveError
from hrgldd_data.manifest import read_manifest, verify_release
from hrgldd_data.schema import (
    FORMAT_VERSION,
    PATCH_SIZE,
    SPLIT_CODES,
    SPLITS,
    UNKNOWN_SITE,
    TestSet,
)
from hrgldd_data.sensors import PLANETSCOPE, Sensor


class Release:
    """An opened release: the per-patch table in memory, images and masks read on demand.

    Args:
        path: a release directory (holding ``manifest.json`` and ``zarr.json``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        try:
            self.group = zarr.open_group(store=LocalStore(self.path, read_only=True), mode="r")
            self.attrs: dict[str, Any] = dict(self.group.attrs)
            self._image = self.group["image"]
            self._mask = self.group["mask"]
            self.table: dict[str, np.ndarray] = {
                key: self.group[key][:] for key in ("site", "split", "scene", "row", "col")
            }
        except (KeyError, FileNotFoundError, ValueError, json.JSONDecodeError) as err:
            raise ArchiveError(
                f"{self.path}: unreadable Zarr release ({err}); run `hrgldd verify`"
            ) from err
        if self.attrs.get("format_version", 0) > FORMAT_VERSION:
            raise ArchiveError(
                f"{self.path}: format {self.attrs['format_version']} is newer than this hrgldd "
                f"reads ({FORMAT_VERSION}); upgrade hrgldd"
            )
        n = self._image.shape[0]
        if self._mask.shape[0] != n or any(v.size != n for v in self.table.values()):
            raise ArchiveError(
                f"{self.path}: arrays disagree on the number of patches; run `hrgldd verify`"
            )
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    # -- metadata --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.attrs["name"]

    @property
    def version(self) -> str:
        return self.attrs["version"]

    @property
    def bands(self) -> list[str]:
        """Names of the stored bands, in storage order."""
        return list(self.attrs["bands"])

    @property
    def sensor(self) -> Sensor:
        """The imagery: sensor name, ground resolution, units and each band (with wavelengths).

        Releases written before the sensor was recorded are PlanetScope R,G,B,NIR (HR-GLDD).
        """
        if "sensor" in self.attrs:
            info = self.attrs.get("band_info") or [{"name": b} for b in self.bands]
            return Sensor.from_attrs(self.attrs["sensor"], info)
        return PLANETSCOPE.with_bands(self.bands)

    @property
    def dtype(self) -> np.dtype:
        """dtype of the stored images (format-1 releases: uint16)."""
        return np.dtype(self.attrs.get("dtype", "uint16"))

    @property
    def nodata(self) -> float | int | None:
        """Stored value marking no data: 0 for PlanetScope uint16, None, or NaN for float."""
        from hrgldd_data.writer import nodata_value

        return nodata_value(self.attrs.get("nodata", 0))

    @property
    def sites(self) -> list[str]:
        """Site ids in code order (``table['site']`` indexes this list)."""
        return [s["id"] for s in self.attrs["sites"]]

    def site_info(self, site: str) -> dict[str, Any]:
        """The stored metadata of one site (role, trigger, CRS, Table-1 statistics, ...)."""
        for info in self.attrs["sites"]:
            if info["id"] == site:
                return info
        raise KeyError(
            f"site {site!r} is not in release {self.name} {self.version}; sites: {self.sites}"
        )

    @property
    def dataset_sites(self) -> list[str]:
        """Sites that are split 60/20/20 (role ``train``), excluding ``unknown``."""
        return [
            s["id"]
            for s in self.attrs["sites"]
            if s.get("role") == "train" and s["id"] != UNKNOWN_SITE
        ]

    @property
    def unseen_sites(self) -> list[str]:
        return [s["id"] for s in self.attrs["sites"] if s.get("role") == "unseen"]

    @property
    def legacy(self) -> bool:
        """True for a release imported from the published arrays (no sites, collection 1 only)."""
        return bool(self.attrs.get("legacy", False))

    @property
    def normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band mean and std of the train split, in ``bands`` order."""
        norm = self.attrs["normalization"]
        return np.asarray(norm["mean"], dtype=np.float32), np.asarray(norm["std"], dtype=np.float32)

    @property
    def percentiles(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-band 1st and 99th percentiles of the train split (for robust clipping).

        None for format-1 releases, which recorded mean and std only.
        """
        norm = self.attrs["normalization"]
        if "p01" not in norm:
            return None
        return np.asarray(norm["p01"], dtype=np.float32), np.asarray(norm["p99"], dtype=np.float32)

    def __len__(self) -> int:
        return int(self._image.shape[0])

    def __repr__(self) -> str:
        return f"Release({self.name!r}, {self.version!r}, patches={len(self)}, path='{self.path}')"

    # -- selection -------------------------------------------------------------------------
    def indices(
        self,
        split: str | None = None,
        *,
        site: str | list[str] | None = None,
    ) -> np.ndarray:
        """Patch indices (ascending) of a split (train, val, test, unseen) and/or sites."""
        keep = np.ones(len(self), dtype=bool)
        if split is not None:
            if split not in SPLIT_CODES:
                raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
            keep &= self.table["split"] == SPLIT_CODES[split]
        if site is not None:
            wanted = [site] if isinstance(site, str) else list(site)
            unknown = [s for s in wanted if s not in self.sites]
            if unknown:
                raise ValueError(f"unknown site(s) {unknown}; release sites: {self.sites}")
            codes = [self.sites.index(s) for s in wanted]
            keep &= np.isin(self.table["site"], codes)
        return np.flatnonzero(keep)

    def test_sets(self, collections: tuple[int, ...] = (1, 2, 3)) -> list[TestSet]:
        """The scored test sets of the paper's collections that this release holds.

        Collection 1 is the mixed test split; collection 2 the test split of each dataset site;
        collection 3 every patch of each unseen event. A legacy release has collection 1 only.
        """
        sets = []
        if 1 in collections:
            sets.append(TestSet(1, "test", self.indices("test")))
        if 2 in collections:
            for site in self.dataset_sites:
                idx = self.indices("test", site=site)
                if idx.size:
                    sets.append(TestSet(2, site, idx))
        if 3 in collections:
            for site in self.unseen_sites:
                idx = self.indices("unseen", site=site)
                if idx.size:
                    sets.append(TestSet(3, site, idx))
        return sets

    # -- data --------------------------------------------------------------------------------
    def read(self, indices: np.ndarray | list[int] | slice) -> tuple[np.ndarray, np.ndarray]:
        """Images (k, bands, 128, 128) of ``dtype`` and masks (k, 128, 128) uint8 of the patches."""
        if self._cache is not None:
            return self._cache[0][indices], self._cache[1][indices]
        if isinstance(indices, slice):
            return self._image[indices], self._mask[indices]
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return (
                np.empty((0, *self._image.shape[1:]), self._image.dtype),
                np.empty((0, *self._mask.shape[1:]), np.uint8),
            )
        order = np.argsort(idx, kind="stable")
        images = self._image.get_orthogonal_selection((idx[order],))
        masks = self._mask.get_orthogonal_selection((idx[order],))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return images[inverse], masks[inverse]

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Decode every patch into memory once; later reads are memory reads."""
        if self._cache is None:
            self._cache = (self._image[:], self._mask[:])
        return self._cache

    def iter_patches(
        self, indices: np.ndarray | None = None, batch: int = 256
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(index, image, mask)`` of the given patches (default all), read in batches."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices)
        for start in range(0, idx.size, batch):
            part = idx[start : start + batch]
            images, masks = self.read(part)
            for i, image, mask in zip(part, images, masks, strict=True):
                yield int(i), image, mask

    def site_of(self, index: int) -> str:
        return self.sites[int(self.table["site"][index])]

    def split_of(self, index: int) -> str:
        return SPLITS[int(self.table["split"][index])]

    def patch_id(self, index: int) -> str:
        """Stable id: ``<site>_s<scene>_r<row>_c<col>``, or ``legacy_<split>_<n>`` for imports."""
        scene = int(self.table["scene"][index])
        if scene < 0:
            return f"legacy_{index:06d}"
        row, col = int(self.table["row"][index]), int(self.table["col"][index])
        return f"{self.site_of(index)}_s{scene}_r{row}_c{col}"

    def patch_ids(self, indices: np.ndarray | None = None) -> list[str]:
        idx = np.arange(len(self)) if indices is None else np.asarray(indices)
        return [self.patch_id(int(i)) for i in idx]

    def georeference(self, index: int) -> tuple[str, tuple[float, ...]] | None:
        """CRS (WKT) and affine transform (a, b, c, d, e, f) of a patch, or None when unknown."""
        scene = int(self.table["scene"][index])
        if scene < 0:
            return None
        info = self.attrs["scenes"][scene]
        if not info.get("crs") or not info.get("transform"):  # an imported patch without CRS
            return None
        from affine import Affine

        transform = Affine(*info["transform"][:6]) @ Affine.translation(
            int(self.table["col"][index]), int(self.table["row"][index])
        )
        return info["crs"], tuple(transform)[:6]

    def bounds(self, index: int) -> tuple[str, tuple[float, float, float, float]] | None:
        """CRS (WKT) and (left, bottom, right, top) of a patch in its scene's CRS, or None."""
        geo = self.georeference(index)
        if geo is None:
            return None
        from affine import Affine
        from rasterio.transform import array_bounds

        return geo[0], array_bounds(PATCH_SIZE, PATCH_SIZE, Affine(*geo[1]))


def open_archive(path: str | os.PathLike[str], *, verify: bool = False) -> Release:
    """Open a release directory (optionally verifying every checksum first)."""
    path = Path(path)
    if not path.exists():
        raise ArchiveError(f"{path}: no such release directory")
    if verify:
        verify_release(path)
    return Release(path)


__all__ = ["Release", "open_archive"]
