"""Real third-party inventories (Bhuyan et al., MIT) read, reproject, repair and rasterize."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize

from builders.build import build_release
from builders.inventory import read_inventory
from builders.stats import inventory_stats
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import InputError

MEMBERS = [
    ("PNG.zip", "PNG/2018.shp", 32754),
    ("Nepal.zip", "Nepal/2015.shp", 32645),
    ("China.zip", "China/2009.shp", 32648),
]


@pytest.mark.parametrize(("archive", "member", "epsg"), MEMBERS)
def test_real_inventory_reads_repairs_reprojects_rasterizes(shared_dir, archive, member, epsg):
    path = shared_dir / "realdata" / "bhuyan_predicted_inventories" / archive
    import zipfile

    if member not in zipfile.ZipFile(path).namelist():
        member = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith(".shp"))
    inventory = read_inventory(f"{path}!{member}")
    assert inventory.crs.to_epsg() == epsg
    assert len(inventory) > 50
    assert inventory.gdf.is_valid.all() and set(inventory.gdf.geom_type) <= {
        "Polygon",
        "MultiPolygon",
    }
    # Round trip through geographic coordinates keeps the areas (equal-area statistics).
    stats = inventory_stats(inventory)
    back = inventory.gdf.to_crs(4326).to_crs(epsg)
    assert back.area.sum() == pytest.approx(inventory.gdf.area.sum(), rel=1e-6)
    assert stats["total_landslide_area_m2"] == pytest.approx(
        inventory.gdf.area.sum(), rel=0.01
    )  # UTM vs equal-area
    # Rasterized at 10 m the burnt area matches the polygon area.
    left, bottom, right, top = inventory.gdf.total_bounds
    shape = (int((top - bottom) // 10) + 1, int((right - left) // 10) + 1)
    burnt = rasterize(
        ((g, 1) for g in inventory.gdf.geometry),
        out_shape=shape,
        transform=Affine(10, 0, left, 0, -10, top),
        dtype="uint8",
    )
    assert burnt.sum() * 100 == pytest.approx(inventory.gdf.union_all().area, rel=0.1)


def test_png_2018_counts_and_repairs(shared_dir):
    inventory = read_inventory(
        shared_dir / "realdata" / "bhuyan_predicted_inventories" / "PNG.zip!PNG/2018.shp"
    )
    assert inventory.n_read == 1557 and inventory.n_repaired == 6


def test_zip_with_several_inventories_asks_for_a_member(shared_dir):
    with pytest.raises(InputError, match=r"China\.zip: holds 8 vector files.*name one as"):
        read_inventory(shared_dir / "realdata" / "bhuyan_predicted_inventories" / "China.zip")


def test_release_from_a_real_inventory_over_a_generated_scene(shared_dir, tmp_path):
    """A release built from the real PNG 2018 polygons over a generated 3 m scene in their CRS."""
    inventory = read_inventory(
        shared_dir / "realdata" / "bhuyan_predicted_inventories" / "PNG.zip!PNG/2018.shp"
    )
    # The 2048 px (6 km) square around the densest cluster of landslides.
    centroids = inventory.gdf.centroid
    cx, cy = float(np.median(centroids.x)), float(np.median(centroids.y))
    size = 2048
    transform = Affine(3.0, 0, round(cx) - 3 * size // 2, 0, -3.0, round(cy) + 3 * size // 2)
    raw = tmp_path / "raw"
    (raw / "png_2018").mkdir(parents=True)
    rng = np.random.default_rng(0)
    with rasterio.open(
        raw / "png_2018" / "scene.tif",
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=4,
        dtype="uint16",
        crs="EPSG:32754",
        transform=transform,
        nodata=0,
        tiled=True,
        compress="deflate",
    ) as dst:
        dst.write(rng.integers(1, 4000, (4, size, size), dtype=np.uint16))
    import shutil

    shutil.copy(
        shared_dir / "realdata" / "bhuyan_predicted_inventories" / "PNG.zip",
        raw / "png_2018" / "PNG.zip",
    )
    (tmp_path / "png_2018.toml").write_text(
        'id = "png_2018"\nstudy_area = "Hela"\ncountry = "Papua New Guinea"\nyear = 2018\n'
        'trigger = "earthquake"\nrole = "train"\n'
        'inventory_source = "Bhuyan et al. 2023 (predicted)"\n'
        'citation = "doi:10.1038/s41598-022-27352-y"\n[imagery]\nscenes = ["png_2018/scene.tif"]\n'
        '[inventory]\npath = "png_2018/PNG.zip!PNG/2018.shp"\n'
    )
    (tmp_path / "release.toml").write_text(
        'name = "png_test"\nversion = "0.1.0"\nevents = ["png_2018.toml"]\n'
    )
    release = open_archive(
        build_release(tmp_path / "release.toml", raw, tmp_path / "out", progress=False)
    )
    assert len(release) > 20
    _, masks = release.load()
    assert masks.reshape(len(release), -1).max(axis=1).min() == 1
    in_scene = inventory.gdf.intersects(
        shapely.box(*rasterio.transform.array_bounds(size, size, transform)[::1])
    )
    assert release.site_info("png_2018")["stats"]["n_landslides"] == len(inventory)
    assert in_scene.sum() > 20
