"""Rapid mapping on real imagery: MMLSv2 Mars tiles mosaicked into a scene (see ``mars.py``).

Runs the whole path on real georeferenced rasters in a CRS with no EPSG code on another body:
mosaic, release of the other tiles, a (very) brief training, ``map_scene`` with an explicit band
mapping, scoring against the expert masks polygonized as an inventory. The training budget here
only proves the path; ``python tests/mapping/mars.py`` trains longer for the README's scores.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from mars import run


def test_mars_mosaic_mapped_and_scored(shared_dir, tmp_path):
    if not (shared_dir / "realdata" / "mmlsv2_mars").is_dir():
        pytest.skip("../shared/realdata/mmlsv2_mars is absent")
    result = run(shared_dir, tmp_path, epochs=1, steps=4, model="unet", filters=8)
    paths = result.outputs["valles_marineris_mosaic"]
    scene = tmp_path / "scene" / "valles_marineris_mosaic.tif"
    with rasterio.open(scene) as src, rasterio.open(paths["probability"]) as out:
        assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, (512, 512))
        assert "Mars" in out.crs.to_wkt() and out.crs.to_epsg() is None
        pixel_m2 = abs(src.transform.a * src.transform.e)
    summary = result.summary
    scene_row = summary["scenes"][0]
    assert scene_row["bands_used"] == [5, 6, 7, 1] and scene_row["scale"] == 1.0
    assert not scene_row["warnings"]  # 232 m, values in the training data's range
    assert summary["model"]["bands"] == ["red", "green", "blue", "thermal_inertia"]
    # areas in m2 on Mars' own ellipsoid: 512 x 512 pixels of about 232 m
    assert summary["area_mapped_km2"] == pytest.approx(512 * 512 * pixel_m2 / 1e6, rel=0.01)
    polygons = gpd.read_file(paths["polygons"])
    if len(polygons):
        ratio = polygons["area_m2"] / (polygons["pixels"] * pixel_m2)
        assert np.all(np.abs(ratio - 1) < 0.01)
    pixel = summary["scores"]["pixel"]
    assert 0.3 < pixel["reference_pixel_fraction"] < 0.5  # the expert masks of these 16 tiles
    assert pixel["tp"] + pixel["fp"] + pixel["fn"] + pixel["tn"] == 512 * 512
    assert 0 <= pixel["f1"] <= 1 and pixel["all_landslide_f1"] > 0.45
    assert summary["scores"]["object"]["reference"] > 0
    assert (result.out / "area_frequency.png").is_file()
