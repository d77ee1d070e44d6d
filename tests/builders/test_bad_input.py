"""Every bad input named in the issue gets a clear error naming the file, and nothing is written."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from scene_files import ORIGIN, default_polygons, square, write_inventory, write_scene

from builders.build import build_release
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import InputError, ReleaseExistsError

ROOT = Path(__file__).resolve().parents[2]


def _build(project, release=None):
    return build_release(
        release or project.release(),
        project.raw,
        project.out,
        progress=False,
        scheduler="synchronous",
    )


def _assert_nothing_written(project):
    assert not project.out.exists() or not any(project.out.iterdir()), list(project.out.iterdir())


def test_valid_project_builds(project):
    path = _build(project, project.valid())
    release = open_archive(path)
    assert len(release) == 4
    assert release.attrs["inputs"]["testsite/scene.tif"]


def test_missing_scene(project):
    project.valid()
    (project.raw / "testsite" / "scene.tif").unlink()
    with pytest.raises(InputError, match=r"testsite/\*\.tif: no scene matches"):
        _build(project)
    _assert_nothing_written(project)


def test_unreadable_scene(project):
    project.valid()
    (project.raw / "testsite" / "scene.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(InputError, match=r"scene\.tif: cannot be read as a raster"):
        _build(project)
    _assert_nothing_written(project)


def test_scene_without_crs(project):
    project.valid()
    write_scene(project.raw / "testsite" / "scene.tif", crs=None)
    with pytest.raises(InputError, match=r"scene\.tif: scene has no CRS; assign one"):
        _build(project)


def test_band_count_that_cannot_be_mapped(project):
    project.valid()
    write_scene(project.raw / "testsite" / "scene.tif", count=3)
    with pytest.raises(
        InputError, match=r"scene\.tif: cannot map its 3 undescribed band\(s\).*imagery\.bands"
    ):
        _build(project)


def test_explicit_band_mapping_is_used(project):
    project.valid()
    project.event(extra_imagery="bands = { red = 1, green = 2, blue = 3, nir = 4 }")
    release = open_archive(_build(project))
    image, _ = release.read([0])
    # write_scene puts values 100*(b+1)..+50 in band b: band 1 (red here) is in 100..150.
    assert 100 <= image[0, 0].max() < 150 and 400 <= image[0, 3].min()


def test_band_mapping_beyond_band_count(project):
    project.valid()
    project.event(extra_imagery="bands = { red = 3, green = 2, blue = 1, nir = 9 }")
    with pytest.raises(
        InputError, match=r"has 4 band\(s\) but the band mapping \(set in imagery\.bands.*nir"
    ):
        _build(project)


def test_inventory_without_crs(project):
    project.valid()
    write_inventory(project.raw / "testsite" / "inventory.gpkg", default_polygons(), crs=None)
    with pytest.raises(InputError, match=r"inventory\.gpkg: inventory has no CRS"):
        _build(project)


def test_inventory_that_does_not_overlap(project):
    project.valid()
    far = [square(ORIGIN[0] + 50_000, ORIGIN[1] + 50_000)]
    write_inventory(project.raw / "testsite" / "inventory.gpkg", far)
    with pytest.raises(
        InputError,
        match=r"inventory\.gpkg: no landslide polygon overlaps the scenes \['scene\.tif'\]",
    ):
        _build(project)
    _assert_nothing_written(project)


def test_inventory_in_wrong_crs_label_is_caught_as_no_overlap(project):
    project.valid()
    write_inventory(
        project.raw / "testsite" / "inventory.gpkg", default_polygons(), crs="EPSG:32610"
    )
    with pytest.raises(InputError, match="right CRS"):
        _build(project)


def test_empty_inventory(project):
    project.valid()
    write_inventory(project.raw / "testsite" / "inventory.gpkg", [None])
    with pytest.raises(InputError, match=r"inventory\.gpkg: inventory is empty"):
        _build(project)


def test_non_polygon_geometries(project):
    project.valid()
    points = [shapely.Point(ORIGIN[0] + 100, ORIGIN[1] - 100)] * 3
    write_inventory(project.raw / "testsite" / "inventory.gpkg", points)
    with pytest.raises(InputError, match=r"non-polygon geometries \{'Point': 3\}"):
        _build(project)


def test_invalid_geometries_are_repaired_and_counted(project):
    project.valid()
    polygons = default_polygons()
    x0, y0, x1, y1 = polygons[0].bounds
    polygons[0] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # bow-tie
    assert not polygons[0].is_valid
    write_inventory(project.raw / "testsite" / "inventory.gpkg", polygons + [None])
    release = open_archive(_build(project))
    info = release.site_info("testsite")
    assert info["inventory"]["repaired_invalid"] == 1
    assert info["inventory"]["dropped_null_or_empty"] == 1
    assert info["stats"]["n_landslides"] == 4
    assert len(release) == 4


def test_scenes_of_one_site_in_different_crss_are_warped(project):
    project.valid()
    # A second scene east of the first, delivered in geographic coordinates.
    import rasterio
    from rasterio.warp import calculate_default_transform, reproject

    utm = write_scene(project.raw / "tmp" / "east.tif", origin=(ORIGIN[0] + 768, ORIGIN[1]), seed=1)
    with rasterio.open(utm) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )
        data = np.zeros((4, height, width), np.uint16)
        reproject(
            src.read(),
            data,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs="EPSG:4326",
            dst_nodata=0,
        )
        profile = src.profile | {
            "crs": "EPSG:4326",
            "transform": transform,
            "width": width,
            "height": height,
        }
    with rasterio.open(project.raw / "testsite" / "scene_east.tif", "w", **profile) as dst:
        dst.write(data)
    east = [square(ORIGIN[0] + 768 + 60, ORIGIN[1] - 100)]
    write_inventory(project.raw / "testsite" / "inventory.gpkg", default_polygons() + east)
    release = open_archive(_build(project))
    scenes = release.attrs["scenes"]
    assert [s["warped_from"] is not None for s in scenes] == [False, True]
    assert scenes[1]["epsg"] == 32643
    assert len(release) == 5


def test_scene_that_is_all_nodata(project):
    project.valid()
    write_scene(project.raw / "testsite" / "scene.tif", fill=0)
    with pytest.raises(InputError, match=r"scene\.tif: scene holds no valid pixel"):
        _build(project)
    _assert_nothing_written(project)


def test_site_that_yields_zero_patches(project):
    """Landslides only where windows are mostly nodata: every window is dropped."""
    import rasterio

    project.valid()
    path = project.raw / "testsite" / "scene.tif"
    with rasterio.open(path, "r+") as dst:
        data = dst.read()
        data[:, :, (np.arange(256) % 128) < 80] = 0  # 62 % of each window is nodata
        dst.write(data)
    x0, y0 = ORIGIN
    polygons = [
        shapely.box(x0 + 180 + dx, y0 - 160 - dy, x0 + 300 + dx, y0 - 100 - dy)
        for dx in (0, 384)
        for dy in (0, 384)
    ]
    write_inventory(project.raw / "testsite" / "inventory.gpkg", polygons)
    with pytest.raises(
        InputError, match=r"testsite\.toml: site testsite yields no patch.*4 are mostly nodata"
    ):
        _build(project)
    _assert_nothing_written(project)


def test_existing_version_is_never_overwritten(project):
    first = _build(project, project.valid())
    manifest = (first / "manifest.json").read_bytes()
    write_inventory(project.raw / "testsite" / "inventory.gpkg", default_polygons()[:2])
    with pytest.raises(ReleaseExistsError, match="immutable"):
        _build(project)
    assert (first / "manifest.json").read_bytes() == manifest
    assert len(open_archive(first)) == 4


def test_disk_error_mid_build_leaves_nothing(project, monkeypatch):
    from hrgldd_data import writer as archive

    release = project.valid()

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive.ReleaseWriter, "_flush", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _build(project, release)
    assert sorted(p.name for p in project.out.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_build_leaves_no_release(project, sig):
    """A build killed mid-way leaves no release; a SIGKILL's hidden temporary is cleaned later."""
    release = project.valid()
    script = (
        "import time, sys\n"
        "from hrgldd_data import writer as archive\n"
        "orig = archive.ReleaseWriter.append\n"
        "def slow(self, *a, **k):\n"
        "    orig(self, *a, **k); print('appended', flush=True); time.sleep(60)\n"
        "archive.ReleaseWriter.append = slow\n"
        "from hrgldd_cli import main\n"
        f"sys.argv = ['hrgldd', 'build', '{release}', '--raw-root', '{project.raw}',"
        f" '--out', '{project.out}', '--quiet', '--scheduler', 'synchronous']\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "appended"
        assert any(p.name.startswith(".test_release-1.0.0.partial-") for p in project.out.iterdir())
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert not (project.out / "test_release-1.0.0").exists()
    left = [p.name for p in project.out.iterdir()]
    if sig == signal.SIGTERM:
        assert left == []
    # The next build succeeds and removes any stale temporary.
    path = _build(project, release)
    assert [p.name for p in project.out.iterdir()] == [path.name]
