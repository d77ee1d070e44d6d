"""Import of the published Zenodo arrays: collection 1 only, validated, nothing written on error."""

from __future__ import annotations

import numpy as np
import pytest

from builders.legacy import LegacyImportError, import_legacy
from hrgldd_data.archive import open_archive
from hrgldd_data.manifest import verify_release


def write_arrays(folder, counts=(6, 2, 3), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts, strict=True):
        x = rng.integers(0, 5000, (n, 128, 128, 4)).astype(dtype)
        y = rng.integers(0, 2, (n, 128, 128, 1)).astype(dtype)
        np.save(folder / f"{split}X.npy", x)
        np.save(folder / f"{split}Y.npy", y)
        arrays[split] = (x, y)
    return arrays


def test_import_keeps_values_order_and_splits(tmp_path):
    arrays = write_arrays(tmp_path / "zenodo")
    path = import_legacy(tmp_path / "zenodo", "0.9.0", tmp_path / "out")
    verify_release(path)
    release = open_archive(path)
    assert release.legacy and release.sites == ["unknown"]
    assert [t.key for t in release.test_sets()] == ["c1/test"]
    for split in ("train", "val", "test"):
        idx = release.indices(split)
        images, masks = release.read(idx)
        x, y = arrays[split]
        np.testing.assert_array_equal(images.transpose(0, 2, 3, 1), x.astype(np.uint16))
        np.testing.assert_array_equal(masks, y[..., 0].astype(np.uint8))
    assert release.bounds(0) is None
    assert (
        "collection 1" in release.attrs["notes"]
        and "differ from the Zenodo release" in release.attrs["notes"]
    )
    assert set(release.attrs["inputs"]) == {
        f"{s}{k}.npy" for s in ("train", "val", "test") for k in "XY"
    }


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda f: np.save(f / "valY.npy", np.zeros((3, 128, 128, 1))),
            r"valY\.npy: shape \(3, 128, 128, 1\) does not match valX\.npy",
        ),
        (
            lambda f: np.save(f / "testY.npy", np.full((3, 128, 128, 1), 255)),
            r"testY\.npy: mask values \[255\] are not binary",
        ),
        (
            lambda f: np.save(f / "trainX.npy", np.zeros((6, 128, 128, 3))),
            r"trainX\.npy: shape \(6, 128, 128, 3\); expected \(N, 128, 128, 4\)",
        ),
        (lambda f: (f / "testX.npy").unlink(), r"testX\.npy: missing"),
        (
            lambda f: np.save(f / "valX.npy", np.full((2, 128, 128, 4), np.nan, np.float32)),
            r"valX\.npy: images hold NaN",
        ),
        (
            lambda f: np.save(f / "valX.npy", np.full((2, 128, 128, 4), 0.25, np.float32)),
            r"valX\.npy: fractional values",
        ),
    ],
)
def test_bad_arrays_are_refused_and_nothing_written(tmp_path, damage, message):
    folder = tmp_path / "zenodo"
    write_arrays(folder)
    damage(folder)
    with pytest.raises(LegacyImportError, match=message):
        import_legacy(folder, "0.9.0", tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
