"""The sample release, built end to end: contents, split, georeference, determinism, statistics."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from rasterio.windows import from_bounds

from builders.build import build_release
from builders.sample import SAMPLE_RELEASE_FILE
from builders.sample.generate import load_sites
from builders.split import split_counts
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import ArchiveError
from hrgldd_data.manifest import verify_release
from hrgldd_data.schema import SPLIT_CODES


def test_every_site_has_patches_and_every_patch_a_landslide(sample_release):
    release = open_archive(sample_release)
    assert release.name == "hr_gldd_sample" and release.attrs["synthetic"] is True
    assert set(release.sites) == set(load_sites())
    images, masks = release.load()
    assert images.shape == (len(release), 4, 128, 128) and images.dtype == np.uint16
    assert masks.reshape(len(release), -1).max(axis=1).min() == 1, (
        "a kept patch has no landslide pixel"
    )
    for site in release.sites:
        assert release.indices(site=site).size > 0, site


def test_split_is_60_20_20_per_site_and_unseen_events_held_out(sample_release):
    release = open_archive(sample_release)
    for site in release.dataset_sites:
        idx = release.indices(site=site)
        got = {
            name: int((release.table["split"][idx] == SPLIT_CODES[name]).sum())
            for name in ("train", "val", "test")
        }
        assert got == split_counts(idx.size, {"train": 0.6, "val": 0.2, "test": 0.2}), site
        assert release.indices("unseen", site=site).size == 0
    assert set(release.unseen_sites) == {"haiti_2021", "sumatra_2022"}
    for site in release.unseen_sites:
        assert release.indices("unseen", site=site).size == release.indices(site=site).size
    keys = {t.key for t in release.test_sets()}
    assert "c1/test" in keys and "c3/haiti_2021" in keys and "c2/kodagu_2018" in keys


def test_patches_georeference_back_to_scene_pixels_and_inventory(sample_release, sample_raw):
    release = open_archive(sample_release)
    rng = np.random.default_rng(0)
    checked = set()
    for site in release.sites:  # every site, incl. the 8-band, geographic and two-scene ones
        i = int(rng.choice(release.indices(site=site)))
        crs_wkt, bounds = release.bounds(i)
        scene_info = release.attrs["scenes"][int(release.table["scene"][i])]
        with rasterio.open(sample_raw / scene_info["path"]) as src:
            assert src.crs == rasterio.crs.CRS.from_wkt(crs_wkt)
            window = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
            data = src.read(scene_info["bands_used"], window=window)
            valid = (data != 0).all(axis=0)
            image, mask = release.read([i])
            np.testing.assert_array_equal(image[0][:, valid], data[:, valid])
            polygons = (
                gpd.read_file(sample_raw / site / "inventory.gpkg").to_crs(src.crs).make_valid()
            )
            expected = rasterize(
                ((g, 1) for g in polygons.geometry),
                out_shape=(128, 128),
                transform=src.window_transform(window),
                dtype="uint8",
            )
        np.testing.assert_array_equal(mask[0][valid], expected[valid])
        checked.add(site)
    assert len(checked) == 10


def test_superdove_bands_mapped_from_descriptions_of_8_band_scene(sample_release):
    release = open_archive(sample_release)
    scenes = [s for s in release.attrs["scenes"] if s["site"] == "sumatra_2022"]
    assert scenes[0]["bands_used"] == [6, 4, 2, 8]  # red, green, blue, nir of SuperDove


def test_two_builds_from_the_same_inputs_are_identical(sample_release, sample_raw, tmp_path):
    again = build_release(SAMPLE_RELEASE_FILE, sample_raw, tmp_path, progress=False)
    first = json.loads((sample_release / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert first == second
    a, b = open_archive(sample_release), open_archive(again)
    np.testing.assert_array_equal(a.table["split"], b.table["split"])


def test_table1_statistics_stored_per_site(sample_release, sample_raw):
    release = open_archive(sample_release)
    settings = load_sites()
    for site in release.sites:
        info = release.site_info(site)
        stats = info["stats"]
        assert stats["n_landslides"] == settings[site]["landslides"]
        assert 0 < stats["min_landslide_area_m2"] <= stats["max_landslide_area_m2"]
        assert stats["n_patches"] == release.indices(site=site).size
        # Scenes are 768 px (two-scene site: 1280 px wide) at 3 m minus a nodata wedge.
        full = 768 * (768 if settings[site].get("scenes", 1) == 1 else 1280) * 9 / 1e6
        assert 0.7 * full < stats["study_area_km2"] < full, site
    assert release.site_info("rasuwa_2017")["stats"]["invalid_polygons_repaired"] == 2
    assert release.attrs["inputs"], "input checksums missing"


def test_verify_detects_a_corrupted_shard(sample_release, tmp_path):
    import shutil

    copy = Path(shutil.copytree(sample_release, tmp_path / sample_release.name))
    verify_release(copy)
    shard = next(
        p for p in sorted((copy / "image").rglob("*")) if p.is_file() and p.name != "zarr.json"
    )
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"sha256 mismatch"):
        verify_release(copy)


def test_train_normalization_statistics_are_stored(sample_release):
    release = open_archive(sample_release)
    mean, std = release.normalization
    images, _ = release.load()
    train = images[release.indices("train")].astype(np.float64)
    valid = train != 0
    expected = [train[:, b][valid[:, b]].mean() for b in range(4)]
    np.testing.assert_allclose(mean, expected, rtol=1e-4)
    assert (std > 0).all()
    assert mean[3] > mean[0], "vegetated scenes: NIR above red"
