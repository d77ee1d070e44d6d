"""Patches of a release for training and scoring, through the public loader.

The baselines read patches with :class:`hrgldd_data.torchgeo.HRGLDD`, the TorchGeo dataset users
train with (a memory-mapped decoded copy of the release in hrgldd's cache, one vectorized gather
per batch), and normalize and augment them with :mod:`hrgldd_data.transforms`, the implementation
``HRGLDDDataModule`` uses. So the leaderboard scores the data path users have, and a model records
the normalization (:meth:`ReleaseData.normalization`) that mapping applies to new scenes.

Images stay in memory as stored (uint8/uint16/float32, about 130 KiB per HR-GLDD patch) and are
normalized batch by batch with the statistics of the release's **train** split.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hrgldd_data.archive import Release
from hrgldd_data.schema import SPLITS
from hrgldd_data.transforms import DEFAULT_METHOD, Normalization, dihedral

if TYPE_CHECKING:
    from hrgldd_data.torchgeo import HRGLDD


class ReleaseData:
    """One release's patches, served by :class:`~hrgldd_data.torchgeo.HRGLDD`, normalized.

    Args:
        release: an opened release.
        normalization: ``robust`` or ``standardize`` (:mod:`hrgldd_data.transforms`).
    """

    def __init__(self, release: Release, normalization: str = DEFAULT_METHOD) -> None:
        self.release = release
        self.normalization = Normalization.from_release(release, normalization)
        self._datasets: dict[str, HRGLDD] = {}

    def dataset(self, split: str) -> HRGLDD:
        """The public dataset of one stored split (``unseen``: collection 3), loaded once."""
        if split not in self._datasets:
            from hrgldd_data.torchgeo import HRGLDD

            where = {"root": self.release.path, "version": self.release.version}
            where["name"] = self.release.name
            if split == "unseen":
                dataset = HRGLDD(split="test", collection=3, **where)
            else:
                dataset = HRGLDD(split=split, **where)
            self._datasets[split] = dataset.preload()
        return self._datasets[split]

    def patches(self, indices: np.ndarray | Sequence[int]) -> ReleasePatches:
        """A map-style dataset of the patches ``indices`` (release indices), in that order."""
        return ReleasePatches(self, indices)

    def loader(
        self,
        indices: np.ndarray | Sequence[int],
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
    ) -> DataLoader:
        """A DataLoader of raw sample batches (``HRGLDD.collate``); shuffled with ``seed``."""
        from hrgldd_data.torchgeo import HRGLDD

        return DataLoader(
            self.patches(indices),
            batch_size=batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(seed),
            collate_fn=HRGLDD.collate,
        )

    def batches(
        self,
        indices: np.ndarray | Sequence[int],
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        augment: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(images, masks)`` batches: normalized float32 ``(B, C, H, W)``, float ``(B, 1, H, W)``.

        ``augment``: a generator to draw one flip/quarter turn per patch from (none: as stored).
        The batch moves to ``device`` first and is normalized and augmented there, as TorchGeo
        datamodules do after the transfer (a GPU does it faster than the loading process).
        """
        for batch in self.loader(indices, batch_size=batch_size, shuffle=shuffle, seed=seed):
            images = self.normalization(batch["image"].to(device))
            masks = batch["mask"][:, None].to(device=device, dtype=torch.float32)
            if augment is not None:
                images, moved = dihedral(images, masks, augment)
                assert moved is not None
                masks = moved
            yield images, masks

    def masks(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """Masks ``(k, H, W)`` uint8 of the patches ``indices``, in that order."""
        if len(indices) == 0:
            return self.release.read(slice(0, 0))[1]
        masks = [batch["mask"] for batch in self.loader(indices, batch_size=256)]
        return torch.cat(masks).numpy().astype(np.uint8)


class ReleasePatches(Dataset):
    """Patches of a release in a given order, gathered from the per-split public datasets.

    Items are :class:`HRGLDD` samples (``image`` as stored in float32, ``mask``, ``index``, ...);
    ``__getitems__`` gathers a whole batch from each split at once.
    """

    def __init__(self, data: ReleaseData, indices: np.ndarray | Sequence[int]) -> None:
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        release = data.release
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= len(release)):
            raise IndexError(f"patch indices must lie in 0..{len(release) - 1}")
        codes = release.table["split"][self.indices]
        self._sources: list[HRGLDD] = []
        self._source = np.zeros(self.indices.size, np.int64)
        self._position = np.zeros(self.indices.size, np.int64)
        for code in np.unique(codes):
            dataset = data.dataset(SPLITS[int(code)])
            take = codes == code
            self._source[take] = len(self._sources)
            self._position[take] = np.searchsorted(dataset.indices, self.indices[take])
            self._sources.append(dataset)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, item: int) -> dict[str, Any]:
        return self.__getitems__([item])[0]

    def __getitems__(self, items: Sequence[int]) -> list[dict[str, Any]]:
        items = np.asarray(items, dtype=np.int64)
        sources = self._source[items]
        if np.all(sources == sources[0]):  # the usual case: one split, one gather
            return self._sources[int(sources[0])].__getitems__(self._position[items].tolist())
        out: list[dict[str, Any]] = [{}] * items.size
        for source in np.unique(sources):
            where = np.flatnonzero(sources == source)
            samples = self._sources[int(source)].__getitems__(self._position[items[where]].tolist())
            for k, sample in zip(where.tolist(), samples, strict=True):
                out[k] = sample
        return out


__all__ = ["ReleaseData", "ReleasePatches"]
