"""Seamless sliding-window inference in bounded memory.

The scene is covered by 128x128 windows on a regular grid of ``stride`` pixels, shifted by
``margin = (128 - stride) / 2`` so that every pixel, the scene's edges included, lies in the
central band of one window. Each window's probabilities are weighted by a smooth separable
window ``w(i) = sin^2(pi (i + 0.5) / 128)`` (Hann, never exactly zero) and the weighted sums are
divided by the sum of the weights. At the default stride of 64 the shifted windows' weights add up
to exactly one, so the result is a partition-of-unity blend: no seams, and a window's unreliable
border counts least.

Work is split into **blocks** of ``K x K`` windows (about 1024 x 1024 output pixels). A block task
reads its region once (window by window would read every pixel up to four times), normalizes
it, predicts its windows in batches and returns the weighted sums over its region, which spill
``margin`` pixels into the neighbouring blocks (overlap-add). The main thread adds them up and
writes an output block as soon as all tasks that touch it are in, so at most about two rows of
blocks are held, whatever the scene size, and no window is ever predicted twice. Windows without
a valid pixel are skipped. Tasks run in Dask (local threads, or a ``dask.distributed`` cluster
whose workers see the scene and the model folder).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property

import dask
import numpy as np
import rasterio
from rasterio.errors import RasterioError

from hrgldd_data.errors import InputError
from hrgldd_data.schema import PATCH_SIZE
from mapping.model import ModelRef, cached_model
from mapping.scene import Scene, read_region

WINDOW = PATCH_SIZE
DEFAULT_STRIDE = 64
#: Target side of an output block in pixels.
BLOCK_PIXELS = 1024
#: GDAL block cache while mapping, in bytes (rasterio passes GDAL_CACHEMAX as bytes); the
#: cache is one per process, so every task and the main thread set the same value.
GDAL_CACHE_BYTES = 128 * 2**20


def window_weights(window: int = WINDOW) -> np.ndarray:
    """The 1-D blending weights of a window: ``sin^2(pi (i + 0.5) / window)``, in (0, 1]."""
    i = np.arange(window, dtype=np.float64)
    return (np.sin(np.pi * (i + 0.5) / window) ** 2).astype(np.float32)


@dataclass(frozen=True)
class Grid:
    """The window grid of a scene and its blocks (see the module docstring)."""

    height: int
    width: int
    stride: int = DEFAULT_STRIDE
    window: int = WINDOW

    def __post_init__(self) -> None:
        if not 1 <= self.stride <= self.window:
            raise ValueError(f"stride must be in 1..{self.window}, got {self.stride}")

    @property
    def margin(self) -> int:
        return (self.window - self.stride) // 2

    @cached_property
    def per_block(self) -> int:
        """Windows per block side: about BLOCK_PIXELS of output, at least one window, and a
        block side that is a multiple of 16 (a GeoTIFF tile size)."""
        k = max(math.ceil(BLOCK_PIXELS / self.stride), math.ceil(self.window / self.stride))
        step = 16 // math.gcd(self.stride, 16)
        return math.ceil(k / step) * step

    @property
    def block(self) -> int:
        """Side of an output block in pixels."""
        return self.per_block * self.stride

    @property
    def n_windows(self) -> tuple[int, int]:
        return math.ceil(self.height / self.stride), math.ceil(self.width / self.stride)

    @property
    def n_blocks(self) -> tuple[int, int]:
        ny, nx = self.n_windows
        return math.ceil(ny / self.per_block), math.ceil(nx / self.per_block)

    def blocks(self) -> Iterator[tuple[int, int]]:
        """Block indices in row-major order."""
        by, bx = self.n_blocks
        for bi in range(by):
            for bj in range(bx):
                yield bi, bj

    def _windows(self, b: int, n: int) -> tuple[int, int]:
        return b * self.per_block, min((b + 1) * self.per_block, n)

    def region(self, bi: int, bj: int) -> tuple[int, int, int, int]:
        """(row0, col0, height, width) covered by the windows of a block (may pass the edges)."""
        ny, nx = self.n_windows
        k0, k1 = self._windows(bi, ny)
        j0, j1 = self._windows(bj, nx)
        row0 = k0 * self.stride - self.margin
        col0 = j0 * self.stride - self.margin
        return (
            row0,
            col0,
            (k1 - k0 - 1) * self.stride + self.window,
            (j1 - j0 - 1) * self.stride + self.window,
        )

    def output(self, bi: int, bj: int) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1) of the scene pixels a block outputs."""
        return (
            bi * self.block,
            min((bi + 1) * self.block, self.height),
            bj * self.block,
            min((bj + 1) * self.block, self.width),
        )

    def weight_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Sum of the weights of every window over each row and each column (separable)."""
        w = window_weights(self.window).astype(np.float64)
        sums = []
        for size, n in ((self.height, self.n_windows[0]), (self.width, self.n_windows[1])):
            total = np.zeros(size + 2 * self.window, np.float64)
            for k in range(n):
                start = k * self.stride - self.margin + self.window
                total[start : start + self.window] += w
            sums.append(total[self.window : self.window + size].astype(np.float32))
        return sums[0], sums[1]


@dataclass
class BlockResult:
    """What a block task returns: weighted sums over its region, and its own output's validity."""

    block: tuple[int, int]
    row0: int
    col0: int
    sums: np.ndarray
    valid: np.ndarray
    band_sums: np.ndarray
    n_valid: int
    n_windows: int


def predict_block(
    scene: Scene, ref: ModelRef, grid: Grid, bi: int, bj: int, batch_size: int
) -> BlockResult:
    """Read, normalize and predict the windows of one block (a Dask task)."""
    model = cached_model(ref)
    row0, col0, height, width = grid.region(bi, bj)
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), rasterio.open(scene.path) as src:
            data, valid, band_sums = read_region(src, scene, model, row0, col0, height, width)
    except RasterioError as err:
        raise InputError(
            f"{scene.path}: reading rows {max(row0, 0)}-{row0 + height} failed "
            f"({err.__cause__ or err}); the file is truncated or corrupt: fetch it again"
        ) from err
    sums = np.zeros((height, width), np.float32)
    win = grid.window
    weights = np.outer(window_weights(win), window_weights(win))
    origins = [
        (y, x)
        for y in range(0, height - win + 1, grid.stride)
        for x in range(0, width - win + 1, grid.stride)
        if valid[y : y + win, x : x + win].any()
    ]
    for start in range(0, len(origins), batch_size):
        part = origins[start : start + batch_size]
        batch = np.stack([data[:, y : y + win, x : x + win] for y, x in part])
        for (y, x), probs in zip(part, model.predict(batch, batch_size), strict=True):
            sums[y : y + win, x : x + win] += probs * weights
    r0, r1, c0, c1 = grid.output(bi, bj)
    own = valid[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0]
    return BlockResult((bi, bj), row0, col0, sums, own, band_sums, int(own.sum()), len(origins))


class Blender:
    """Adds block tasks' weighted sums into the output blocks and emits each when complete.

    ``emit(r0, r1, c0, c1, probability, valid)`` receives a finished output block: probabilities
    where valid, NaN elsewhere.
    """

    def __init__(self, grid: Grid, emit: Callable[..., None]) -> None:
        self.grid = grid
        self.emit = emit
        self.wy, self.wx = grid.weight_sums()
        self.sums: dict[tuple[int, int], np.ndarray] = {}
        self.valid: dict[tuple[int, int], np.ndarray] = {}
        self.done: set[tuple[int, int]] = set()
        by, bx = grid.n_blocks
        self._exists = lambda i, j: 0 <= i < by and 0 <= j < bx

    def _neighbours(self, bi: int, bj: int) -> Iterator[tuple[int, int]]:
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if self._exists(bi + di, bj + dj):
                    yield bi + di, bj + dj

    def add(self, result: BlockResult) -> None:
        height, width = result.sums.shape
        for key in self._neighbours(*result.block):
            r0, r1, c0, c1 = self.grid.output(*key)
            top, bottom = max(r0, result.row0), min(r1, result.row0 + height)
            left, right = max(c0, result.col0), min(c1, result.col0 + width)
            if bottom <= top or right <= left:
                continue
            if key not in self.sums:
                self.sums[key] = np.zeros((r1 - r0, c1 - c0), np.float32)
            self.sums[key][top - r0 : bottom - r0, left - c0 : right - c0] += result.sums[
                top - result.row0 : bottom - result.row0, left - result.col0 : right - result.col0
            ]
        self.valid[result.block] = result.valid
        self.done.add(result.block)
        for key in self._neighbours(*result.block):
            if key in self.valid and all(n in self.done for n in self._neighbours(*key)):
                self._finish(key)

    def _finish(self, key: tuple[int, int]) -> None:
        r0, r1, c0, c1 = self.grid.output(*key)
        valid = self.valid.pop(key)
        sums = self.sums.pop(key, None)
        if sums is None:
            sums = np.zeros((r1 - r0, c1 - c0), np.float32)
        probability = sums / np.outer(self.wy[r0:r1], self.wx[c0:c1])
        np.clip(probability, 0.0, 1.0, out=probability)
        probability[~valid] = np.nan
        self.emit(r0, r1, c0, c1, probability, valid)

    @property
    def pending(self) -> int:
        return len(self.sums) + len(self.valid)


def run_blocks(
    scene: Scene,
    ref: ModelRef,
    grid: Grid,
    on_result: Callable[[BlockResult], None],
    *,
    batch_size: int,
    get: Callable | None,
    workers: int | None,
) -> None:
    """Compute every block of a scene in Dask, in row-major batches; results are handed in order."""
    inflight = max(2, 2 * (workers or os.cpu_count() or 1))
    blocks = list(grid.blocks())
    for start in range(0, len(blocks), inflight):
        batch = blocks[start : start + inflight]
        tasks = [
            dask.delayed(predict_block, pure=False)(scene, ref, grid, bi, bj, batch_size)
            for bi, bj in batch
        ]
        with dask.config.set(num_workers=workers) if workers else nullcontext():
            results = dask.compute(*tasks, scheduler=get)
        for result in results:
            on_result(result)


__all__ = [
    "BLOCK_PIXELS",
    "DEFAULT_STRIDE",
    "WINDOW",
    "BlockResult",
    "Blender",
    "Grid",
    "predict_block",
    "run_blocks",
    "window_weights",
]
