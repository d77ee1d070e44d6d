"""Patches of a release as torch tensors: normalized images, float masks, mask-safe augmentation.

The decoded release stays in memory as stored (uint16 images, uint8 masks, ≈130 KiB per patch) and
each patch is normalized when it is read, so a whole HR-GLDD-sized release costs ≈250 MB, not four
times that as float32. Normalization uses the per-band mean and std of the release's train split
(``Release.normalization``), the same statistics for training and every test set.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hrgldd_data.archive import Release


class PatchDataset(Dataset):
    """Patches ``indices`` of a release: ``(image float32 (4,H,W), mask float32 (1,H,W))``.

    Args:
        release: an opened release; its patches are decoded into memory once (``Release.load``).
        indices: patch indices to serve, in this order.
    """

    def __init__(self, release: Release, indices: np.ndarray) -> None:
        self.release = release
        self.indices = np.asarray(indices, dtype=np.int64)
        self.images, self.masks = release.load()
        mean, std = release.normalization
        if np.any(std <= 0):
            raise ValueError(
                f"{release.path}: normalization std {std.tolist()} has a zero band; rebuild the release"
            )
        self.mean = torch.from_numpy(mean).view(-1, 1, 1)
        self.std = torch.from_numpy(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = int(self.indices[item])
        image = torch.from_numpy(self.images[index].astype(np.float32))
        mask = torch.from_numpy(self.masks[index].astype(np.float32))[None]
        return (image - self.mean) / self.std, mask


def augment_batch(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one of the 8 flips/90° rotations per sample, the same to image and mask.

    These transforms keep every pixel on the grid, so masks stay exactly binary and aligned
    (no interpolation). Drawn from ``generator`` on the CPU, so a seed fixes them on any device.
    """
    n = images.shape[0]
    turns = torch.randint(0, 4, (n,), generator=generator).tolist()
    flips = torch.randint(0, 2, (n,), generator=generator).tolist()
    out_images, out_masks = [], []
    for i in range(n):
        image, mask = images[i], masks[i]
        if flips[i]:
            image, mask = image.flip(-1), mask.flip(-1)
        if turns[i]:
            image, mask = (
                torch.rot90(image, turns[i], (-2, -1)),
                torch.rot90(mask, turns[i], (-2, -1)),
            )
        out_images.append(image)
        out_masks.append(mask)
    return torch.stack(out_images), torch.stack(out_masks)


def make_loader(
    release: Release,
    indices: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader over ``indices``; shuffling draws from its own generator seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        PatchDataset(release, indices),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        drop_last=False,
    )


__all__ = ["PatchDataset", "augment_batch", "make_loader"]
