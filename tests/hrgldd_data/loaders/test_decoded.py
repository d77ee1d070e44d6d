"""The decoded copy of a release in hrgldd's cache (hrgldd_data.decoded)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrgldd_data import decoded
from hrgldd_data.archive import open_archive


def test_written_once_then_memory_mapped(tiny_release, tmp_path, monkeypatch):
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path))
    release = open_archive(tiny_release)
    images, masks = decoded.decoded_arrays(release)
    folder = decoded.cache_folder(release)
    assert folder.parent == tmp_path / "decoded" and isinstance(images, np.memmap)
    want_images, want_masks = release.read(slice(0, len(release)))
    assert np.array_equal(images, want_images) and np.array_equal(masks, want_masks)
    record = json.loads((folder / "decoded.json").read_text())
    assert (record["release"], record["version"]) == (release.name, release.version)
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again, _ = decoded.decoded_arrays(open_archive(tiny_release))
    assert np.array_equal(again, want_images)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written, "not rewritten"


def test_a_damaged_copy_is_rebuilt_never_served(tiny_release, tmp_path, monkeypatch):
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path))
    release = open_archive(tiny_release)
    decoded.decoded_arrays(release)
    path = decoded.cache_folder(release) / "image.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # same size, new mtime: its sha256 is checked again
    path.write_bytes(bytes(data))
    images, _ = decoded.decoded_arrays(release)
    assert np.array_equal(images, release.read(slice(0, len(release)))[0])
    path.write_bytes(b"short")
    images, _ = decoded.decoded_arrays(release)
    assert np.array_equal(images, release.read(slice(0, len(release)))[0])


def test_switched_off(tiny_release, tmp_path, monkeypatch):
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path))
    monkeypatch.setenv("HRGLDD_DECODED_CACHE", "0")
    release = open_archive(tiny_release)
    assert decoded.decoded_arrays(release) is None
    assert not (tmp_path / "decoded").exists()
    tg = pytest.importorskip("hrgldd_data.torchgeo")
    ds = tg.HRGLDD(tiny_release, split="test").preload()
    assert ds._images.shape[0] == len(ds) and not (tmp_path / "decoded").exists()
    image, _ = release.read([ds[1]["index"]])
    assert np.array_equal(ds[1]["image"].numpy().astype(np.uint16), image[0])


def test_torchgeo_reads_the_copy_in_workers(tiny_release, tmp_path, monkeypatch):
    import torch

    tg = pytest.importorskip("hrgldd_data.torchgeo")
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path))
    ds = tg.HRGLDD(tiny_release, split="train", bands=("nir", "green")).preload()
    release = open_archive(tiny_release)
    assert (decoded.cache_folder(release) / "decoded.json").is_file()
    loader = torch.utils.data.DataLoader(
        ds, batch_size=5, shuffle=True, num_workers=1, collate_fn=tg.HRGLDD.collate
    )
    for batch in loader:
        images, masks = release.read(batch["index"].numpy())
        assert torch.equal(batch["image"], torch.from_numpy(images[:, [3, 1]].astype(np.float32)))
        assert torch.equal(batch["mask"], torch.from_numpy(masks.astype(np.int64)))


def test_torchgeo_maps_the_copy_and_pickles_without_it(tiny_release, tmp_path, monkeypatch):
    """A dataset reads its batches from the memory-mapped copy (no copy of its selection in
    memory); pickled for a spawned worker it carries the path, not the arrays, and reads the same
    patches after unpickling."""
    import pickle

    tg = pytest.importorskip("hrgldd_data.torchgeo")
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path))
    ds = tg.HRGLDD(tiny_release, split="test").preload()
    assert isinstance(ds._images, np.memmap), "the selection is not copied into memory"
    blob = pickle.dumps(ds)
    one_patch = ds._images[0].nbytes
    assert len(blob) < one_patch, f"a {len(blob)}-byte pickle carries pixels"
    again = pickle.loads(blob)
    release = open_archive(tiny_release)
    for k in range(len(ds)):
        image, mask = release.read([ds[k]["index"]])
        assert np.array_equal(again[k]["image"].numpy(), image[0].astype(np.float32))
        assert np.array_equal(again[k]["mask"].numpy(), mask[0].astype(np.int64))
