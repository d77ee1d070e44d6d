"""Release format 2: any band list, uint8/uint16/float32, per-release nodata, robust statistics."""

from __future__ import annotations

import errno
import json
import math

import numpy as np
import pytest
from factories import make_release

from hrgldd_data import writer as writer_module
from hrgldd_data.archive import open_archive
from hrgldd_data.cards import render_card
from hrgldd_data.errors import HrglddError
from hrgldd_data.schema import FORMAT_VERSION
from hrgldd_data.sensors import PLANETSCOPE, make_sensor
from hrgldd_data.writer import BandStatistics, OutputError, ReleaseWriter

UAV = make_sensor(
    "UAV (DJI Phantom 4 RTK)", ["red", "green", "blue", "dsm"], resolution_m=0.5, units="DN; m"
)


def _write(root, sensor, images, masks, split, **kwargs):
    n = images.shape[0]
    with ReleaseWriter(root, "test", "1.0.0", sensor=sensor, shard_patches=4, **kwargs) as writer:
        writer.append(
            images, masks, site=np.zeros(n), scene=np.full(n, -1), row=np.zeros(n), col=np.zeros(n)
        )
        return writer.finish(split, {"sites": [{"id": "a", "role": "train"}], "scenes": []})


def test_release_records_what_it_is(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.normal(100, 10, (10, 4, 128, 128)).astype(np.float32)
    images[0, 3, :10] = np.nan  # nodata in the DSM
    masks = (rng.random((10, 128, 128)) < 0.1).astype(np.uint8)
    split = np.array([0] * 6 + [1, 1, 2, 2])
    release = open_archive(_write(tmp_path, UAV, images, masks, split, dtype="float32"))
    attrs = json.loads((release.path / "zarr.json").read_text())["attributes"]  # strict JSON
    assert attrs["format_version"] == FORMAT_VERSION == 2
    assert attrs["sensor"] == {
        "name": "UAV (DJI Phantom 4 RTK)",
        "resolution_m": 0.5,
        "units": "DN; m",
        "description": "",
    }
    assert attrs["bands"] == ["red", "green", "blue", "dsm"] and attrs["dtype"] == "float32"
    assert attrs["nodata"] == "NaN" and math.isnan(release.nodata)
    assert [b["name"] for b in attrs["band_info"]] == attrs["bands"]
    assert release.sensor == UAV
    stored, _ = release.read(np.arange(10))
    np.testing.assert_array_equal(stored, images)
    train = images[:6].transpose(1, 0, 2, 3).reshape(4, -1).astype(np.float64)
    mean, std = release.normalization
    np.testing.assert_allclose(mean, np.nanmean(train, axis=1), rtol=1e-5)
    np.testing.assert_allclose(std, np.nanstd(train, axis=1), rtol=1e-5)
    low, high = release.percentiles  # from a seeded sample of every patch
    np.testing.assert_allclose(low, np.nanpercentile(train, 1, axis=1), rtol=0.02)
    np.testing.assert_allclose(high, np.nanpercentile(train, 99, axis=1), rtol=0.02)
    assert attrs["normalization"]["count"][3] == 6 * 128 * 128 - 10 * 128
    card = render_card(release)
    assert (
        "| Imagery | UAV (DJI Phantom 4 RTK), 0.5 m, DN; m; bands red, green, blue, dsm |" in card
    )
    assert "| 3 | dsm | — |" in card and "PlanetScope" not in card


def test_uint16_statistics_skip_nodata(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.normal(3000, 800, (80, 4, 128, 128)).clip(1, 65535).astype(np.uint16)
    images[:, :, :32] = 0  # nodata (0) stripes, never counted
    images[1:6, :, 40:] = 0  # five patches mostly nodata, their few pixels bright: they
    images[1:6, :, 32:40] = 20_000  # must weigh by their valid pixels, not as whole patches
    images[20:30, 1, 40:] = 65_000  # bright patches that band 1's 99th percentile sees
    split = np.array([0] * 64 + [1, 2] * 8)
    release = open_archive(_write(tmp_path, PLANETSCOPE, images, np.zeros((80, 128, 128)), split))
    assert release.nodata == 0 and release.dtype == np.uint16
    train = images[:64].transpose(1, 0, 2, 3).reshape(4, -1).astype(np.float64)
    valid = [band[band != 0] for band in train]
    assert release.attrs["normalization"]["count"] == [v.size for v in valid]
    mean, std = release.normalization  # exact, to six significant digits
    np.testing.assert_allclose(mean, [v.mean() for v in valid], rtol=1e-5)
    np.testing.assert_allclose(std, [v.std() for v in valid], rtol=1e-5)
    low, high = release.percentiles  # from 256 values per patch and band, weighted
    np.testing.assert_allclose(low, [np.percentile(v, 1) for v in valid], rtol=0.05)
    np.testing.assert_allclose(high, [np.percentile(v, 99) for v in valid], rtol=0.05)
    assert high[1] == 65_000 and high[0] < 6000


def test_uint8_percentiles_are_exact(tmp_path):
    rng = np.random.default_rng(4)
    sensor = make_sensor("sentinel-2", ["red", "green", "blue"])
    images = rng.integers(0, 256, (6, 3, 128, 128)).astype(np.uint8)
    split = np.array([0, 0, 0, 0, 1, 2])
    release = open_archive(
        _write(tmp_path, sensor, images, np.zeros((6, 128, 128)), split, dtype="uint8")
    )
    assert release.nodata is None
    train = images[:4].transpose(1, 0, 2, 3).reshape(3, -1)
    low, high = release.percentiles
    np.testing.assert_allclose(low, np.percentile(train, 1, axis=1), rtol=1e-6)
    np.testing.assert_allclose(high, np.percentile(train, 99, axis=1), rtol=1e-6)
    assert release.attrs["normalization"]["method"].startswith("exact")


def test_float_percentiles_from_a_seeded_sample_of_every_patch():
    rng = np.random.default_rng(2)
    images = rng.lognormal(3, 1, (40, 2, 128, 128)).astype(np.float32)
    images[3, 0, 0, :7] = np.inf  # never counted
    chosen = np.arange(40) < 30

    def stats(seed, batches=(40,)):
        acc = BandStatistics(2, np.dtype("float32"), float("nan"), seed)
        start = 0
        for size in batches:
            acc.add(images[start : start + size])
            start += size
        return acc.result(chosen)

    first = stats(0)
    assert stats(0, batches=(7, 13, 20)) == first  # batching does not matter
    assert stats(1)["p99"] != first["p99"]  # the seed does
    assert "256 valid values per patch and band drawn with seed 0" in first["method"]
    exact = np.percentile(images[:30, 1].ravel(), [1, 99])
    assert first["p01"][1] == pytest.approx(exact[0], rel=0.05)
    assert first["p99"][1] == pytest.approx(exact[1], rel=0.05)
    assert first["count"][0] == 30 * 128 * 128 - 7
    valid = images[:30, 0][np.isfinite(images[:30, 0])].astype(np.float64)
    assert first["mean"][0] == pytest.approx(valid.mean(), rel=1e-5)
    assert first["std"][0] == pytest.approx(valid.std(), rel=1e-5)


def test_format_1_releases_still_open_as_planetscope(tmp_path):
    path = make_release(tmp_path)
    zarr_json = path / "zarr.json"
    meta = json.loads(zarr_json.read_text())
    for key in ("sensor", "band_info", "dtype", "nodata"):
        meta["attributes"].pop(key)
    meta["attributes"]["format_version"] = 1
    for key in ("p01", "p99", "count", "method"):
        meta["attributes"]["normalization"].pop(key)
    zarr_json.write_text(json.dumps(meta))
    release = open_archive(path, verify=False)
    assert release.sensor == PLANETSCOPE and release.bands == ["red", "green", "blue", "nir"]
    assert release.dtype == np.uint16 and release.nodata == 0
    assert release.percentiles is None
    card = render_card(release)
    assert "| Imagery | PlanetScope, 3 m, surface reflectance scaled by 10 000" in card
    assert "| 3 | nir | 780–860 nm |" in card


def test_images_must_match_the_declared_bands_and_dtype(tmp_path):
    with ReleaseWriter(tmp_path, "test", "1.0.0", sensor=UAV, dtype="uint8") as writer:
        with pytest.raises(ValueError, match=r"images must be \(k, 4, 128, 128\) uint8"):
            writer.append(
                np.zeros((1, 4, 128, 128), np.uint16),
                np.zeros((1, 128, 128)),
                site=[0],
                scene=[0],
                row=[0],
                col=[0],
            )
    with pytest.raises(ValueError, match="dtype 'int16'"):
        ReleaseWriter(tmp_path, "test", "1.0.0", dtype="int16")
    with pytest.raises(ValueError, match="nodata 300 is outside the range of uint8"):
        ReleaseWriter(tmp_path, "test", "1.0.0", dtype="uint8", nodata=300)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "problem", "fix"),
    [
        (errno.ENOSPC, "no space left on the device", "free space there or choose another --out"),
        (errno.EROFS, "the folder is not writable", "choose a writable --out"),
        (errno.EACCES, "the folder is not writable", "fix the folder's permissions"),
    ],
)
def test_write_errors_are_one_line_naming_the_folder(tmp_path, monkeypatch, code, problem, fix):
    original = writer_module.ReleaseWriter._flush

    def failing(self, n):
        with self._writing():
            raise OSError(code, "simulated")
        original(self, n)

    monkeypatch.setattr(writer_module.ReleaseWriter, "_flush", failing)
    images = np.ones((4, 4, 128, 128), np.uint16)
    with pytest.raises(OutputError) as caught:
        _write(tmp_path / "out", PLANETSCOPE, images, np.zeros((4, 128, 128)), np.zeros(4))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'out'}: cannot write release test-1.0.0 there")
    assert problem in message and fix in message and "\n" not in message
    assert isinstance(caught.value, HrglddError) and isinstance(caught.value, OSError)
    assert list((tmp_path / "out").iterdir()) == []
