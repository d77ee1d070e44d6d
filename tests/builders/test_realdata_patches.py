"""The three real patch sets in ../shared/realdata import with the README's own commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from PIL import Image

from hrgldd_cli import cli
from hrgldd_data.archive import open_archive
from hrgldd_data.manifest import verify_release

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_command(name: str) -> list[str]:
    """The `hrgldd import-patches ... --name NAME` command of the README, as arguments."""
    text = README.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("hrgldd import-patches") and f"--name {name} " in line:
            return shlex.split(line)[1:]
    raise AssertionError(f"README.md has no `hrgldd import-patches ... --name {name}` command")


def run_readme_command(name: str, shared_dir: Path, out: Path):
    """Run the README's command with ../shared -> the shared folder and data/releases -> out."""
    args = [
        str(shared_dir / arg.removeprefix("../shared/")) if arg.startswith("../shared/") else arg
        for arg in readme_command(name)
    ]
    args[args.index("--out") + 1] = str(out)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    path = out / f"{name}-1.0.0"
    verify_release(path)
    return open_archive(path), result.output


def _source(release, index: int) -> str:
    return release.attrs["scenes"][int(release.table["scene"][index])]["path"]


def test_landslide4sense_rgb(shared_dir, tmp_path):
    data = shared_dir / "realdata" / "landslide4sense_rgb" / "data"
    release, output = run_readme_command("landslide4sense_rgb", shared_dir, tmp_path)
    assert release.attrs["counts"]["splits"] == {
        "train": 1385,
        "val": 396,
        "test": 199,
        "unseen": 0,
    }
    assert release.bands == ["red", "green", "blue"] and release.dtype == np.uint8
    assert release.sensor.name == "Sentinel-2 MSI" and release.sensor.resolution_m == 10.0
    assert release.sites == ["landslide4sense"] and release.nodata is None
    # Every split folder's patches went to that split; pixels are the PNG's RGB, masks 0/255 -> 0/1.
    folders = {"train": "train", "val": "validation", "test": "test"}
    for i in np.random.default_rng(0).choice(len(release), 12, replace=False):
        path = _source(release, i)
        assert path.startswith(folders[release.split_of(i)] + "/images/image_")
        image, mask = release.read([i])
        rgba = np.asarray(Image.open(data / path))
        np.testing.assert_array_equal(image[0], rgba[..., :3].transpose(2, 0, 1))
        expected = np.asarray(Image.open(data / path.replace("images/image_", "masks/mask_")))
        np.testing.assert_array_equal(mask[0], (expected[..., 0] == 255).astype(np.uint8))
    _, masks = release.load()
    fraction = masks.mean()
    assert 0.02 < fraction < 0.08  # about 4.5 % landslide pixels, as the data's README says
    card = (release.path / "README.md").read_text()
    assert "| Imagery | Sentinel-2 MSI, 10 m, 8-bit display rendering (not reflectance)" in card
    assert "PlanetScope" not in card and "Ghorbanzadeh et al. 2022" in card
    assert "train 1385, val 396, test 199" in output


def test_mmlsv2_mars_crs_round_trip_and_fill_values(shared_dir, tmp_path):
    data = shared_dir / "realdata" / "mmlsv2_mars" / "data" / "train"
    release, output = run_readme_command("mmlsv2_mars", shared_dir, tmp_path)
    assert len(release) == 465
    assert release.attrs["counts"]["splits"] == {"train": 279, "val": 93, "test": 93, "unseen": 0}
    assert release.dtype == np.float32 and np.isnan(release.nodata)
    assert release.bands == ["thermal_inertia", "slope", "dem", "gray", "red", "green", "blue"]
    assert release.sensor.resolution_m == pytest.approx(232.0)
    # The six tiles with -3.4e38 in band 2 (slope) and no nodata tag: reported, stored as NaN.
    fill = release.attrs["import"]["fill_values"]
    assert list(fill) == ["slope"] and len(fill["slope"]["patches"]) == 6
    assert fill["slope"]["values"] == [pytest.approx(-3.40282e38)]
    assert re.search(r"band slope: \d+ fill value\(s\) \[-3\.40282e\+38\] .* in 6 patch", output)
    images, _ = release.load()
    filled = {i for i in range(len(release)) if np.isnan(images[i]).any()}
    assert len(filled) == 6
    for i in filled:  # only band 2 (slope) holds nodata
        assert np.isnan(images[i]).any(axis=(1, 2)).tolist() == [False, True] + [False] * 5
    mean, std = release.normalization
    low, high = release.percentiles
    assert np.all(np.isfinite(mean)) and np.all(std > 0) and np.all(low < high)
    assert -100 < mean[1] < 100 and high[1] <= 90  # slope in degrees, no fill value counted
    # Mars CRS round trip on every patch: WKT and transform read back equal the GeoTIFF's.
    for i in range(len(release)):
        crs_wkt, transform = release.georeference(i)
        with rasterio.open(data / _source(release, i)) as tif:
            assert rasterio.crs.CRS.from_wkt(crs_wkt) == tif.crs
            assert transform == tuple(tif.transform)[:6]
            if i % 97 == 0:
                assert tif.crs.to_epsg() is None and "Mars" in crs_wkt
                expected = tif.read()
                expected[expected < -1e30] = np.nan
                np.testing.assert_array_equal(images[i], expected)
                assert release.bounds(i)[1] == pytest.approx(tuple(tif.bounds))
    card = (release.path / "README.md").read_text()
    assert "| Imagery | MMLSv2 Mars (Valles Marineris), 232 m;" in card
    assert "PlanetScope" not in card and "`NaN` marks no data" in card


def test_landslide4sense_h5(shared_dir, tmp_path):
    data = shared_dir / "realdata" / "landslide4sense_h5" / "pred_mask"
    release, output = run_readme_command("landslide4sense_h5", shared_dir, tmp_path)
    assert len(release) == 6 and release.bands == ["red", "green", "blue", "nir"]
    assert release.attrs["import"]["skipped_unpaired"] == ["mask/mask_1006.h5"]
    assert release.attrs["import"]["empty_masks"] == ["3645"]
    assert "mask_1006.h5" in output and "3645" in output
    for i in range(len(release)):
        with h5py.File(data / _source(release, i)) as handle:
            expected = handle["img"][()][..., [3, 2, 1, 7]].transpose(2, 0, 1).astype(np.float32)
        image, _ = release.read([i])
        np.testing.assert_array_equal(image[0], expected)
    # Without --skip-unpaired the orphan mask is refused, naming it.
    args = [a for a in readme_command("landslide4sense_h5") if a != "--skip-unpaired"]
    args = [str(shared_dir / a[10:]) if a.startswith("../shared/") else a for a in args]
    args[args.index("--out") + 1] = str(tmp_path / "again")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "mask/mask_1006.h5" in result.output
    assert "--skip-unpaired" in result.output
    assert not (tmp_path / "again").exists() or not any((tmp_path / "again").iterdir())
