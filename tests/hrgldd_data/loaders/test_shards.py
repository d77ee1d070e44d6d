"""Whole-shard decoding (hrgldd_data.shards) gives exactly what Zarr gives, and fails loudly."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import zarr

from hrgldd_data.archive import open_archive
from hrgldd_data.errors import ArchiveError
from hrgldd_data.shards import read_patches, read_rows, read_span


def test_same_bytes_as_zarr_in_any_order(tiny_release):
    release = open_archive(tiny_release)
    rng = np.random.default_rng(0)
    for indices in (
        np.arange(len(release)),
        rng.permutation(len(release))[:11],
        np.array([29, 3, 3, 17, 0]),  # repeats, across shards, unsorted
        np.array([], dtype=int),
    ):
        images, masks = read_patches(release, indices)
        want_images, want_masks = release.read(indices)
        assert images.dtype == np.uint16 and masks.dtype == np.uint8
        assert np.array_equal(images, want_images) and np.array_equal(masks, want_masks)
    assert np.array_equal(
        read_span(release.group["mask"], release.path, 5, 21), release.read(slice(5, 21))[1]
    )
    with pytest.raises(IndexError):
        read_rows(release.group["mask"], release.path, np.array([30]))


def test_a_missing_or_damaged_shard_is_an_error_not_zeros(tiny_release, tmp_path):
    copy = tmp_path / tiny_release.name
    shutil.copytree(tiny_release, copy)
    release = open_archive(copy)
    shard = copy / "image" / "c" / "1" / "0" / "0" / "0"  # patches 8-15
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # inside the shard index
    shard.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"image/c/1/0/0/0: shard index fails its crc32c"):
        read_patches(release, np.array([9]))
    shard.unlink()
    with pytest.raises(ArchiveError, match=r"image/c/1/0/0/0: shard file missing"):
        read_patches(release, np.array([2, 9]))
    images, _ = read_patches(release, np.array([2, 20]))  # other shards still read
    assert images.shape == (2, 4, 128, 128)


def test_other_layouts_are_read_through_zarr(tmp_path):
    data = np.arange(6 * 3 * 4, dtype=np.uint16).reshape(6, 3, 4)
    array = zarr.create_array(
        tmp_path / "plain", shape=data.shape, dtype="uint16", chunks=(2, 3, 4)
    )
    array[:] = data
    assert np.array_equal(read_rows(array, tmp_path, np.array([5, 0, 2])), data[[5, 0, 2]])
