"""Writing a release: patches appended in bounded memory, then moved into place atomically.

A release is written into a hidden temporary directory beside its target and renamed into place
only when complete; an existing release is never overwritten, and a failed or killed write leaves
nothing behind (the next writer removes temporaries of dead processes).

A release says what it stores (format 2): the sensor with its ground resolution and units, the
band list with wavelengths (``hrgldd_data.sensors``), the dtype (``uint8`` renderings, ``uint16``
reflectance, ``float32`` measurements) and the nodata value (0 for PlanetScope uint16, none for
PNG renderings, NaN for float). The train split's per-band statistics over valid pixels (nodata
and non-finite values excluded) are recorded: count, mean and std (exact), and the 1st and 99th
percentiles (exact for uint8, from a seeded sample of every patch otherwise), so that training
can clip outliers robustly and the same inputs always give the same bytes.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec
from zarr.storage import LocalStore

from hrgldd_data.errors import ArchiveError, ReleaseExistsError
from hrgldd_data.fileio import pid_alive
from hrgldd_data.manifest import write_manifest
from hrgldd_data.schema import (
    DTYPES,
    FORMAT_VERSION,
    NODATA,
    PATCH_SIZE,
    SPLIT_CODES,
    SPLITS,
    release_dirname,
)
from hrgldd_data.sensors import PLANETSCOPE, Sensor

PARTIAL_MARK = ".partial-"
#: uint16 and float releases estimate percentiles from this many values per patch and band.
SAMPLES_PER_PATCH = 256
#: Percentiles recorded beside mean and std (training clips outliers with them).
PERCENTILES = (1.0, 99.0)
_DEFAULT = object()


class OutputError(ArchiveError, OSError):
    """The release could not be written where asked (disk full, read-only, no permission).

    Also an :class:`OSError`, so callers that caught the operating system's error still do.
    """


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in release attributes")


def _plain(value: Any) -> Any:
    """Round-trip through strict JSON so that attributes hold plain, portable types only."""
    return json.loads(json.dumps(value, default=_json_default, allow_nan=False))


def nodata_attr(nodata: float | int | None) -> float | int | str | None:
    """The JSON form of a nodata value: a number, ``"NaN"`` (as Zarr writes NaN) or null."""
    if nodata is None:
        return None
    if isinstance(nodata, float) and math.isnan(nodata):
        return "NaN"
    return nodata


def nodata_value(attr: Any) -> float | int | None:
    """The nodata value of a release from its attribute (inverse of :func:`nodata_attr`)."""
    if attr is None:
        return None
    if isinstance(attr, str):
        return float(attr)
    return attr


def _sig(value: float) -> float:
    """Six significant digits: stable text in attributes, ample for normalization."""
    return float(f"{value:.6g}")


def _default_nodata(dtype: str) -> float | int | None:
    return {"uint16": NODATA, "uint8": None, "float32": float("nan")}[dtype]


class ReleaseWriter:
    """Write a release patch by patch with bounded memory, then move it into place.

    Use as a context manager; any exception (or ``KeyboardInterrupt``/``SystemExit``) removes
    the temporary directory and leaves ``root`` as it was::

        with ReleaseWriter(root, "hr_gldd", "1.0.0") as writer:
            writer.append(images, masks, site=..., scene=..., row=..., col=...)
            path = writer.finish(split=codes, attrs={...})

    Args:
        root: folder that receives ``<name>-<version>/``.
        name, version: the release's name and semantic version.
        sensor: what the pixels are; its bands (in order) are the stored bands.
        dtype: ``uint8``, ``uint16`` or ``float32``; appended images must have it.
        nodata: stored value marking no data; default 0 for uint16, none for uint8, NaN for
            float32. Pixels equal to it (and non-finite ones) never enter the statistics.
        stats_seed: seed of the per-patch samples that percentiles are estimated from.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        name: str,
        version: str,
        *,
        sensor: Sensor = PLANETSCOPE,
        dtype: str = "uint16",
        nodata: Any = _DEFAULT,
        shard_patches: int = 256,
        compression_level: int = 5,
        stats_seed: int = 0,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one a release stores; choose from {DTYPES}")
        if not sensor.bands:
            raise ValueError(f"sensor {sensor.name!r} lists no bands; a release needs its bands")
        names = sensor.band_names
        if len(set(names)) != len(names):
            raise ValueError(f"band names {list(names)} repeat a band")
        self.root = Path(root)
        self.name = name
        self.version = version.removeprefix("v")
        self.target = self.root / release_dirname(name, version)
        self.sensor = sensor
        self.dtype = np.dtype(dtype)
        self.nodata = _default_nodata(dtype) if nodata is _DEFAULT else nodata
        _check_nodata(self.nodata, self.dtype)
        self.shard_patches = int(shard_patches)
        self.stats_seed = int(stats_seed)
        self._compressor = BloscCodec(cname="zstd", clevel=compression_level, shuffle="bitshuffle")
        self.tmp: Path | None = None
        self._group: zarr.Group | None = None
        self._images: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        self._buffered = 0
        self._written = 0
        self._table: dict[str, list[np.ndarray]] = {k: [] for k in ("site", "scene", "row", "col")}
        self._stats = BandStatistics(len(sensor.bands), self.dtype, self.nodata, self.stats_seed)
        self.finished: Path | None = None

    @property
    def n_bands(self) -> int:
        return len(self.sensor.bands)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> ReleaseWriter:
        if self.target.exists():
            raise ReleaseExistsError(
                f"{self.target} already exists: release {self.name} {self.version} is immutable. "
                "Bump the version in the release file (new event or labels: minor; builder fix: "
                "patch)."
            )
        with self._writing():
            self.root.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(self.root, self.target.name)
            self.tmp = self.root / f".{self.target.name}{PARTIAL_MARK}{os.getpid()}"
            if self.tmp.exists():
                shutil.rmtree(self.tmp)
            self._group = zarr.open_group(store=LocalStore(self.tmp), mode="w", zarr_format=3)
            patch = (PATCH_SIZE, PATCH_SIZE)
            self._group.create_array(
                "image",
                shape=(0, self.n_bands, *patch),
                dtype=self.dtype,
                chunks=(1, self.n_bands, *patch),
                shards=(self.shard_patches, self.n_bands, *patch),
                compressors=self._compressor,
                fill_value=0 if self.nodata is None else self.nodata,
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

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn the operating system's write errors into one line naming the folder and the fix."""
        try:
            yield
        except OutputError:
            raise
        except OSError as err:
            raise output_error(err, self.root, self.target.name) from err

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
        """Add patches: ``images`` (k, bands, 128, 128) of the release dtype, ``masks`` 0/1."""
        if self._group is None:
            raise RuntimeError("ReleaseWriter must be used as a context manager")
        images = np.asarray(images)
        masks = np.asarray(masks)
        k = images.shape[0]
        if images.shape[1:] != (self.n_bands, PATCH_SIZE, PATCH_SIZE) or images.dtype != self.dtype:
            raise ValueError(
                f"images must be (k, {self.n_bands}, 128, 128) {self.dtype}, "
                f"got {images.shape} {images.dtype}"
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
        self._stats.add(images)
        self._images.append(images)
        self._masks.append(masks.astype(np.uint8))
        self._buffered += k
        while self._buffered >= self.shard_patches:
            self._flush(self.shard_patches)

    def _flush(self, n: int) -> None:
        with self._writing():
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
                ``scenes`` (list of dicts); name, version, sensor, bands, dtype, nodata, counts
                and the train-split statistics are added here.
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
        sites = [s["id"] for s in attrs.get("sites", [])]
        if not sites:
            raise ValueError("attrs['sites'] must list the sites of the release")
        table = {key: np.concatenate(parts) for key, parts in self._table.items()}
        table["split"] = split
        dtypes = {
            "site": "int16",
            "split": "uint8",
            "scene": "int32",
            "row": "int32",
            "col": "int32",
        }
        with self._writing():
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
            train = split == SPLIT_CODES["train"]
            statistics = self._stats.result(train if train.any() else np.ones(n, bool))
            counts = _counts(sites, table["site"], split)
            full = {
                "format_version": FORMAT_VERSION,
                **attrs,
                "name": self.name,
                "version": self.version,
                "sensor": self.sensor.to_attrs(),
                "bands": list(self.sensor.band_names),
                "band_info": [band.to_attrs() for band in self.sensor.bands],
                "dtype": self.dtype.name,
                "nodata": nodata_attr(self.nodata),
                "patch_size": PATCH_SIZE,
                "split_names": list(SPLITS),
                "counts": counts,
                "normalization": {"split": "train" if train.any() else "all", **statistics},
            }
            self._group.update_attributes(_plain(full))  # one write of zarr.json
            write_manifest(self.tmp, self.name, self.version, counts)
            if on_complete is not None:
                on_complete(self.tmp)
            if self.target.exists():
                raise ReleaseExistsError(
                    f"{self.target} appeared while building; nothing was replaced"
                )
            os.rename(self.tmp, self.target)
        self.finished = self.target
        self.tmp = None
        return self.target


def _check_nodata(nodata: Any, dtype: np.dtype) -> None:
    if nodata is None:
        return
    if dtype.kind == "f":
        if not isinstance(nodata, (int, float)):
            raise ValueError(f"nodata of a {dtype} release must be a number or NaN, got {nodata!r}")
        return
    info = np.iinfo(dtype)
    if isinstance(nodata, bool) or not float(nodata).is_integer():
        raise ValueError(f"nodata of a {dtype} release must be an integer, got {nodata!r}")
    if not info.min <= nodata <= info.max:
        raise ValueError(f"nodata {nodata} is outside the range of {dtype}")


def valid_pixels(values: np.ndarray, nodata: float | int | None) -> np.ndarray:
    """Where ``values`` hold data: finite and not the nodata value."""
    valid = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        valid &= values != nodata
    return valid


def _histogram_percentile(hist: np.ndarray, q: float) -> float:
    """numpy's default (linear) percentile of the values a histogram counts (bin = value)."""
    cumulative = np.cumsum(hist)
    total = int(cumulative[-1])
    position = (total - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, total - 1)
    value_low = int(np.searchsorted(cumulative, low, side="right"))
    value_high = int(np.searchsorted(cumulative, high, side="right"))
    return value_low + (position - low) * (value_high - value_low)


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight reaches ``q`` % of the total (0 when empty)."""
    if values.size == 0:
        return 0.0
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q / 100.0 * cumulative[-1], side="left"))
    return float(values[order][min(index, values.size - 1)])


class BandStatistics:
    """Per-patch summaries kept while patches are appended, pooled over any subset at the end.

    The split of a patch is often decided after it was written (the builder splits a site once
    all its patches are cut), so every patch keeps a small summary: its per-band valid count,
    mean and sum of squared deviations (pooled exactly with Chan's parallel formula), and for the
    percentiles either its exact histogram (uint8: 256 bins) or :data:`SAMPLES_PER_PATCH` valid
    values per band drawn with a generator seeded by ``(seed, patch index)`` and weighted by the
    patch's valid pixels when pooled. Nothing depends on how patches were batched, so the same
    inputs and seed give the same statistics.
    """

    def __init__(self, n_bands: int, dtype: np.dtype, nodata: float | int | None, seed: int):
        self.n_bands, self.dtype, self.nodata, self.seed = n_bands, dtype, nodata, seed
        self.exact = dtype == np.uint8
        self._moments: list[np.ndarray] = []  # (k, bands, 3): count, mean, M2
        self._parts: list[np.ndarray] = []  # (k, bands, 256) counts, or (k, bands, S) samples
        self._filled: list[np.ndarray] = []  # (k, bands) samples drawn (0 when no valid pixel)
        self._n = 0

    def add(self, images: np.ndarray) -> None:
        """Summarize ``images`` (k, bands, H, W), the next ``k`` patches."""
        for start in range(0, images.shape[0], 16):  # bounded float64 temporaries
            self._add(images[start : start + 16])

    def _add(self, images: np.ndarray) -> None:
        k = images.shape[0]
        flat = images.reshape(k, self.n_bands, -1)
        valid = valid_pixels(flat, self.nodata)
        count = valid.sum(axis=2)
        values = np.where(valid, flat, 0).astype(np.float64)
        mean = values.sum(axis=2) / np.maximum(count, 1)
        m2 = (np.where(valid, flat - mean[..., None], 0.0) ** 2).sum(axis=2)
        self._moments.append(np.stack([count, mean, m2], axis=-1))
        if self.exact:
            hist = np.zeros((k, self.n_bands, 256), np.uint16)
            for i in range(k):
                for b in range(self.n_bands):
                    hist[i, b] = np.bincount(flat[i, b][valid[i, b]], minlength=256)
            self._parts.append(hist)
        else:
            samples = np.zeros((k, self.n_bands, SAMPLES_PER_PATCH), self.dtype)
            filled = np.zeros((k, self.n_bands), np.int32)
            for i in range(k):
                rng = np.random.default_rng([self.seed, self._n + i])
                for b in range(self.n_bands):
                    good = flat[i, b][valid[i, b]]
                    if good.size:
                        samples[i, b] = good[rng.integers(0, good.size, SAMPLES_PER_PATCH)]
                        filled[i, b] = SAMPLES_PER_PATCH
            self._parts.append(samples)
            self._filled.append(filled)
        self._n += k

    def result(self, chosen: np.ndarray) -> dict[str, Any]:
        """count, mean, std, p01, p99 per band over the ``chosen`` patches (a boolean mask)."""
        moments = np.concatenate(self._moments)[chosen]
        count, means, m2s = moments[..., 0], moments[..., 1], moments[..., 2]
        total = count.sum(axis=0)
        mean = (count * means).sum(axis=0) / np.maximum(total, 1)
        m2 = (m2s + count * (means - mean) ** 2).sum(axis=0)
        var = m2 / np.maximum(total, 1)
        parts = np.concatenate(self._parts)[chosen]
        if self.exact:
            hist = parts.sum(axis=0, dtype=np.int64)
            low = [_histogram_percentile(h, PERCENTILES[0]) if h.sum() else 0.0 for h in hist]
            high = [_histogram_percentile(h, PERCENTILES[1]) if h.sum() else 0.0 for h in hist]
            method = "exact: every valid value counted"
        else:
            filled = np.concatenate(self._filled)[chosen] > 0
            low, high = [], []
            for b in range(self.n_bands):
                values = parts[:, b][filled[:, b]].astype(np.float64)
                # Each sample stands for count / S pixels of its patch: no patch outweighs another.
                weights = np.broadcast_to(count[filled[:, b], b][:, None], values.shape)
                low.append(_weighted_percentile(values.ravel(), weights.ravel(), PERCENTILES[0]))
                high.append(_weighted_percentile(values.ravel(), weights.ravel(), PERCENTILES[1]))
            method = (
                "mean and std exact; percentiles from "
                f"{SAMPLES_PER_PATCH} valid values per patch and band drawn with seed {self.seed}, "
                "weighted by the patch's valid pixels"
            )
        return {
            "count": [int(c) for c in total],
            "mean": [_sig(v) for v in mean],
            "std": [_sig(math.sqrt(max(v, 0.0))) for v in var],
            "p01": [_sig(v) for v in low],
            "p99": [_sig(v) for v in high],
            "method": method,
            "note": "per band over valid pixels (nodata and non-finite values excluded), as stored",
        }


def output_error(err: OSError, root: Path, release: str) -> OutputError:
    """One line naming the output folder, what the system said and what to do."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free space there or choose another --out"
        problem = "no space left on the device"
    elif err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = "choose a writable --out or fix the folder's permissions"
        problem = "the folder is not writable"
    else:
        fix = "check the folder and the disk, or choose another --out"
        problem = "writing failed"
    detail = err.strerror or str(err)
    return OutputError(
        f"{root}: cannot write release {release} there: {problem} ({detail}); {fix}. "
        "Nothing was left behind."
    )


def remove_stale_partials(root: Path, dirname: str) -> None:
    """Delete temporary directories of ``dirname`` left by builds that were killed."""
    for stale in root.glob(f".{dirname}{PARTIAL_MARK}*"):
        pid = stale.name.rsplit(PARTIAL_MARK, 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
            continue
        shutil.rmtree(stale, ignore_errors=True)


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


__all__ = [
    "PARTIAL_MARK",
    "OutputError",
    "ReleaseWriter",
    "BandStatistics",
    "nodata_attr",
    "nodata_value",
    "remove_stale_partials",
    "valid_pixels",
]
