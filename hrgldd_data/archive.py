"""The HR-GLDD release archive: a Zarr v3 group of 128x128 patches, written atomically.

Layout of a release directory ``<root>/<name>-<version>/``::

    zarr.json            group attributes (see ``Release.attrs``)
    image/               (N, 4, 128, 128) uint16, R,G,B,NIR reflectance as delivered
    mask/                (N, 128, 128) uint8, 1 = landslide
    site/ split/ scene/  (N,) int16 / uint8 / int16 codes into attrs["sites"], SPLITS, attrs["scenes"]
    row/ col/            (N,) int32 window origin (pixels) in its scene; -1 when unknown
    manifest.json        sha256 and size of every Zarr file above, plus counts

Images and masks are stored one chunk per patch inside shards of ``shard_patches`` patches, so a
release is a few dozen files (good for the Hugging Face Hub) and one patch still reads alone.

A release is written into a hidden temporary directory beside its target and renamed into place
only when complete; an existing release is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec
from zarr.storage import LocalStore

from hrgldd_data.schema import (
    BANDS,
    DATASET_SPLITS,
    FORMAT_VERSION,
    NODATA,
    PATCH_SIZE,
    SPLIT_CODES,
    SPLITS,
    UNKNOWN_SITE,
    TestSet,
)

MANIFEST = "manifest.json"
PARTIAL_MARK = ".partial-"
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class ArchiveError(Exception):
    """A release archive is missing, corrupt or inconsistent; the message names the path."""


class ReleaseExistsError(ArchiveError):
    """The release version already exists; versions are immutable."""


def parse_version(version: str) -> tuple[int, int, int]:
    """Parse a semantic version ``X.Y.Z`` (an optional leading ``v`` is accepted)."""
    match = _VERSION_RE.match(version.removeprefix("v"))
    if not match:
        raise ValueError(f"version {version!r} is not a semantic version X.Y.Z (e.g. 1.0.0)")
    return tuple(int(part) for part in match.groups())  # type: ignore[return-value]


def release_dirname(name: str, version: str) -> str:
    """Directory name of a release: ``<name>-<version>``."""
    if not _NAME_RE.match(name):
        raise ValueError(f"release name {name!r} must be lower-case letters, digits and '_'")
    parse_version(version)
    return f"{name}-{version.removeprefix('v')}"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _zarr_files(root: Path) -> list[Path]:
    """Every file of the Zarr hierarchy below ``root`` (not the manifest or cards)."""
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root)
            if rel.parts[0] == "zarr.json" or (root / rel.parts[0] / "zarr.json").exists():
                files.append(path)
    return files


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
            raise ValueError(f"images must be (k, 4, 128, 128) uint16, got {images.shape} {images.dtype}")
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
        dtypes = {"site": "int16", "split": "uint8", "scene": "int16", "row": "int32", "col": "int32"}
        table["split"] = split
        for key, dtype in dtypes.items():
            self._group.create_array(
                key, shape=(n,), dtype=dtype, chunks=(n,), compressors=self._compressor,
                fill_value=-1 if dtype.startswith("int") else 0, dimension_names=["patch"],
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
        _write_manifest(self.tmp, self.name, self.version, counts)
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


def _write_manifest(root: Path, name: str, version: str, counts: dict[str, Any]) -> None:
    files = {
        path.relative_to(root).as_posix(): {"sha256": sha256_file(path), "size": path.stat().st_size}
        for path in _zarr_files(root)
    }
    manifest = {
        "name": name,
        "version": version,
        "format_version": FORMAT_VERSION,
        "counts": counts,
        "files": files,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a release directory, with a clear error when missing or unreadable."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise ArchiveError(f"{path}: no {MANIFEST}; this is not an HR-GLDD release directory")
    try:
        return json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchiveError(f"{manifest_path}: not valid JSON ({err}); re-download the release") from err


def verify_release(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Recompute every checksum of a release; raise :class:`ArchiveError` listing each mismatch.

    Returns the manifest when everything matches. Files of the Zarr hierarchy that the manifest
    does not list are reported too (something was added after the release was written).
    """
    root = Path(path)
    manifest = read_manifest(root)
    problems = []
    for rel, entry in sorted(manifest["files"].items()):
        file = root / rel
        if not file.is_file():
            problems.append(f"missing {rel}")
        elif file.stat().st_size != entry["size"]:
            problems.append(f"{rel}: size {file.stat().st_size} != {entry['size']}")
        elif sha256_file(file) != entry["sha256"]:
            problems.append(f"{rel}: sha256 mismatch")
    listed = set(manifest["files"])
    for file in _zarr_files(root):
        rel = file.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(f"unexpected file {rel}")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ArchiveError(f"{root}: release is corrupt ({shown}). Re-download or rebuild it.")
    return manifest


@dataclass(frozen=True)
class ReleaseRef:
    """A release found on disk."""

    name: str
    version: str
    path: Path

    @property
    def version_key(self) -> tuple[int, int, int]:
        return parse_version(self.version)


def find_releases(root: str | os.PathLike[str], name: str | None = None) -> list[ReleaseRef]:
    """Releases directly below ``root`` (or ``root`` itself), oldest version first."""
    root = Path(root)
    candidates = [root] if (root / MANIFEST).is_file() else sorted(root.glob("*/" + MANIFEST))
    refs = []
    for manifest_path in candidates:
        folder = manifest_path if manifest_path.is_dir() else manifest_path.parent
        if folder.name.startswith("."):
            continue
        try:
            manifest = read_manifest(folder)
            ref = ReleaseRef(manifest["name"], manifest["version"], folder)
            ref.version_key  # noqa: B018 - validates
        except (ArchiveError, KeyError, ValueError):
            continue
        if name is None or ref.name == name:
            refs.append(ref)
    return sorted(refs, key=lambda r: (r.version_key, r.name))


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
            raise ArchiveError(f"{self.path}: unreadable Zarr release ({err}); run `hrgldd verify`") from err
        if self.attrs.get("format_version", 0) > FORMAT_VERSION:
            raise ArchiveError(
                f"{self.path}: format {self.attrs['format_version']} is newer than this hrgldd "
                f"reads ({FORMAT_VERSION}); upgrade hrgldd"
            )
        n = self._image.shape[0]
        if self._mask.shape[0] != n or any(v.size != n for v in self.table.values()):
            raise ArchiveError(f"{self.path}: arrays disagree on the number of patches; run `hrgldd verify`")
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
        return list(self.attrs["bands"])

    @property
    def sites(self) -> list[str]:
        """Site ids in code order (``table['site']`` indexes this list)."""
        return [s["id"] for s in self.attrs["sites"]]

    def site_info(self, site: str) -> dict[str, Any]:
        """The stored metadata of one site (role, trigger, CRS, Table-1 statistics, ...)."""
        for info in self.attrs["sites"]:
            if info["id"] == site:
                return info
        raise KeyError(f"site {site!r} is not in release {self.name} {self.version}; sites: {self.sites}")

    @property
    def dataset_sites(self) -> list[str]:
        """Sites that are split 60/20/20 (role ``train``), excluding ``unknown``."""
        return [s["id"] for s in self.attrs["sites"] if s.get("role") == "train" and s["id"] != UNKNOWN_SITE]

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
        """Patch indices (ascending) of a split (``train``/``val``/``test``/``unseen``) and/or sites."""
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
        """Images (k, 4, 128, 128) uint16 and masks (k, 128, 128) uint8 of the given patches."""
        if self._cache is not None:
            return self._cache[0][indices], self._cache[1][indices]
        if isinstance(indices, slice):
            return self._image[indices], self._mask[indices]
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return (np.empty((0, *self._image.shape[1:]), np.uint16), np.empty((0, *self._mask.shape[1:]), np.uint8))
        order = np.argsort(idx, kind="stable")
        images = self._image.get_orthogonal_selection((idx[order],))
        masks = self._mask.get_orthogonal_selection((idx[order],))
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return images[inverse], masks[inverse]

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Decode every patch into memory once (≈130 KiB per patch); later reads are memory reads."""
        if self._cache is None:
            self._cache = (self._image[:], self._mask[:])
        return self._cache

    def iter_patches(self, indices: np.ndarray | None = None, batch: int = 256) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(index, image, mask)`` for the given patches (all by default), reading in batches."""
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
        return f"{self.site_of(index)}_s{scene}_r{int(self.table['row'][index])}_c{int(self.table['col'][index])}"

    def patch_ids(self, indices: np.ndarray | None = None) -> list[str]:
        idx = np.arange(len(self)) if indices is None else np.asarray(indices)
        return [self.patch_id(int(i)) for i in idx]

    def georeference(self, index: int) -> tuple[str, tuple[float, ...]] | None:
        """CRS (WKT) and affine transform (a, b, c, d, e, f) of a patch, or None when unknown."""
        scene = int(self.table["scene"][index])
        if scene < 0:
            return None
        info = self.attrs["scenes"][scene]
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


__all__ = [
    "ArchiveError",
    "DATASET_SPLITS",
    "Release",
    "ReleaseExistsError",
    "ReleaseRef",
    "ReleaseWriter",
    "find_releases",
    "open_archive",
    "parse_version",
    "read_manifest",
    "release_dirname",
    "sha256_file",
    "verify_release",
]
