"""TorchGeo datasets and datamodule for HR-GLDD.

* :class:`HRGLDD` serves the 128x128 patches of a release (a :class:`NonGeoDataset`).
* :class:`HRGLDDDataModule` trains on it with the release's own normalization statistics,
  mask-safe augmentations, and the paper's three test collections as separate test loaders.
* :class:`HRGLDDSegmentationTask` is TorchGeo's ``SemanticSegmentationTask`` scoring each of
  those test loaders on its own (the stock task pools them), so ``torchgeo test`` reports the
  per-test-set scores of the product's evaluator; ``configs/torchgeo/hrgldd_unet.yaml`` trains
  it with ``torchgeo fit``.
* :class:`PlanetScopeScenes` and :class:`LandslideInventory` read the raw inputs of a new
  event (4-band scenes, inventory polygons) so that TorchGeo samplers can cut new patches.

Importing this module imports torchgeo, hence torchvision: on the CPU torch of this project that
needs the compatibility hook of :mod:`hrgldd_data.compat` (``make venv`` installs it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.data import DataLoader, default_collate
from torchgeo.datamodules import NonGeoDataModule
from torchgeo.datasets import DatasetNotFoundError, NonGeoDataset, RasterDataset, VectorDataset
from torchgeo.datasets.errors import RGBBandsMissingError
from torchgeo.trainers import SemanticSegmentationTask
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryRecall,
)

from hrgldd_data.archive import Release, open_archive
from hrgldd_data.errors import ArchiveError, HrglddError, ReleaseNotFoundError
from hrgldd_data.manifest import read_manifest
from hrgldd_data.rendering import stretch
from hrgldd_data.resolve import locate_release
from hrgldd_data.schema import (
    BANDS,
    COLLECTIONS,
    DATASET_SPLITS,
    FALSE_COLOUR_BANDS,
    PATCH_SIZE,
    RGB_BANDS,
    release_dirname,
)
from hrgldd_data.shards import read_patches
from hrgldd_data.transforms import DEFAULT_METHOD, METHODS, Normalization, PatchTransform

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]


class HRGLDDNotFoundError(DatasetNotFoundError, ReleaseNotFoundError):
    """No release matched: TorchGeo's error type carrying hrgldd's message.

    It is a :class:`~torchgeo.datasets.DatasetNotFoundError` (what TorchGeo users catch) and a
    :class:`~hrgldd_data.errors.ReleaseNotFoundError` (what the ``hrgldd`` command catches); the
    message says where the release was looked for, what was found and how to get it.
    """

    def __init__(self, dataset: HRGLDD, cause: Exception) -> None:
        """Build the message from the dataset's arguments and the resolver's error."""
        what = ", ".join(
            f"{key}={getattr(dataset, key)!r}"
            for key in ("root", "version", "name", "repo", "download")
            if getattr(dataset, key) is not None
        )
        hint = (
            ""
            if dataset.download
            else " With download=True the release is pulled from the Hugging Face Hub into "
            "hrgldd's cache (verified)"
            + (" and linked into root." if dataset.root is not None else ".")
        )
        FileNotFoundError.__init__(self, f"HR-GLDD release not found ({what}): {cause}{hint}")


class SampleBatch(Sequence[Sample]):
    """The samples of one batch, held as batch tensors (what :meth:`HRGLDD.__getitems__` returns).

    ``batch[j]`` is sample ``j`` exactly as :meth:`HRGLDD.__getitem__` gives it (its tensors are
    views into the batch tensors); :meth:`collated` is what ``default_collate`` would make of
    all of them, without building them first. ``crs`` and ``bounds`` are left out of a sample
    whose scene has no georeference (a patch imported without one), and out of the collated
    batch unless every sample has them.
    """

    def __init__(
        self,
        *,
        image: Tensor,
        mask: Tensor,
        site: list[str],
        index: Tensor,
        crs: list[str],
        bounds: Tensor,
    ) -> None:
        self._tensors = {"image": image, "mask": mask, "site": site, "index": index}
        self._crs, self._bounds = crs, bounds
        self._built: list[Sample] | None = None

    def __len__(self) -> int:
        return len(self._tensors["site"])

    def __getitem__(self, j: int | slice) -> Any:
        return self._samples()[j]

    def _samples(self) -> list[Sample]:
        """The per-sample dicts, built on first use (``collated`` never needs them)."""
        if self._built is None:
            t = self._tensors
            images, masks = t["image"].unbind(0), t["mask"].unbind(0)
            bounds = self._bounds.unbind(0)
            self._built = []
            for j, (site, index, crs) in enumerate(
                zip(t["site"], t["index"].tolist(), self._crs, strict=True)
            ):
                sample: Sample = {"image": images[j], "mask": masks[j]}
                sample["site"], sample["index"] = site, index
                if crs:
                    sample["crs"], sample["bounds"] = crs, bounds[j]
                self._built.append(sample)
        return self._built

    def collated(self) -> dict[str, Any]:
        """The batch as ``default_collate`` makes it: stacked tensors, lists of strings."""
        batch = dict(self._tensors, site=list(self._tensors["site"]))
        if all(self._crs):
            batch["crs"], batch["bounds"] = list(self._crs), self._bounds
        return batch


class HRGLDD(NonGeoDataset):
    """HR-GLDD: High-Resolution Global Landslide Detector Database.

    PlanetScope surface reflectance (3 m, 16 bit) of ten rainfall- and earthquake-triggered
    landslide events, cut into 128x128 patches that each hold some landslide, with binary masks
    rasterized from the event inventories. Eight events are split 60/20/20 per site into
    train/val/test; two are held out as unseen events.

    Dataset features:

    * 4 bands in the order red, green, blue, near-infrared (uint16 reflectance, served as float32)
    * masks: 0 = background, 1 = landslide
    * per patch: site, index in the release, and CRS (WKT or EPSG code) and bounds when known

    Selection (the paper's Table 2):

    * ``split`` = ``train``/``val``/``test`` with ``collection=None``: that split of the dataset
      sites (``sites`` narrows it to some sites)
    * ``split='test', collection=1``: the mixed test set of all dataset sites
    * ``split='test', collection=2``: the test split of the given dataset ``sites`` (all by default)
    * ``split='test', collection=3``: every patch of the given unseen events (all by default)

    A release imported from the published Zenodo arrays (``legacy``) has no sites or coordinates
    and serves collection 1 only.

    Images are *not* normalized here: :class:`HRGLDDDataModule` normalizes with the release's train
    statistics. The selected patches are decoded into memory on first access (about 130 KiB per
    patch) because one Zarr read per patch costs about a millisecond; call :meth:`preload` before
    creating DataLoader workers so that forked workers share the arrays.

    If you use this dataset in your research, please cite:

    * https://doi.org/10.5194/essd-15-3283-2023
    """

    all_bands: tuple[str, ...] = BANDS
    rgb_bands: tuple[str, ...] = RGB_BANDS
    false_colour_bands: tuple[str, ...] = FALSE_COLOUR_BANDS
    splits: tuple[str, ...] = DATASET_SPLITS
    collections: tuple[int, ...] = tuple(COLLECTIONS)
    classes: tuple[str, ...] = ("background", "landslide")

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        bands: Sequence[str] | None = None,
        transforms: Transform | None = None,
        download: bool = False,
        checksum: bool = False,
        collection: int | None = None,
        sites: str | Sequence[str] | None = None,
        version: str | None = None,
        name: str | None = None,
        repo: str | None = None,
    ) -> None:
        """Initialize a new HRGLDD dataset.

        The first six arguments are TorchGeo's, in TorchGeo's order; hrgldd's own follow.

        Args:
            root: a release directory or a folder of releases (the only place looked at);
                ``None`` looks where :func:`hrgldd_data.resolve.locate_release` looks
                (``$HRGLDD_ARCHIVE``, ``./data/releases``, the cache of pulled versions).
            split: one of ``train``, ``val``, ``test``.
            bands: bands to return, in this order; every band of the release by default
                (HR-GLDD: red, green, blue, nir; imported releases have their own).
            transforms: a function that takes a sample dict and returns a transformed one.
            download: when no release matches, pull it from the Hugging Face Hub into hrgldd's
                cache (verified against its manifest) and, when ``root`` is given, link it into
                ``root`` as ``<name>-<version>`` so that later calls with the same ``root`` find
                it without downloading.
            checksum: re-hash every file of the release first. Without it the release is still
                checked against its manifest (sizes, no unlisted files, and each file's sha256
                once, remembered under ``$HRGLDD_CACHE``).
            collection: ``None`` for a plain split, or 1, 2, 3 for a test collection (needs
                ``split='test'``).
            sites: site ids to keep (dataset sites, or unseen events for collection 3).
            version: release version ``X.Y.Z``; the newest found by default.
            name: release name to require (``hr_gldd``, ``hr_gldd_sample``, ...); ``None`` takes
                any name, so one call opens the sample or the full release alike.
            repo: Hugging Face dataset repo to pull from and whose pull cache to read
                (default: ``$HRGLDD_REPO``, else ``hr-gldd/hr-gldd``).

        Raises:
            ValueError: if ``split``, ``collection``, ``sites`` or ``bands`` is not a choice.
            ArchiveError: if the release does not match its manifest (the message names the file).
            HRGLDDNotFoundError: (a ``DatasetNotFoundError``) if no release matches and it
                cannot be downloaded; the message says where it looked and how to get one.
        """
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        if collection is not None and collection not in self.collections:
            raise ValueError(
                f"collection must be None or one of {list(self.collections)}, got {collection!r}"
            )
        if collection is not None and split != "test":
            raise ValueError(
                f"collection={collection} selects a test set: use split='test', not {split!r}"
            )
        self.root = root
        self.split = split
        self.collection = collection
        self.sites = (
            [sites] if isinstance(sites, str) else (list(sites) if sites is not None else None)
        )
        self.version = version
        self.bands = tuple(bands) if bands is not None else None
        self.transforms = transforms
        self.download = download
        self.checksum = checksum
        self.name = name
        self.repo = repo

        self.release = open_archive(self._locate(), verify="full" if checksum else True)
        self.version = self.release.version
        self.all_bands = tuple(self.release.bands)
        if self.bands is None:
            self.bands = self.all_bands
        bad = [b for b in self.bands if b not in self.all_bands]
        if bad or not self.bands:
            raise ValueError(
                f"bands must be a non-empty subset of the release's {list(self.all_bands)}, "
                f"got {list(self.bands)}"
            )
        self.indices = self._select(self.release)
        self._band_index = [self.release.bands.index(b) for b in self.bands]
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._rows: np.ndarray | None = None  # row of each selected patch in _images/_masks
        self._geo: tuple[list[str], np.ndarray] | None = None
        self._site_names: list[str] = []

    # -- finding the release -----------------------------------------------------------------
    def _locate(self) -> Path:
        """The release directory: found locally, else (``download=True``) pulled and linked."""
        root, version, name, repo = self.root, self.version, self.name, self.repo
        try:
            if root is None:
                return locate_release(version=version, name=name, repo=repo, download=self.download)
            return locate_release(root, version=version, name=name)
        except ReleaseNotFoundError as err:
            if not (self.download and root is not None):
                raise HRGLDDNotFoundError(self, err) from err
            cause = err
        try:
            return self._download_into_root()
        except HrglddError as err:
            raise HRGLDDNotFoundError(self, f"{cause} Downloading failed: {err}") from err

    def _download_into_root(self) -> Path:
        """Pull into hrgldd's verified cache, then link ``root/<name>-<version>`` to it."""
        from hrgldd_data.hub.client import pull

        assert self.root is not None
        pulled = pull(self.version, self.repo)
        manifest = read_manifest(pulled)
        got_name, got_version = str(manifest["name"]), str(manifest["version"])
        if self.name is not None and got_name != self.name:
            raise ReleaseNotFoundError(
                f"the Hub repo holds {got_name} {got_version}, not {self.name}; pass repo= for "
                f"the repo of {self.name}"
            )
        root = Path(self.root).expanduser()
        if root.is_file():
            raise ArchiveError(f"{root}: root must be a folder to link the release into")
        root.mkdir(parents=True, exist_ok=True)
        link = root / release_dirname(got_name, got_version)
        if link.is_symlink() and link.resolve() != pulled.resolve():
            link.unlink()  # a link to an older or removed cache copy
        if not link.exists():
            try:
                link.symlink_to(pulled.resolve(), target_is_directory=True)
            except OSError:  # no symlinks here (some Windows set-ups): copy instead
                shutil.copytree(pulled, link)
        return locate_release(root, version=got_version, name=got_name)

    # -- selection ---------------------------------------------------------------------------
    def _select(self, release: Release) -> np.ndarray:
        label = f"release {release.name} {release.version} ({release.path})"
        if self.collection is None:
            return release.indices(self.split, site=self.sites)
        if self.collection == 1:
            if self.sites is not None:
                raise ValueError(
                    "collection 1 is the mixed test set of all dataset sites; "
                    "use collection=2 with sites=[...] for the test set of some sites"
                )
            return release.indices("test")
        if release.legacy:
            raise ValueError(
                f"{label} is imported from the published arrays: it has no sites and serves "
                "collection 1 only; use collection=1 or a release built with sites"
            )
        choices = release.dataset_sites if self.collection == 2 else release.unseen_sites
        kind = "dataset sites" if self.collection == 2 else "unseen events"
        if not choices:
            raise ValueError(f"{label} has no {kind}, so it has no collection {self.collection}")
        wanted = self.sites if self.sites is not None else choices
        bad = [s for s in wanted if s not in choices]
        if bad:
            raise ValueError(f"collection {self.collection} takes {kind} {choices}; got {bad}")
        return release.indices("test" if self.collection == 2 else "unseen", site=wanted)

    # -- data ----------------------------------------------------------------------------------
    def preload(self) -> HRGLDD:
        """Make the selected patches readable now (otherwise done on first access).

        They are read from the release's decoded copy in hrgldd's cache
        (:mod:`hrgldd_data.decoded`, written by the first dataset that reads the release),
        memory-mapped: nothing is copied up front, each batch gathers its rows, and forked
        DataLoader workers share the pages. Without the copy (``HRGLDD_DECODED_CACHE=0``, no
        space) the selection is decoded into memory, whole shards at a time
        (:mod:`hrgldd_data.shards`); call it before workers fork so that they share those arrays.
        """
        if self._images is None:
            from hrgldd_data.decoded import decoded_arrays

            decoded = decoded_arrays(self.release)
            if decoded is not None:
                self._images, self._masks = decoded
                self._rows = self.indices
            else:
                self._images, self._masks = read_patches(self.release, self.indices)
                self._rows = np.arange(self.indices.size)
            self._geo = _patch_bounds(self.release, self.indices)
            names, codes = self.release.sites, self.release.table["site"][self.indices]
            self._site_names = [names[int(c)] for c in codes]
        return self

    def __len__(self) -> int:
        """Number of patches selected."""
        return int(self.indices.size)

    def __getitem__(self, index: int) -> Sample:
        """Return patch ``index`` of the selection.

        Returns:
            ``image`` float32 [C, 128, 128] reflectance, ``mask`` int64 [128, 128], ``site``,
            ``index`` (the patch's index in the release) and, when known, ``crs`` and
            ``bounds`` float64 [4] (left, bottom, right, top in that CRS).
        """
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> Sequence[Sample]:
        """Return several patches at once (DataLoader calls this for each batch).

        One vectorized gather and conversion for the whole batch instead of one per patch. Without
        ``transforms`` the result is a :class:`SampleBatch`: its items are ordinary samples (views
        into the batch tensors), so ``default_collate`` works as usual, and :meth:`collate` hands
        the batch tensors over without building and stacking per-sample dicts (the DataLoader's
        per-batch cost then matches a plain memory-mapped array's). With ``transforms`` each
        sample is transformed and a list is returned.
        """
        n = len(self)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = idx[(idx < -n) | (idx >= n)]
        if bad.size:
            raise IndexError(f"index {int(bad[0])} is out of range for {n} patches")
        idx = np.where(idx < 0, idx + n, idx)
        self.preload()
        assert self._images is not None and self._masks is not None and self._geo is not None
        assert self._rows is not None
        rows = self._rows[idx]
        picked = self._images[rows]
        if self._band_index != list(range(picked.shape[1])):
            picked = picked[:, self._band_index]
        crs_list, bounds_all = self._geo
        batch = SampleBatch(
            image=torch.from_numpy(picked.astype(np.float32)),
            mask=torch.from_numpy(self._masks[rows].astype(np.int64)),
            site=[self._site_names[k] for k in idx.tolist()],
            index=torch.from_numpy(self.indices[idx].astype(np.int64)),
            crs=[crs_list[k] for k in idx.tolist()],
            bounds=torch.from_numpy(bounds_all[idx]),
        )
        if self.transforms is None:
            return batch
        return [self.transforms(sample) for sample in batch]

    @staticmethod
    def collate(samples: Sequence[Sample]) -> dict[str, Any]:
        """``default_collate``, except that a :class:`SampleBatch` is returned as its tensors.

        The datamodule uses this; with a plain DataLoader pass ``collate_fn=HRGLDD.collate`` for
        the same speed. Any other sequence of samples (e.g. after ``transforms``) is collated by
        ``default_collate``.
        """
        if isinstance(samples, SampleBatch):
            return samples.collated()
        return default_collate(list(samples))

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the open Zarr group (spawned workers reopen the release by path) and
        without memory maps (pickling one would copy the whole release; workers map it again)."""
        state = self.__dict__.copy()
        state["release"] = str(self.release.path)
        if isinstance(self._images, np.memmap):
            state["_images"] = state["_masks"] = state["_rows"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Reopen the release after unpickling."""
        state["release"] = Release(state["release"])
        self.__dict__.update(state)

    def __str__(self) -> str:
        """Short description: release, selection and size."""
        what = f"collection {self.collection}" if self.collection else f"split {self.split}"
        release = f"{self.release.name} {self.release.version}"
        return f"HRGLDD {release}: {what}, sites={self.sites}, {len(self)} patches"

    # -- plotting ------------------------------------------------------------------------------
    def plot(self, sample: Sample, show_titles: bool = True, suptitle: str | None = None) -> Figure:
        """Plot true colour, false colour (NIR, R, G as in the paper), mask and any prediction.

        Args:
            sample: a sample returned by :meth:`__getitem__` (optionally with ``prediction``).
            show_titles: whether to title each panel.
            suptitle: optional title of the whole figure.

        Raises:
            RGBBandsMissingError: if the dataset was created without red, green and blue.
        """
        if not set(self.rgb_bands) <= set(self.bands):
            raise RGBBandsMissingError()
        image = sample["image"].numpy()
        panels = [
            ("True colour (R,G,B)", stretch(image, [self.bands.index(b) for b in self.rgb_bands]))
        ]
        if set(self.false_colour_bands) <= set(self.bands):
            idx = [self.bands.index(b) for b in self.false_colour_bands]
            panels.append(("False colour (NIR,R,G)", stretch(image, idx)))
        panels.append(("Mask", np.asarray(sample["mask"]).squeeze()))
        if "prediction" in sample:
            panels.append(("Prediction", np.asarray(sample["prediction"]).squeeze()))

        fig, axs = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
        for ax, (title, data) in zip(axs, panels, strict=True):
            if data.ndim == 2:
                ax.imshow(data, vmin=0, vmax=1, cmap="gray", interpolation="none")
            else:
                ax.imshow(data)
            ax.axis("off")
            if show_titles:
                ax.set_title(title)
        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig


def _patch_bounds(release: Release, indices: np.ndarray) -> tuple[list[str], np.ndarray]:
    """CRS and (left, bottom, right, top) of patches, vectorized; as :meth:`Release.bounds`."""
    crs = [""] * indices.size
    bounds = np.full((indices.size, 4), np.nan)
    scenes = release.table["scene"][indices]
    info = release.attrs["scenes"]
    # an imported patch without CRS (e.g. PNG) has no transform: unknown, as in Release.bounds
    located = np.array([bool(s.get("crs") and s.get("transform")) for s in info] + [False])
    known = located[scenes]  # scene -1 (unknown) picks the final False
    if not known.any():
        return crs, bounds
    transforms = np.array(
        [s["transform"][:6] if s.get("transform") else [np.nan] * 6 for s in info],
        dtype=np.float64,
    )
    a, b, c, d, e, f = transforms[scenes[known]].T
    col = release.table["col"][indices][known].astype(np.float64)
    row = release.table["row"][indices][known].astype(np.float64)
    c, f = a * col + b * row + c, d * col + e * row + f  # the window's origin
    size = float(PATCH_SIZE)
    # rasterio.transform.array_bounds: exact for north-up transforms, corner hull otherwise
    xs = np.stack([c, c + b * size, c + a * size + b * size, c + a * size])
    ys = np.stack([f, f + e * size, f + d * size + e * size, f + d * size])
    north_up = (b == 0) & (d == 0)
    west = np.where(north_up, c, xs.min(0))
    south = np.where(north_up, f + e * size, ys.min(0))
    east = np.where(north_up, c + a * size, xs.max(0))
    north = np.where(north_up, f, ys.max(0))
    bounds[known] = np.stack([west, south, east, north], axis=1)
    for k, scene in zip(np.flatnonzero(known).tolist(), scenes[known].tolist(), strict=True):
        crs[k] = info[scene]["crs"]
    return crs, bounds


class HRGLDDDataModule(NonGeoDataModule):
    """LightningDataModule for HR-GLDD.

    * Normalization: :class:`hrgldd_data.transforms.Normalization` with the release's own
      train-split statistics (nodata to 0, clipped to the 1st/99th percentiles when ``robust``,
      then per-band mean and std), not torchgeo's 0-255 default that suits 8-bit imagery; the
      same implementation the baselines train with.
    * Training augmentations that keep masks exact: one of the eight flips and quarter turns
      per patch (:func:`hrgldd_data.transforms.dihedral`, as the baselines).
    * Testing: one loader per test set of the paper's collections, in :attr:`test_set_keys`
      order (``c1/test``, ``c2/<site>`` ..., ``c3/<site>`` ...); a legacy release has ``c1/test``.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        batch_size: int = 4,
        num_workers: int = 0,
        test_collections: Sequence[int] = (1, 2, 3),
        normalization: str = DEFAULT_METHOD,
        **kwargs: Any,
    ) -> None:
        """Initialize a new HRGLDDDataModule.

        Args:
            batch_size: size of each mini-batch (the paper's best: 4).
            num_workers: number of DataLoader worker processes.
            test_collections: which collections :meth:`test_dataloader` serves.
            normalization: ``robust`` or ``standardize`` (:mod:`hrgldd_data.transforms`).
            **kwargs: passed to :class:`HRGLDD` (``root``, ``version``, ``bands``, ``sites``, ...).
        """
        for key in ("split", "collection"):
            if key in kwargs:
                raise ValueError(f"{key}= is chosen by the datamodule per stage; do not pass it")
        bad = [c for c in test_collections if c not in COLLECTIONS]
        if bad:
            raise ValueError(f"test_collections must be a subset of {list(COLLECTIONS)}, got {bad}")
        if normalization not in METHODS:
            raise ValueError(f"normalization must be one of {list(METHODS)}, got {normalization!r}")
        super().__init__(HRGLDD, batch_size, num_workers, **kwargs)
        self.normalization_method = normalization
        self.collate_fn = HRGLDD.collate
        self.test_collections = tuple(test_collections)
        self.test_sets: list[tuple[str, HRGLDD]] = []

    @property
    def test_set_keys(self) -> list[str]:
        """Keys of the test loaders, in order (after ``setup('test')``)."""
        return [key for key, _ in self.test_sets]

    def _set_normalization(self, dataset: HRGLDD) -> None:
        normalization = Normalization.from_release(
            dataset.release, self.normalization_method, dataset.bands
        )
        self.normalization = normalization
        self.mean = torch.tensor(normalization.mean, dtype=torch.float32)
        self.std = torch.tensor(normalization.scale, dtype=torch.float32)
        self.aug = PatchTransform(normalization)
        self.train_aug = PatchTransform(normalization, augment=True)

    def setup(self, stage: str) -> None:
        """Create the datasets of a stage: ``fit``, ``validate``, ``test`` or ``predict``."""
        if stage == "fit":
            self.train_dataset = HRGLDD(split="train", **self.kwargs)
        if stage in ("fit", "validate"):
            self.val_dataset = HRGLDD(split="val", **self.kwargs)
        if stage in ("test", "predict"):
            self._setup_test_sets()
            self.test_dataset = self.test_sets[0][1] if self.test_sets else None
            self.predict_dataset = self.test_dataset
        if self.num_workers > 0:  # decode once here, so that forked workers share the arrays
            for dataset in (self.train_dataset, self.val_dataset, *(d for _, d in self.test_sets)):
                if dataset is not None:
                    dataset.preload()  # type: ignore[union-attr]
        first = self.train_dataset or self.val_dataset or self.test_dataset
        if first is not None:
            self._set_normalization(first)  # type: ignore[arg-type]

    def _setup_test_sets(self) -> None:
        kwargs = {k: v for k, v in self.kwargs.items() if k != "sites"}
        base = HRGLDD(split="test", collection=1, **kwargs)
        release = base.release
        sets: list[tuple[str, HRGLDD]] = []
        for test_set in release.test_sets(self.test_collections):
            if test_set.collection == 1:
                sets.append((test_set.key, base))
            else:
                dataset = HRGLDD(
                    split="test", collection=test_set.collection, sites=[test_set.name], **kwargs
                )
                sets.append((test_set.key, dataset))
        self.test_sets = sets

    def test_dataloader(self) -> list[DataLoader[Sample]]:  # type: ignore[override]
        """One loader per test set, in :attr:`test_set_keys` order."""
        return [
            DataLoader(
                dataset,
                batch_size=self.test_batch_size or self.batch_size,
                shuffle=False,
                num_workers=self.num_workers,
                collate_fn=self.collate_fn,
                persistent_workers=self.num_workers > 0,
            )
            for _, dataset in self.test_sets
        ]


#: Threshold on the landslide probability, as in the product's evaluator.
THRESHOLD = 0.5
#: Scores of each test set: landslide-class precision, recall, F1 and IoU.
TEST_SET_METRICS = ("precision", "recall", "f1", "iou")


class HRGLDDSegmentationTask(SemanticSegmentationTask):
    """TorchGeo's ``SemanticSegmentationTask``, scoring every test set of the datamodule alone.

    The stock task keeps one test metric for all test dataloaders, so after the first loader it
    logs a running value pooled over the loaders seen so far, labelled ``dataloader_idx_N``. This
    task keeps one metric collection per test dataloader and logs, for each test set of
    :class:`HRGLDDDataModule` (its ``test_set_keys``: ``c1/test``, ``c2/<site>``,
    ``c3/<site>``), ``<key>/precision``, ``<key>/recall``, ``<key>/f1``, ``<key>/iou`` and
    ``<key>/loss``. The scores are those of the product's evaluator
    (``baselines.evaluate.score_test_sets``, pooled reduction): landslide class, probability
    strictly above 0.5, true/false positives and false negatives summed over every pixel of the
    test set, a ratio with a zero denominator is 0. After ``trainer.test`` they are also in
    :attr:`test_scores`.

    The landslide probability is ``sigmoid`` of the output for ``task='binary'`` (one output
    channel) and ``softmax(...)[:, 1]`` for ``task='multiclass'`` with ``num_classes=2``.
    Training and validation are the stock task's. Other datamodules' test loaders are scored
    the same way and named ``test_<index>``.

    .. versionadded:: 0.1
    """

    def landslide_probability(self, logits: Tensor) -> Tensor:
        """Per-pixel landslide probability ``(B, H, W)`` from the model output."""
        task = self.hparams["task"]
        if task == "multiclass":
            if logits.shape[1] != 2:
                raise ValueError(
                    f"task='multiclass' needs num_classes=2 (background, landslide), got "
                    f"{logits.shape[1]} classes"
                )
            return logits.softmax(dim=1)[:, 1]
        if logits.shape[1] != 1:
            raise ValueError(f"task={task!r} needs one output channel, got {logits.shape[1]}")
        return logits[:, 0].sigmoid()

    @staticmethod
    def _test_set_metrics() -> MetricCollection:
        kwargs = {"threshold": THRESHOLD, "zero_division": 0}
        return MetricCollection(
            {
                "precision": BinaryPrecision(**kwargs),
                "recall": BinaryRecall(**kwargs),
                "f1": BinaryF1Score(**kwargs),
                "iou": BinaryJaccardIndex(**kwargs),
            },
            compute_groups=True,
        )

    def on_test_start(self) -> None:
        """One metric collection per test dataloader, named after the datamodule's test sets."""
        loaders = self.trainer.test_dataloaders
        count = len(loaders) if isinstance(loaders, Sequence) else 1
        keys = list(getattr(self.trainer.datamodule, "test_set_keys", None) or [])
        self.test_set_names = keys if len(keys) == count else [f"test_{i}" for i in range(count)]
        self.test_set_scores = torch.nn.ModuleList(
            [self._test_set_metrics() for _ in range(count)]
        ).to(self.device)
        self.test_scores: dict[str, dict[str, float]] = {}

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Update the metrics of this dataloader's test set and log its loss."""
        x, y = batch["image"], batch["mask"]
        logits = self(x)
        probs = self.landslide_probability(logits)
        self.test_set_scores[dataloader_idx].update(probs, y)
        target = y.float() if self.hparams["loss"] == "bce" else y
        output = logits.squeeze(1) if self.hparams["task"] != "multiclass" else logits
        self.log(
            f"{self.test_set_names[dataloader_idx]}/loss",
            self.criterion(output, target),
            batch_size=x.shape[0],
            add_dataloader_idx=False,
        )

    def on_test_epoch_end(self) -> None:
        """Compute, log and keep each test set's scores, then reset its metrics."""
        for name, metrics in zip(self.test_set_names, self.test_set_scores, strict=True):
            if not metrics["f1"].update_called:
                continue
            values = metrics.compute()
            self.test_scores[name] = {key: float(values[key]) for key in TEST_SET_METRICS}
            for key in TEST_SET_METRICS:
                self.log(f"{name}/{key}", values[key], add_dataloader_idx=False)
            metrics.reset()


class PlanetScopeScenes(RasterDataset):
    """4-band PlanetScope scenes (GeoTIFF) of a new event, for sampling new patches.

    PlanetScope 4-band analytic products store blue, green, red, NIR; the HR-GLDD patches store
    red, green, blue, NIR. ``scene_bands`` says how the files are ordered (Planet's order by
    default) and ``bands`` what to return (the HR-GLDD order by default), so patches cut here
    match the release.

    Pair it with :class:`LandslideInventory` (``scenes & inventory``) and a TorchGeo sampler.
    """

    filename_glob = "*.tif"
    filename_regex = r".*\.tiff?$"
    #: Band order of Planet's 4-band analytic (surface reflectance) product.
    planet_bands: tuple[str, ...] = ("blue", "green", "red", "nir")
    all_bands: tuple[str, ...] = planet_bands
    rgb_bands: tuple[str, ...] = RGB_BANDS

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "data",
        crs: Any | None = None,
        res: float | tuple[float, float] | None = None,
        bands: Sequence[str] | None = BANDS,
        transforms: Transform | None = None,
        cache: bool = True,
        scene_bands: Sequence[str] = planet_bands,
    ) -> None:
        """Index the scenes below ``paths``.

        Args:
            paths: scene files or folders holding them.
            crs: CRS to warp to (the first scene's by default).
            res: resolution in CRS units (the first scene's by default).
            bands: bands to return, in this order.
            transforms: a function that takes a sample dict and returns a transformed one.
            cache: keep file handles open between samples.
            scene_bands: band order inside the files.
        """
        if sorted(scene_bands) != sorted(BANDS):
            raise ValueError(
                f"scene_bands must order the four bands {list(BANDS)}, got {list(scene_bands)}"
            )
        if bands is not None and any(b not in BANDS for b in bands):
            raise ValueError(f"bands must be a subset of {list(BANDS)}, got {list(bands)}")
        self.all_bands = tuple(scene_bands)
        super().__init__(paths, crs=crs, res=res, bands=bands, transforms=transforms, cache=cache)


class LandslideInventory(VectorDataset):
    """Landslide inventory polygons (any OGR vector format), rasterized to 1 = landslide.

    Reprojected to ``crs`` on read: pass the scenes' CRS and resolution (3 m for PlanetScope)
    so that ``scenes & inventory`` yields image and mask on the same grid.
    """

    filename_glob = "*"
    filename_regex = r".*\.(gpkg|shp|geojson|json|fgb|parquet)$"

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "data",
        crs: Any | None = None,
        res: float | tuple[float, float] = 3.0,
        transforms: Transform | None = None,
        layer: str | int | None = None,
    ) -> None:
        """Index the inventory files below ``paths``; every polygon is class 1 (landslide)."""
        super().__init__(paths, crs=crs, res=res, transforms=transforms, layer=layer)


__all__ = [
    "HRGLDD",
    "HRGLDDDataModule",
    "HRGLDDNotFoundError",
    "HRGLDDSegmentationTask",
    "LandslideInventory",
    "PATCH_SIZE",
    "PlanetScopeScenes",
    "SampleBatch",
]
