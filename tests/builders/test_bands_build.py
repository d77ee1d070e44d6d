"""A release stores the bands it declares; `bands = "auto"` never swaps or guesses silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from scene_files import ORIGIN, default_polygons, write_inventory, write_scene

from builders.build import build_release
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import InputError

UAV_SENSOR = (
    '[imagery.sensor]\nname = "UAV (DJI Phantom 4 RTK)"\nresolution_m = 0.5\n'
    'units = "8-bit RGB; DSM in metres"\nbands = ["red", "green", "blue", "dsm"]\n'
)


def write_described_scene(
    path: Path,
    descriptions: tuple[str, ...],
    values: tuple[float, ...],
    *,
    dtype: str = "float32",
    resolution: float = 0.5,
    nodata: float | None = None,
) -> Path:
    """A 256-px scene whose band ``b`` holds ``values[b]`` (+ up to 1 %) and description."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = np.stack([v * (1 + 0.01 * rng.random((256, 256))) for v in values]).astype(dtype)
    profile = {
        "driver": "GTiff",
        "width": 256,
        "height": 256,
        "count": len(values),
        "dtype": dtype,
        "crs": "EPSG:32643",
        "transform": Affine(resolution, 0, ORIGIN[0], 0, -resolution, ORIGIN[1]),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for band, text in enumerate(descriptions, start=1):
            dst.set_band_description(band, text)
    return path


def uav_polygons() -> list[shapely.Geometry]:
    """Two landslides in the 0.5 m scene: windows (0, 0) and (128, 128)."""
    x0, y0 = ORIGIN
    return [
        shapely.box(x0 + 10, y0 - 40, x0 + 40, y0 - 10),
        shapely.box(x0 + 70, y0 - 110, x0 + 110, y0 - 70),
    ]


def _build(project):
    return build_release(
        project.release(), project.raw, project.out, progress=False, scheduler="synchronous"
    )


def _uav_project(project, extra: str = UAV_SENSOR, **scene):
    descriptions = scene.pop("descriptions", ("Blue", "Green", "Red", "DSM"))
    values = scene.pop("values", (30.0, 60.0, 90.0, 1250.0))
    write_described_scene(project.raw / "testsite" / "scene.tif", descriptions, values, **scene)
    write_inventory(project.raw / "testsite" / "inventory.gpkg", uav_polygons())
    project.event(extra_imagery=extra)


def test_rgb_dsm_scene_builds_an_rgb_dsm_release(project):
    _uav_project(project, UAV_SENSOR + 'dtype = "float32"\n')
    release = open_archive(_build(project))
    assert release.bands == ["red", "green", "blue", "dsm"] and release.dtype == np.float32
    assert release.sensor.name == "UAV (DJI Phantom 4 RTK)" and release.sensor.resolution_m == 0.5
    images, _ = release.load()
    # File order is Blue, Green, Red, DSM: the release is red, green, blue, dsm, never swapped.
    lows = images.min(axis=(0, 2, 3))
    np.testing.assert_array_equal(np.floor(lows), [90, 60, 30, 1250])
    assert release.attrs["scenes"][0]["bands_used"] == [3, 2, 1, 4]
    card = (release.path / "README.md").read_text()
    assert "| Imagery | UAV (DJI Phantom 4 RTK), 0.5 m, 8-bit RGB; DSM in metres;" in card
    assert "PlanetScope" not in card and "| 3 | dsm | — |" in card


def test_uint16_rgb_dsm_release(project):
    _uav_project(project, dtype="uint16", values=(30, 60, 90, 1250))
    release = open_archive(_build(project))
    images, _ = release.load()
    assert release.dtype == np.uint16 and release.bands == ["red", "green", "blue", "dsm"]
    np.testing.assert_array_equal(images.min(axis=(0, 2, 3)), [90, 60, 30, 1250])


def test_rgb_dsm_scene_is_refused_for_a_planetscope_release(project):
    """The swap of the issue: no NIR described, so no guess in PlanetScope order."""
    _uav_project(project, extra="", dtype="uint16", values=(30, 60, 90, 1250))
    with pytest.raises(InputError) as caught:
        _build(project)
    message = str(caught.value)
    assert str(project.raw / "testsite" / "scene.tif") in message
    assert "do not name ['nir']" in message and "testsite.toml" in message
    assert not project.out.exists() or not any(project.out.iterdir())


def test_ambiguous_descriptions_name_the_file(project):
    _uav_project(
        project,
        extra="",
        dtype="uint16",
        descriptions=("Red", "Red", "Green", "Blue", "NIR"),
        values=(1, 2, 3, 4, 5),
    )
    with pytest.raises(
        InputError,
        match=r"scene\.tif: cannot map bands automatically: its band descriptions name "
        r"\{'red': \[1, 2\]\} more than once.*testsite\.toml",
    ):
        _build(project)


def test_undescribed_four_band_scene_keeps_planetscope_order(project):
    release = open_archive(_build_valid(project))
    image, _ = release.read([0])
    # write_scene: band b holds 100*(b+1)..+50; PlanetScope B,G,R,NIR -> R is band 3.
    assert 300 <= image[0, 0].min() and image[0, 0].max() < 350


def _build_valid(project):
    project.valid()
    return _build(project)


@pytest.mark.parametrize(
    ("values", "scale_text", "expected_red"),
    [
        ((0.03, 0.06, 0.09, 0.3), "", 900),  # 0–1 reflectance: x 10 000
        ((300.0, 600.0, 900.0, 3000.0), "", 900),  # 0–10 000 reflectance as float: as is
        ((3.0, 6.0, 9.0, 30.0), "scale = 100\n", 900),  # explicit scale
    ],
)
def test_float_reflectance_is_read_clearly(project, values, scale_text, expected_red):
    write_described_scene(
        project.raw / "testsite" / "scene.tif",
        ("blue", "green", "red", "nir"),
        values,
        resolution=3.0,
    )
    write_inventory(project.raw / "testsite" / "inventory.gpkg", default_polygons())
    project.event(extra_imagery=scale_text)
    release = open_archive(_build(project))
    images, _ = release.load()
    assert release.dtype == np.uint16
    assert expected_red <= images[:, 0].min() and images[:, 0].max() <= expected_red * 1.2
    assert release.attrs["scenes"][0]["scale"] in (10000.0, 1.0, 100.0)


def test_signed_scene_is_accepted_only_when_told_how(project):
    project.valid()
    write_scene(project.raw / "testsite" / "scene.tif", dtype="int16")
    with pytest.raises(
        InputError, match=r"scene\.tif: bands are int16 \(signed.*imagery\.scale = 1"
    ):
        _build(project)
    project.event(extra_imagery="scale = 1")
    release = open_archive(_build(project))
    assert release.attrs["scenes"][0]["scale"] == 1.0 and len(release) == 4
