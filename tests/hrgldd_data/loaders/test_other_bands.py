"""Loaders follow a release's own bands and dtype (an RGB uint8 import, not PlanetScope)."""

from __future__ import annotations

import numpy as np
import pytest

from hrgldd_data.archive import open_archive
from hrgldd_data.parquet import features, write_parquet_view
from hrgldd_data.schema import PATCH_SIZE
from hrgldd_data.sensors import make_sensor
from hrgldd_data.writer import ReleaseWriter


@pytest.fixture(scope="module")
def rgb_release(tmp_path_factory):
    """10 uint8 RGB patches (Sentinel-2 renderings, no NIR), one dataset site 6/2/2."""
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (10, 3, PATCH_SIZE, PATCH_SIZE), dtype=np.uint8)
    masks = (rng.random((10, PATCH_SIZE, PATCH_SIZE)) < 0.1).astype(np.uint8)
    sensor = make_sensor("sentinel-2", ["red", "green", "blue"])
    root = tmp_path_factory.mktemp("rgb")
    with ReleaseWriter(root, "l4s_rgb", "1.0.0", sensor=sensor, dtype="uint8") as writer:
        minus = np.full(10, -1)
        writer.append(images, masks, site=np.zeros(10), scene=minus, row=minus, col=minus)
        return writer.finish(
            np.repeat([0, 1, 2], [6, 2, 2]),
            {"sites": [{"id": "l4s", "role": "train"}], "scenes": []},
        )


def test_torchgeo_serves_the_release_bands(rgb_release):
    tg = pytest.importorskip("hrgldd_data.torchgeo")
    ds = tg.HRGLDD(rgb_release, split="val")
    release = open_archive(rgb_release)
    assert ds.bands == ("red", "green", "blue") and ds[0]["image"].shape == (3, 128, 128)
    assert np.array_equal(ds[1]["image"].numpy().astype(np.uint8), release.read([7])[0][0])
    with pytest.raises(ValueError, match=r"release's \['red', 'green', 'blue'\], got \['nir'\]"):
        tg.HRGLDD(rgb_release, bands=("nir",))


def test_parquet_view_keeps_dtype_and_bands(rgb_release, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    release = open_archive(rgb_release)
    assert features(release)["image"] == {
        "shape": [3, 128, 128],
        "dtype": "uint8",
        "_type": "Array3D",
    }
    files = write_parquet_view(release, tmp_path)
    row = pq.read_table(files[0]).to_pylist()[0]
    assert np.array_equal(np.array(row["image"], np.uint8), release.read([0])[0][0])


def test_tfds_refuses_other_bands_with_the_fix(rgb_release, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from hrgldd_data.errors import ReleaseNotFoundError

    config = tfds.download.DownloadConfig(manual_dir=str(rgb_release))
    # the builder reads hr_gldd releases of PlanetScope R,G,B,NIR; this one has another name
    with pytest.raises(ReleaseNotFoundError, match="holds l4s_rgb 1.0.0"):
        tfds.load(
            "hr_gldd:1.0.0",
            split="train",
            data_dir=tmp_path,
            download_and_prepare_kwargs={"download_config": config},
        )
