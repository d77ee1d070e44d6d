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
    manifest.json        sha256 and size of every Zarr file above (zarr.json included), counts

Images and masks are stored one chunk per patch inside shards of ``shard_patches`` patches, so a
release is a few dozen files (good for the Hugging Face Hub) and one patch still reads alone.
Writing is :mod:`hrgldd_data.writer`; checksums are :mod:`hrgldd_data.manifest`; finding a
release by name, version or path is :mod:`hrgldd_data.resolve`.

Integrity is the default: :func:`open_archive` refuses a release whose files do not match its
manifest (presence, sizes and unlisted files on every open; the sha256 of each file once, then
remembered while the file is unchanged) and whose per-patch table disagrees with the counts it
records. While reading, a listed file that has gone missing or a chunk that does not decode is an
:class:`~hrgldd_data.errors.ArchiveError` naming the file, never fill values. ``verify=False``
skips the checks against the manifest (not the read-time ones); ``verify="full"`` re-hashes every
file whatever was remembered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import zarr
from zarr.storage import LocalStore

from hrgldd_data.errors import ArchiveError
from hrgldd_data.manifest import (
    MANIFEST,
    check_release,
    manifest_digest,
    read_manifest,
    recorded_manifest_sha256,
)
from hrgldd_data.schema import (
    FORMAT_VERSION,
    PATCH_SIZE,
    SPLIT_CODES,
    SPLITS,
    UNKNOWN_SITE,
    TestSet,
)
from hrgldd_data.sensors import PLANETSCOPE, Sensor

T = TypeVar("T")
#: The per-patch table arrays, read into memory on open.
TABLE = ("site", "split", "scene", "row", "col")


class ManifestStore(LocalStore):
    """A read-only :class:`~zarr.storage.LocalStore` that knows which files the manifest lists.

    Zarr reads a missing chunk or shard file as fill values (zeros); for a file the manifest lists
    that would silently serve wrong data, so it is an :class:`ArchiveError` naming the file.
    """

    def __init__(
        self, root: Path | str, *, read_only: bool = True, listed: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(root, read_only=True)
        self.listed = listed

    def with_read_only(self, read_only: bool = False) -> ManifestStore:
        return type(self)(self.root, listed=self.listed)

    def _missing(self, key: str) -> ArchiveError:
        return ArchiveError(
            f"{Path(self.root) / key}: listed in {MANIFEST} but missing while reading; the release "
            "was damaged after it was opened. Run `hrgldd verify` on it, then pull or rebuild it"
        )

    async def get(self, key, prototype=None, byte_range=None):
        value = await super().get(key, prototype, byte_range)
        if value is None and key in self.listed:
            raise self._missing(key)
        return value

    async def get_partial_values(self, prototype, key_ranges):
        key_ranges = list(key_ranges)
        values = await super().get_partial_values(prototype, key_ranges)
        for (key, _), value in zip(key_ranges, values, strict=True):
            if value is None and key in self.listed:
                raise self._missing(key)
        return values


class Release:
    """An opened release: the per-patch table in memory, images and masks read on demand.

    Args:
        path: a release directory (holding ``manifest.json`` and ``zarr.json``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self._manifest_sha256: str | None = None
        store = ManifestStore(self.path, listed=frozenset(self.manifest["files"]))
        try:
            self.group = zarr.open_group(store=store, mode="r", zarr_format=3)
            self.attrs: dict[str, Any] = dict(self.group.attrs)
            self._image = self.group["image"]
            self._mask = self.group["mask"]
        except ArchiveError:
            raise
        except Exception as err:  # zarr raises many types for damaged metadata
            raise ArchiveError(
                f"{self.path}: unreadable Zarr release ({type(err).__name__}: {err}); run "
                "`hrgldd verify` on it, then pull or rebuild it"
            ) from err
        self.table: dict[str, np.ndarray] = {
            key: self._decoded(key, slice(None), lambda key=key: self.group[key][:])
            for key in TABLE
        }
        if self.attrs.get("format_version", 0) > FORMAT_VERSION:
            raise ArchiveError(
                f"{self.path}: format {self.attrs['format_version']} is newer than this hrgldd "
                f"reads ({FORMAT_VERSION}); upgrade hrgldd"
            )
        self._check_table()
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    # -- consistency -------------------------------------------------------------------------
    def _check_table(self) -> None:
        """Refuse a table that disagrees with the attributes: never drop or mislabel patches."""
        problems = []
        n = self._image.shape[0]
        if self._mask.shape[0] != n or any(v.size != n for v in self.table.values()):
            problems.append("arrays disagree on the number of patches")
        if (self.attrs.get("name"), self.attrs.get("version")) != (
            self.manifest["name"],
            self.manifest["version"],
        ):
            problems.append(
                f"zarr.json names {self.attrs.get('name')} {self.attrs.get('version')}, "
                f"{MANIFEST} names {self.manifest['name']} {self.manifest['version']}"
            )
        sites = self.attrs.get("sites")
        if not isinstance(sites, list) or not all(isinstance(s, dict) and "id" in s for s in sites):
            problems.append("zarr.json lists no sites")
            sites = []
        if not problems:
            split, site = self.table["split"], self.table["site"]
            scene, n_scenes = self.table["scene"], len(self.attrs.get("scenes") or [])
            if split.size and (split.min() < 0 or split.max() >= len(SPLITS)):
                problems.append(f"split/: codes outside 0..{len(SPLITS) - 1}")
            if site.size and (site.min() < 0 or site.max() >= len(sites)):
                problems.append(f"site/: codes outside the {len(sites)} sites")
            if scene.size and (scene.min() < -1 or scene.max() >= n_scenes):
                problems.append(f"scene/: codes outside the {n_scenes} scenes")
        counts = self.attrs.get("counts")
        if not problems and isinstance(counts, dict):
            found = {
                "total": int(n),
                "splits": {
                    name: int((self.table["split"] == code).sum())
                    for code, name in enumerate(SPLITS)
                },
            }
            recorded = {"total": counts.get("total"), "splits": counts.get("splits")}
            if found != recorded:
                problems.append(
                    f"split/ holds {found['splits']} patches per split, zarr.json records "
                    f"{recorded['splits']}"
                )
            if self.manifest.get("counts") and self.manifest["counts"] != counts:
                problems.append(f"the counts of zarr.json and {MANIFEST} differ")
        if problems:
            raise ArchiveError(
                f"{self.path}: the release is inconsistent ({'; '.join(problems)}); its files "
                "were damaged or edited. Run `hrgldd verify` on it, then pull or rebuild it"
            )

    def _decoded(self, array: str, where: Any, read: Callable[[], T]) -> T:
        """Run a Zarr read; a decode failure becomes an :class:`ArchiveError` naming the file."""
        try:
            return read()
        except ArchiveError:
            raise
        except Exception as err:  # codecs raise ValueError, RuntimeError, ... on damaged bytes
            raise ArchiveError(
                f"{self._damaged_file(array, where)}: cannot be decoded ({type(err).__name__}: "
                f"{err}); the file is damaged. Run `hrgldd verify` on {self.path}, then pull or "
                "rebuild it"
            ) from err

    def _damaged_file(self, array: str, where: Any) -> Path:
        """The first file of ``array`` covering ``where`` (indices, slice) that fails to decode."""
        try:
            arr = self.group[array]
            per_file = (arr.shards or arr.chunks)[0]
            idx = np.arange(arr.shape[0])[where] if isinstance(where, slice) else where
            for block in np.unique(np.asarray(idx, dtype=np.int64) // per_file):
                try:
                    arr[int(block) * per_file : (int(block) + 1) * per_file]
                except Exception:
                    key = arr.metadata.encode_chunk_key((int(block),) + (0,) * (arr.ndim - 1))
                    return self.path / array / key
        except Exception:
            pass
        return self.path / array

    @property
    def manifest_sha256(self) -> str:
        """sha256 of this release's ``manifest.json``: names exactly which bytes were read."""
        if self._manifest_sha256 is None:
            self._manifest_sha256 = manifest_digest(self.path)
        return self._manifest_sha256

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
            return (
                self._decoded("image", indices, lambda: self._image[indices]),
                self._decoded("mask", indices, lambda: self._mask[indices]),
            )
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return (
                np.empty((0, *self._image.shape[1:]), self._image.dtype),
                np.empty((0, *self._mask.shape[1:]), np.uint8),
            )
        order = np.argsort(idx, kind="stable")
        sel = idx[order]
        images = self._decoded("image", sel, lambda: self._image.get_orthogonal_selection((sel,)))
        masks = self._decoded("mask", sel, lambda: self._mask.get_orthogonal_selection((sel,)))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return images[inverse], masks[inverse]

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Decode every patch into memory once; later reads are memory reads."""
        if self._cache is None:
            everything = slice(None)
            self._cache = (
                self._decoded("image", everything, lambda: self._image[:]),
                self._decoded("mask", everything, lambda: self._mask[:]),
            )
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


def open_archive(path: str | os.PathLike[str], *, verify: bool | Literal["full"] = True) -> Release:
    """Open a release directory after checking it against its manifest.

    Args:
        path: the release directory.
        verify: ``True`` (default): presence, sizes and no unlisted files, and the sha256 of every
            file not verified since it last changed (remembered under ``$HRGLDD_CACHE``); for a
            pulled version also the manifest's sha256 recorded in the version index.
            ``"full"``: re-hash every file. ``False``: skip these checks (explicit opt-out; the
            table's consistency and the read-time checks still apply).

    Raises:
        ArchiveError: naming each file that does not match, and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise ArchiveError(f"{path}: no such release directory")
    if verify not in (True, False, "full"):
        raise ValueError(f"verify must be True, False or 'full', got {verify!r}")
    if verify:
        check_release(
            path,
            hashing="full" if verify == "full" else "memo",
            manifest_sha256=recorded_manifest_sha256(path),
        )
    return Release(path)


__all__ = ["Release", "open_archive"]
