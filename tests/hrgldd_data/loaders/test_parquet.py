"""The Parquet view of a release (hrgldd_data.parquet): what Hugging Face `datasets` reads."""

from __future__ import annotations

import io

import numpy as np
import pytest

from hrgldd_data.archive import open_archive
from hrgldd_data.errors import InputError
from hrgldd_data.parquet import main, preview_bands, write_parquet_view
from hrgldd_data.rendering import stretch, to_uint8
from hrgldd_data.views import named_splits

pq = pytest.importorskip("pyarrow.parquet")


def _rows(path):
    return pq.read_table(path).to_pylist()


def test_one_file_per_named_split_with_every_patch(tiny_release, tmp_path):
    release = open_archive(tiny_release)
    files = write_parquet_view(release, tmp_path)
    splits = named_splits(release)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        f"data/{s.name}-00000-of-00001.parquet" for s in splits
    ]
    for split, path in zip(splits, files, strict=True):
        rows = _rows(path)
        assert [r["index"] for r in rows] == split.indices.tolist()
        assert {r["collection"] for r in rows} == {split.collection}
        images, masks = release.read(split.indices)
        for row, image, mask in zip(rows, images, masks, strict=True):
            assert np.array_equal(np.array(row["image"], np.uint16), image)
            assert np.array_equal(np.array(row["mask"], np.uint8), mask)
            index = row["index"]
            assert row["patch_id"] == release.patch_id(index)
            assert row["site"] == release.site_of(index)
            assert row["split"] == release.split_of(index)
            crs, bounds = release.bounds(index)
            assert row["crs"] == crs and row["bounds"] == pytest.approx(list(bounds))
    # the preview: true colour (R, G, B) of the patch, each band stretched 2-98 %
    from PIL import Image

    row = _rows(files[0])[0]
    picture = np.asarray(Image.open(io.BytesIO(row["preview"]["bytes"])))
    expected = to_uint8(stretch(release.read([row["index"]])[0][0], [0, 1, 2]))
    assert picture.shape == (128, 128, 3) and np.array_equal(picture, expected)


def test_view_is_deterministic_and_sharded(tiny_release, tmp_path, monkeypatch):
    import hrgldd_data.parquet as parquet

    first = write_parquet_view(tiny_release, tmp_path / "a")
    second = write_parquet_view(tiny_release, tmp_path / "b")
    assert [f.read_bytes() for f in first] == [f.read_bytes() for f in second]
    again = write_parquet_view(tiny_release, tmp_path / "a")  # rewriting the same view is fine
    assert [f.read_bytes() for f in again] == [f.read_bytes() for f in first]
    monkeypatch.setattr(parquet, "ROWS_PER_FILE", 4)
    files = write_parquet_view(tiny_release, tmp_path / "c")
    train = [f.name for f in files if f.name.startswith("train-")]
    assert train == [f"train-0000{k}-of-00003.parquet" for k in range(3)]
    assert sum(pq.read_metadata(tmp_path / "c" / "data" / n).num_rows for n in train) == 12


def test_stale_files_are_refused(tiny_release, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-00000-of-00002.parquet").write_bytes(b"old view")
    with pytest.raises(InputError, match=r"train-00000-of-00002\.parquet.*empty folder"):
        write_parquet_view(tiny_release, tmp_path)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["train-00000-of-00002.parquet"]


def test_release_without_coordinates(legacy_release, tmp_path):
    files = write_parquet_view(legacy_release, tmp_path)
    assert [f.name.split("-")[0] for f in files] == ["train", "validation", "test"]
    rows = _rows(files[-1])
    assert all(r["crs"] == "" and r["bounds"] is None and r["site"] == "unknown" for r in rows)


def test_preview_bands_follow_the_release_bands():
    assert preview_bands(["red", "green", "blue", "nir"]) == [0, 1, 2]
    assert preview_bands(["blue", "green", "red"]) == [2, 1, 0]
    assert preview_bands(["nir", "red", "green", "dem"]) == [0, 1, 2]  # false colour
    assert preview_bands(["dem"]) == [0, 0, 0]  # grey


def test_local_folder_loads_with_datasets(tiny_release, tmp_path, capsys):
    """`python -m hrgldd_data.parquet RELEASE --out DIR`, then `load_dataset("DIR")`."""
    datasets = pytest.importorskip("datasets")
    release = open_archive(tiny_release)
    main([str(tiny_release), "--out", str(tmp_path / "view")])
    assert "README.md" in capsys.readouterr().out
    splits = datasets.load_dataset(str(tmp_path / "view"), cache_dir=str(tmp_path / "cache"))
    assert list(splits) == [s.name for s in named_splits(release)]
    features = splits["train"].features
    assert type(features["image"]).__name__ == "Array3D" and features["image"].dtype == "uint16"
    assert type(features["preview"]).__name__ == "Image"
    test = splits["test_beta_2019"].with_format("numpy")
    image, mask = release.read(release.indices("test", site="beta_2019"))
    assert np.array_equal(np.stack(test["image"]), image)
    assert np.array_equal(np.stack(test["mask"]), mask)
