"""Decode whole shards of a release array at once: the fast path of every bulk reader.

A release stores one compressed chunk per patch inside shards of a few hundred patches (see
:mod:`hrgldd_data.archive`). Zarr decodes such an array chunk by chunk through its asynchronous
codec pipeline, which costs about a millisecond per patch on a small CPU; the compression itself
(Blosc) takes a quarter of that. Loaders that read many patches (a TorchGeo dataset decoding its
split, the Parquet view, the TFDS builder) read each shard file once, check its index against the
checksum the sharding codec stores, and decompress every chunk straight into the output array, in
a couple of threads (Blosc releases the GIL).

Only the layout the release writer produces takes this path (sharding codec with the index at the
end, a ``bytes`` (little-endian) + Blosc chunk pipeline, an index protected by crc32c, chunks that
span every axis but the first); anything else is read through Zarr. A shard file that is missing
is an error naming it, never a block of fill values; a chunk the writer left out (all fill value)
is the fill value, as Zarr reads it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from hrgldd_data.errors import ArchiveError

_MISSING = np.uint64(2**64 - 1)
#: Threads decoding shards in parallel (Blosc decompression releases the GIL).
DECODE_THREADS = min(4, os.cpu_count() or 1)


def _fast_layout(array: Any) -> tuple[int, int] | None:
    """``(patches per shard, patches per chunk)`` for the writer's layout, else None."""
    from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ShardingCodec
    from zarr.codecs.sharding import ShardingCodecIndexLocation

    meta = array.metadata
    codecs = getattr(meta, "codecs", ())
    if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
        return None
    sharding = codecs[0]
    inner = list(sharding.codecs)
    index = list(sharding.index_codecs)
    little = [c for c in (inner[:1] + index[:1]) if isinstance(c, BytesCodec)]
    if (
        sharding.index_location != ShardingCodecIndexLocation.end
        or len(inner) != 2
        or not isinstance(inner[1], BloscCodec)
        or len(index) != 2
        or not isinstance(index[1], Crc32cCodec)
        or len(little) != 2
        or any(c.endian is not None and c.endian.value != "little" for c in little)
    ):
        return None
    shard = tuple(meta.chunk_grid.chunk_shape)
    chunk = tuple(sharding.chunk_shape)
    if shard[1:] != tuple(array.shape[1:]) or chunk[1:] != shard[1:] or shard[0] % chunk[0]:
        return None
    return shard[0], chunk[0]


def _shard_index(path: Path, data: bytes, n_chunks: int) -> np.ndarray:
    """``(n_chunks, 2)`` offsets and lengths of a shard, checked against their crc32c."""
    import google_crc32c

    size = n_chunks * 16
    if len(data) < size + 4:
        raise ArchiveError(f"{path}: shard is truncated ({len(data)} bytes); run `hrgldd verify`")
    raw = data[-(size + 4) : -4]
    stored = data[-4:]
    if np.uint32(google_crc32c.value(raw)).tobytes() != stored:
        raise ArchiveError(f"{path}: shard index fails its crc32c; run `hrgldd verify`")
    return np.frombuffer(raw, dtype="<u8").reshape(n_chunks, 2)


def read_span(array: Any, root: str | os.PathLike[str], start: int, stop: int) -> np.ndarray:
    """``array[start:stop]`` of a release array stored under ``root`` (the release directory)."""
    start, stop = max(0, int(start)), min(int(stop), int(array.shape[0]))
    return read_rows(array, root, np.arange(start, max(start, stop)))


def read_rows(array: Any, root: str | os.PathLike[str], rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` (rows along the first axis, any order, repeats allowed), shard by shard.

    Args:
        array: the opened ``zarr.Array`` (its metadata tells the layout).
        root: the release directory holding ``<array name>/c/...``.
        rows: indices along the first axis.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    n = int(array.shape[0])
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise IndexError(f"rows out of range for {n} patches")
    layout = _fast_layout(array)
    out = np.empty((rows.size, *array.shape[1:]), dtype=array.dtype)
    if rows.size == 0:
        return out
    if layout is None:
        unique, inverse = np.unique(rows, return_inverse=True)
        out[...] = array.get_orthogonal_selection((unique,))[inverse]
        return out
    per_shard, per_chunk = layout
    from numcodecs import blosc

    folder = Path(root) / array.path
    meta = array.metadata
    chunks_per_shard = per_shard // per_chunk
    zeros = (0,) * (array.ndim - 1)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    # positions in `order` where each shard's rows begin
    shards, firsts = np.unique(sorted_rows // per_shard, return_index=True)
    bounds = [*firsts.tolist(), rows.size]

    def decode(k: int) -> None:
        shard = int(shards[k])
        path = folder / meta.encode_chunk_key((shard, *zeros))
        try:
            data = path.read_bytes()
        except FileNotFoundError as err:
            raise ArchiveError(
                f"{path}: shard file missing from release {root}; run `hrgldd verify`"
            ) from err
        index = _shard_index(path, data, chunks_per_shard)
        limit = len(data) - chunks_per_shard * 16 - 4
        view = memoryview(data)
        mine = order[bounds[k] : bounds[k + 1]]  # output positions, by ascending row
        local = rows[mine] - shard * per_shard
        chunk_of = local // per_chunk
        for j in np.unique(chunk_of).tolist():
            take = mine[chunk_of == j]
            offset, length = (int(v) for v in index[j])
            if offset == int(_MISSING) and length == int(_MISSING):
                out[take] = meta.fill_value
                continue
            if offset + length > limit:
                raise ArchiveError(f"{path}: chunk {j} lies outside the shard; run `hrgldd verify`")
            chunk = view[offset : offset + length]
            if per_chunk == 1 and take.size == 1:
                blosc.decompress(chunk, out[int(take[0])])  # straight into the output
            else:
                whole = np.empty((per_chunk, *array.shape[1:]), dtype=array.dtype)
                blosc.decompress(chunk, whole)
                out[take] = whole[local[chunk_of == j] - j * per_chunk]

    if DECODE_THREADS > 1 and shards.size > 1:
        with ThreadPoolExecutor(DECODE_THREADS) as pool:
            list(pool.map(decode, range(shards.size)))
    else:
        for k in range(shards.size):
            decode(k)
    return out


def read_patches(release: Any, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images and masks of patches ``indices`` (any order) of an opened release."""
    image, mask = release.group["image"], release.group["mask"]
    return read_rows(image, release.path, indices), read_rows(mask, release.path, indices)


__all__ = ["DECODE_THREADS", "read_patches", "read_rows", "read_span"]
