"""`hrgldd import-patches`: folders of image/mask patches in every layout become releases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from patch_files import (
    MARS_WKT,
    tree_bytes,
    write_geotiff_pairs,
    write_h5_pairs,
    write_npy_pairs,
    write_png_pairs,
)
from PIL import Image

from builders.patches import import_patches, natural_key, patch_key
from hrgldd_cli import cli
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import InputError, ReleaseExistsError
from hrgldd_data.manifest import verify_release


def _nothing_written(out):
    assert not out.exists() or list(out.iterdir()) == [], list(out.iterdir())


def _import(folder, out, **kwargs):
    kwargs = {"name": "patches", "version": "1.0.0", "sensor": "sentinel-2"} | kwargs
    return import_patches(folder, out, **kwargs)


def test_pairing_rule():
    assert patch_key("image_12", ("image", "img")) == "12"
    assert patch_key("mask-12", ("mask",)) == "12"
    assert patch_key("col00026_row00007", ("image", "img")) == "col00026_row00007"
    assert patch_key("imagery", ("image", "img")) == "imagery"  # a word, not a prefix + key
    assert sorted(["image_10", "image_2", "image_1"], key=natural_key) == [
        "image_1",
        "image_2",
        "image_10",
    ]


def test_png_split_folders_keep_values_masks_and_splits(tmp_path):
    src = tmp_path / "src"
    written = {}
    for split, folder, keys in (
        ("train", "train", [1, 2, 10, 3]),
        ("val", "validation", [4]),
        ("test", "test", [5, 6]),
    ):
        written |= {
            (split, k): v for k, v in write_png_pairs(src / folder, keys, seed=len(keys)).items()
        }
    path, report = _import(src, tmp_path / "out", split="folders", bands=["red", "green", "blue"])
    verify_release(path)
    release = open_archive(path)
    assert release.dtype == np.uint8 and release.nodata is None
    assert release.bands == ["red", "green", "blue"]
    assert release.sensor.name == "Sentinel-2 MSI" and release.sensor.resolution_m == 10.0
    assert release.attrs["counts"]["splits"] == {"train": 4, "val": 1, "test": 2, "unseen": 0}
    # Patches are ordered by split, then naturally by key (image_2 before image_10).
    scenes = [release.attrs["scenes"][s]["path"] for s in release.table["scene"]]
    assert scenes[:4] == [f"train/images/image_{k}.png" for k in (1, 2, 3, 10)]
    for i, scene in enumerate(scenes):
        split = release.split_of(i)
        key = int(scene.rsplit("_", 1)[1].removesuffix(".png"))
        image, mask = release.read([i])
        np.testing.assert_array_equal(image[0], written[(split, key)][0])
        np.testing.assert_array_equal(mask[0], written[(split, key)][1])  # 0/255 RGBA -> 0/1
    assert release.bounds(0) is None  # PNG: no CRS
    assert report.masks_0_255 == 7
    # Statistics: exact over the train split.
    train, _ = release.read(release.indices("train"))
    values = train.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64)
    mean, std = release.normalization
    np.testing.assert_allclose(mean, values.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(std, values.std(axis=1), rtol=1e-5)
    low, high = release.percentiles
    np.testing.assert_allclose(low, np.percentile(values, 1, axis=1), rtol=1e-5)
    np.testing.assert_allclose(high, np.percentile(values, 99, axis=1), rtol=1e-5)
    # The card describes this release, not PlanetScope.
    card = (path / "README.md").read_text()
    assert "PlanetScope" not in card and "3 m" not in card
    assert "| Imagery | Sentinel-2 MSI, 10 m, 8-bit display rendering (not reflectance)" in card
    assert "| 0 | red | 650–680 nm |" in card and "`uint8`" in card
    assert "split as delivered by the source" in card


def test_geotiff_mars_crs_fill_values_and_seeded_split(tmp_path):
    src = tmp_path / "mars"
    names = [f"col{c:05d}_row00001" for c in range(10)]
    fill = {names[3]: (1, -3.4028234663852886e38), names[7]: (1, -3.4028234663852886e38)}
    written = write_geotiff_pairs(src, names, fill=fill)
    path, report = _import(
        src,
        tmp_path / "out",
        sensor="MMLSv2 Mars",
        source_bands=["thermal_inertia", "slope", "dem"],
        split="seeded",
        seed=3,
    )
    release = open_archive(path)
    assert release.dtype == np.float32 and math.isnan(release.nodata)
    assert release.sensor.resolution_m == pytest.approx(232.0)  # from the GeoTIFF
    assert release.bands == ["thermal_inertia", "slope", "dem"]
    assert release.attrs["counts"]["splits"] == {"train": 6, "val": 2, "test": 2, "unseen": 0}
    # Fill values without a nodata tag: reported, stored as NaN, never in the statistics.
    assert report.fill_values["slope"]["pixels"] == 2 * 4 * 128
    assert report.fill_values["slope"]["patches"] == [names[3], names[7]]
    assert "fill value" in release.attrs["notes"] and "slope" in release.attrs["notes"]
    for i in range(len(release)):
        info = release.attrs["scenes"][int(release.table["scene"][i])]
        name = info["path"].removeprefix("images/").removesuffix(".tif")
        image, mask = release.read([i])
        expected = written[name][0].copy()
        expected[expected < -1e30] = np.nan
        np.testing.assert_array_equal(image[0], expected)
        np.testing.assert_array_equal(mask[0], written[name][1])
        # Mars CRS round trip: the WKT and transform read back equal the GeoTIFF's.
        crs_wkt, transform = release.georeference(i)
        with rasterio.open(src / info["path"]) as tif:
            assert rasterio.crs.CRS.from_wkt(crs_wkt) == tif.crs and tif.crs.to_epsg() is None
            assert transform == tuple(tif.transform)[:6]
            assert release.bounds(i)[1] == pytest.approx(tuple(tif.bounds))
    train, _ = release.read(release.indices("train"))
    slope = train[:, 1].ravel()
    filled_in_train = [n for n in (names[3], names[7]) if n in _train_names(release)]
    assert filled_in_train, "the test needs a filled patch in the train split"
    assert np.isnan(slope).sum() == 4 * 128 * len(filled_in_train)
    mean, std = release.normalization
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    assert mean[1] == pytest.approx(np.nanmean(slope), rel=1e-5)
    assert std[1] == pytest.approx(np.nanstd(slope), rel=1e-4)
    card = (path / "README.md").read_text()
    assert "MMLSv2 Mars, 232 m" in card and "`NaN` marks no data" in card
    assert "PlanetScope" not in card


def _train_names(release):
    return {
        release.attrs["scenes"][int(release.table["scene"][i])]["path"][7:-4]
        for i in release.indices("train")
    }


def test_hdf5_explicit_band_map_and_unpaired_files(tmp_path):
    src = tmp_path / "h5"
    written = write_h5_pairs(src, [42, 168, 1002])
    import h5py

    with h5py.File(src / "mask" / "mask_1006.h5", "w") as handle:
        handle["mask"] = np.zeros((128, 128), np.uint8)
    mapping = {"red": 4, "green": 3, "blue": 2, "nir": 8}
    with pytest.raises(
        InputError, match=r"1 file\(s\) have no partner: mask/mask_1006\.h5.*--skip-unpaired"
    ):
        _import(src, tmp_path / "out", band_map=mapping, split="seeded")
    _nothing_written(tmp_path / "out")
    path, report = _import(
        src, tmp_path / "out", band_map=mapping, split="seeded", skip_unpaired=True
    )
    release = open_archive(path)
    assert release.bands == ["red", "green", "blue", "nir"] and release.dtype == np.float32
    assert [b.wavelength_nm for b in release.sensor.bands][3] == (785, 900)  # Sentinel-2 B8
    assert report.skipped_unpaired == ["mask/mask_1006.h5"]
    for i in range(len(release)):
        key = int(release.attrs["scenes"][int(release.table["scene"][i])]["path"][10:-3])
        image, _ = release.read([i])
        expected = written[key][0][..., [3, 2, 1, 7]].transpose(2, 0, 1).astype(np.float32)
        np.testing.assert_array_equal(image[0], expected)


def test_npy_bands_first_flat_folder_keeps_uint16(tmp_path):
    src = tmp_path / "npy"
    written = write_npy_pairs(src, [1, 2, 3, 4, 5])
    path, _ = _import(
        src,
        tmp_path / "out",
        sensor="planetscope",
        source_bands=["blue", "green", "red", "nir"],
        bands=["red", "green", "blue", "nir"],
    )
    release = open_archive(path)
    assert release.dtype == np.uint16 and release.sensor.name == "PlanetScope"
    image, _ = release.read([0])
    key = int(release.attrs["scenes"][int(release.table["scene"][0])]["path"][6:-4])
    np.testing.assert_array_equal(image[0], written[key][0][[2, 1, 0, 3]])


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_split_file_with_sites(tmp_path, kind):
    src = tmp_path / "src"
    write_png_pairs(src, list(range(6)))
    entries = [(0, "train", "north"), (1, "train", "north"), (2, "val", "north")]
    entries += [(3, "train", "south"), (4, "test", "south"), (5, "validation", "south")]
    if kind == "csv":
        split_file = tmp_path / "splits.csv"
        split_file.write_text("id,split,site\n" + "".join(f"{k},{s},{t}\n" for k, s, t in entries))
    else:
        split_file = tmp_path / "splits.json"
        split_file.write_text(
            json.dumps({f"image_{k}": {"split": s, "site": t} for k, s, t in entries})
        )
    path, _ = _import(src, tmp_path / "out", split=str(split_file), bands=["red", "green", "blue"])
    release = open_archive(path)
    assert release.sites == ["north", "south"]
    assert release.attrs["counts"]["sites"]["south"] == {
        "train": 1,
        "val": 1,
        "test": 1,
        "unseen": 0,
        "total": 3,
    }
    assert [t.key for t in release.test_sets()] == ["c1/test", "c2/south"]


def test_split_file_must_list_every_patch(tmp_path):
    src = tmp_path / "src"
    write_png_pairs(src, [0, 1, 2])
    split_file = tmp_path / "splits.csv"
    split_file.write_text("id,split\n0,train\n1,test\n7,val\n")
    with pytest.raises(
        InputError,
        match=r"splits\.csv: 1 patch\(es\) not listed \(image_2\.png\); "
        r"1 id\(s\) match no patch \(7\)",
    ):
        _import(src, tmp_path / "out", split=str(split_file))
    _nothing_written(tmp_path / "out")


def test_same_inputs_and_seed_give_identical_bytes(tmp_path):
    src = tmp_path / "mars"
    write_geotiff_pairs(src, [f"p{i}" for i in range(7)], fill={"p2": (0, -3.4e38)})
    first, _ = _import(src, tmp_path / "a", sensor="mars", source_bands=["a", "b", "c"], seed=5)
    second, _ = _import(src, tmp_path / "b", sensor="mars", source_bands=["a", "b", "c"], seed=5)
    assert tree_bytes(first) == tree_bytes(second)
    other, _ = _import(src, tmp_path / "c", sensor="mars", source_bands=["a", "b", "c"], seed=6)
    assert not np.array_equal(
        open_archive(other).table["split"], open_archive(first).table["split"]
    )


def _png(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda src: _png(
                src / "images" / "image_1.png", np.zeros((256, 256, 3), np.uint8), "RGB"
            ),
            r"image_1\.png: patch of shape \(3, 256, 256\) is not 128x128.*gdal_retile",
        ),
        (
            lambda src: _png(src / "masks" / "mask_1.png", np.full((128, 128), 7, np.uint8), "L"),
            r"mask_1\.png: mask values \[7\] are not binary; masks must hold 0/1 or 0/255",
        ),
        (
            lambda src: _png(
                src / "masks" / "mask_1.png",
                np.dstack([np.full((128, 128), 255, np.uint8), np.zeros((128, 128, 2), np.uint8)]),
                "RGB",
            ),
            r"mask_1\.png: mask channels differ \(a colour mask\)",
        ),
        (
            lambda src: (src / "images" / "image_1.png").write_bytes(b"\x89PNG broken"),
            r"image_1\.png: cannot be read as PNG .*re-export or re-download it",
        ),
    ],
)
def test_bad_patches_are_refused_and_nothing_written(tmp_path, damage, message):
    src = tmp_path / "src"
    write_png_pairs(src, [0, 1, 2])
    damage(src)
    with pytest.raises(InputError, match=message):
        _import(src, tmp_path / "out", bands=["red", "green", "blue"])
    _nothing_written(tmp_path / "out")


def test_band_mapping_rule_is_the_products(tmp_path):
    src = tmp_path / "h5"
    write_h5_pairs(src, [1, 2], bands=4)
    with pytest.raises(
        InputError, match=r"image_1\.h5: its 4 band\(s\) carry no names; declare them"
    ):
        _import(src, tmp_path / "out")
    with pytest.raises(InputError, match=r"gives band 2 to both 'red' and 'green'"):
        _import(src, tmp_path / "out", band_map={"red": 2, "green": 2, "blue": 1})
    with pytest.raises(
        InputError,
        match=r"has 4 band\(s\) but the band mapping \(set in --band-map\) asks for \{'nir': 8\}",
    ):
        _import(src, tmp_path / "out", band_map={"red": 1, "nir": 8})
    _nothing_written(tmp_path / "out")


def test_mask_on_another_grid_is_refused(tmp_path):
    src = tmp_path / "tif"
    write_geotiff_pairs(src, ["a", "b"])
    with rasterio.open(src / "masks" / "b.tif", "r+") as dst:
        dst.transform = rasterio.Affine(232.0, 0, 0, 0, -232.0, 0)
    with pytest.raises(
        InputError, match=r"b\.tif: mask grid \(CRS/transform\) differs from its image b\.tif"
    ):
        _import(src, tmp_path / "out", sensor="mars", source_bands=["a", "b", "c"])
    _nothing_written(tmp_path / "out")


def test_declared_resolution_must_match_the_geotiff(tmp_path):
    src = tmp_path / "tif"
    write_geotiff_pairs(src, ["a"])
    with pytest.raises(InputError, match=r"pixels are 232 m but --resolution declares 10 m"):
        _import(src, tmp_path / "out", sensor="mars", source_bands=["a", "b", "c"], resolution_m=10)


def test_existing_version_is_never_overwritten(tmp_path):
    src = tmp_path / "src"
    write_png_pairs(src, [0, 1])
    path, _ = _import(src, tmp_path / "out", bands=["red", "green", "blue"])
    before = tree_bytes(path)
    with pytest.raises(ReleaseExistsError, match="immutable"):
        _import(src, tmp_path / "out", bands=["red", "green", "blue"])
    assert tree_bytes(path) == before


def test_cli_import_patches_and_its_errors(tmp_path):
    src = tmp_path / "src"
    write_png_pairs(src / "train", [0, 1, 2])
    write_png_pairs(src / "val", [3])
    write_png_pairs(src / "test", [4])
    runner = CliRunner()
    args = ["import-patches", str(src), "--name", "mine", "--version", "1.0.0", "--out"]
    result = runner.invoke(
        cli, [*args, str(tmp_path / "out"), "--sensor", "sentinel-2", "--bands", "red,green,blue"]
    )
    assert result.exit_code == 0, result.output
    assert "3 train" not in result.output and "train 3, val 1, test 1" in result.output
    assert "Sentinel-2 MSI 10 m, bands red,green,blue uint8" in result.output
    missing = runner.invoke(cli, [*args, str(tmp_path / "o2")])
    assert missing.exit_code == 2 and "--sensor is required" in missing.output
    seed = runner.invoke(cli, [*args, str(tmp_path / "o3"), "--sensor", "x", "--seed", "-1"])
    assert seed.exit_code == 2 and "--seed" in seed.output
    fractions = runner.invoke(
        cli,
        [
            *args,
            str(tmp_path / "o4"),
            "--sensor",
            "x",
            "--split",
            "seeded",
            "--fractions",
            "nan,0.5,0.5",
        ],
    )
    assert (
        fractions.exit_code == 1
        and "--fractions" in fractions.output
        and "finite" in fractions.output
    )
    for folder in ("o2", "o3", "o4"):
        _nothing_written(tmp_path / folder)


def test_import_legacy_is_the_zenodo_layout(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "zenodo"
    folder.mkdir()
    for split, n in (("train", 3), ("val", 1), ("test", 1)):
        np.save(
            folder / f"{split}X.npy", rng.integers(1, 5000, (n, 128, 128, 4)).astype(np.float32)
        )
        np.save(folder / f"{split}Y.npy", rng.integers(0, 2, (n, 128, 128, 1)).astype(np.float32))
    result = CliRunner().invoke(
        cli,
        [
            "import-patches",
            str(folder),
            "--layout",
            "zenodo",
            "--name",
            "hr_gldd",
            "--version",
            "0.9.0",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    release = open_archive(tmp_path / "out" / "hr_gldd-0.9.0")
    assert release.legacy and release.sensor.name == "PlanetScope" and release.dtype == np.uint16
    assert (tmp_path / "out" / "hr_gldd-0.9.0" / "README.md").is_file()


def test_mars_wkt_fixture_has_no_epsg():
    assert rasterio.crs.CRS.from_wkt(MARS_WKT).to_epsg() is None
