"""``hrgldd map`` on generated scenes: the map lands on the input grid, finds the planted
landslide where it is, never predicts nodata, blends without seams, and its polygons' areas
agree with the mask."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from pyproj import Geod
from scenes import geographic_transform, make_scene

from mapping import map_scene, map_scenes

SCENE_CASES = {
    "utm-uint16-described": dict(dtype="uint16", nodata_edge=40),
    "geographic-float64": dict(
        dtype="float64", crs="EPSG:4326", transform=geographic_transform(), nodata_edge=40
    ),
    "utm-float32-planetscope-order": dict(dtype="float32", described=False, nodata_edge=24),
    "utm-uint16-alpha-band": dict(nodata_edge=30, nodata_as="alpha"),
    "utm-uint16-internal-mask": dict(nodata_edge=30, nodata_as="mask"),
    "utm-uint16-superdove-8-band": dict(nodata_edge=30, superdove=True),
}


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.profile, src


@pytest.mark.parametrize("case", SCENE_CASES)
def test_planted_landslide_found_on_the_input_grid(case, trained_run, tmp_path):
    scene, truth, valid = make_scene(tmp_path / "post_event.tif", **SCENE_CASES[case])
    result = map_scene(scene, trained_run, tmp_path / "out", progress=False)
    paths = result.outputs["post_event"]

    with rasterio.open(scene) as src:
        grid = (src.crs, src.transform, src.width, src.height)
    for kind in ("probability", "mask"):
        with rasterio.open(paths[kind]) as out:
            assert (out.crs, out.transform, out.width, out.height) == grid
            assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert out.compression is not None
    prob, _, _ = _read(paths["probability"])
    mask, _, _ = _read(paths["mask"])

    # nodata is never predicted: NaN probability and mask nodata there, values elsewhere
    assert np.isnan(prob[~valid]).all() and (mask[~valid] == 255).all()
    assert not np.isnan(prob[valid]).any() and set(np.unique(mask[valid])) <= {0, 1}
    # the planted scar is found where it is, and nothing much elsewhere
    found = mask == 1
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.85, iou
    assert (mask == 1).sum() == ((prob > 0.5) & valid).sum()

    polygons = gpd.read_file(paths["polygons"], layer="landslides")
    assert len(polygons) == 1
    assert polygons.crs == rasterio.open(scene).crs
    rows, cols = np.nonzero(truth)
    with rasterio.open(scene) as src:
        x, y = src.xy(int(rows.mean()), int(cols.mean()))
    assert polygons.geometry.iloc[0].contains(gpd.points_from_xy([x], [y])[0])
    row = polygons.iloc[0]
    assert row["scene"] == "post_event" and row["mean_prob"] > 0.5 and row["max_prob"] <= 1
    assert row["pixels"] == found.sum()
    summary = json.loads(result.summary_path.read_text())
    assert summary["landslides"] == 1
    assert summary["model"]["release"] == {"name": "hr_gldd", "version": "1.0.0"}


def test_polygon_areas_match_pixel_count_times_pixel_area(trained_run, tmp_path):
    """Within 1 %, in a projected and a geographic CRS (geodesic pixel area, pyproj.Geod)."""
    scars = ((60, 80, 15, 22), (200, 300, 25, 12), (230, 90, 8, 8))
    for crs, transform in (("EPSG:32643", None), ("EPSG:4326", geographic_transform())):
        out = tmp_path / crs.replace(":", "")
        scene, truth, _ = make_scene(
            tmp_path / f"{out.name}.tif", scars=scars, crs=crs, transform=transform
        )
        result = map_scene(scene, trained_run, out, progress=False)
        paths = result.outputs[scene.stem]
        polygons = gpd.read_file(paths["polygons"])
        mask, _, _ = _read(paths["mask"])
        assert len(polygons) == 3
        with rasterio.open(scene) as src:
            t = src.transform
        for _, feature in polygons.iterrows():
            # pixel area at the polygon (geodesic for degrees, nominal for metres)
            cx, cy = feature.geometry.centroid.coords[0]
            if crs == "EPSG:4326":
                lons = [cx, cx + t.a, cx + t.a, cx]
                lats = [cy, cy, cy + t.e, cy + t.e]
                pixel_area = abs(Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)[0])
            else:
                pixel_area = abs(t.a * t.e)
            expected = feature["pixels"] * pixel_area
            assert abs(feature["area_m2"] - expected) / expected < 0.01
        assert polygons["pixels"].sum() == (mask == 1).sum()


def test_blending_leaves_no_seam_where_hard_tiling_does(trained_run, tmp_path):
    """A scene whose scar fraction grows from 5 % to 75 % across the columns, so probabilities
    span 0-1. Each window-edge row is compared with its neighbours 8 rows up and down
    (mean over columns of |p[r] - (p[r-8] + p[r+8]) / 2|, relative to the median row):
    blended windows (stride 64) leave no mark, hard tiling (stride 128) does."""
    from scenes import SCAR, VEGETATION

    rng = np.random.default_rng(1)
    shape = (384, 384)
    mix = 0.05 + 0.7 * np.mgrid[: shape[0], : shape[1]][1] / shape[1]
    image = VEGETATION[:, None, None] + mix[None] * (SCAR - VEGETATION)[:, None, None]
    image += rng.normal(0, 150, (4, *shape))
    path = tmp_path / "gradient.tif"
    profile = dict(driver="GTiff", width=384, height=384, count=4, dtype="uint16")
    with rasterio.open(
        path, "w", **profile, crs="EPSG:32643", transform=rasterio.Affine(3, 0, 5e5, 0, -3, 3e6)
    ) as dst:
        dst.write(np.clip(image, 1, 10000).astype(np.uint16)[[2, 1, 0, 3]])

    def marks(stride: int, edges: list[int], k: int = 8) -> list[float]:
        result = map_scene(
            path, trained_run, tmp_path / f"s{stride}", stride=stride, progress=False
        )
        p = _read(result.outputs["gradient"]["probability"])[0].astype(np.float64)
        departure = np.abs(p[k:-k] - (p[: -2 * k] + p[2 * k :]) / 2).mean(axis=1)  # row r + k
        typical = np.median(departure)
        return [max(departure[r - k], departure[r + 1 - k]) / typical for r in edges]

    blended = marks(64, [31, 95, 159, 223, 287])  # windows start and end between r and r + 1
    hard = marks(128, [127, 255])
    assert max(blended) < 1.6, blended
    assert min(hard) > 3.0, hard  # the same measure sees the seams of hard tiling


def test_scene_smaller_than_a_window_is_padded(trained_run, tmp_path):
    scene, truth, _ = make_scene(tmp_path / "small.tif", shape=(50, 70), scars=((25, 35, 9, 12),))
    result = map_scene(scene, trained_run, tmp_path / "out", progress=False)
    mask, profile, _ = _read(result.outputs["small"]["mask"])
    assert (profile["width"], profile["height"]) == (70, 50)
    assert ((mask == 1) & truth).sum() / ((mask == 1) | truth).sum() > 0.8


def test_float_reflectance_maps_like_the_same_uint16_scene(trained_run, tmp_path):
    """0-1 reflectance is detected and scaled; --scale gives the same map explicitly."""
    as_int, _, _ = make_scene(tmp_path / "int.tif", seed=3)
    as_float, _, _ = make_scene(tmp_path / "flt.tif", seed=3, dtype="float64")
    a = map_scene(as_int, trained_run, tmp_path / "a", progress=False)
    b = map_scene(as_float, trained_run, tmp_path / "b", progress=False)
    c = map_scene(as_float, trained_run, tmp_path / "c", scale=10000, progress=False)
    pa = _read(a.outputs["int"]["probability"])[0]
    pb = _read(b.outputs["flt"]["probability"])[0]
    pc = _read(c.outputs["flt"]["probability"])[0]
    assert b.summary["scenes"][0]["scale"] == 10000
    assert "0-1" in b.summary["scenes"][0]["scale_reason"]
    # uint16 truncates reflectance x 10,000 to integers: probabilities agree closely
    assert np.nanmax(np.abs(pa - pb)) < 0.02 and np.array_equal(pb, pc, equal_nan=True)
    # a wrong scale is noticed: the scene's values do not look like the training data's
    d = map_scene(as_float, trained_run, tmp_path / "d", scale=1.0, progress=False)
    assert any("differ from the training data" in w for w in d.summary["scenes"][0]["warnings"])


def test_several_scenes_are_mapped_and_mosaicked(trained_run, tmp_path):
    """Two overlapping scenes, the second in another CRS: one mosaic, one polygon per scar."""
    from rasterio.warp import reproject

    first, _, _ = make_scene(tmp_path / "east.tif", scars=((150, 330, 20, 20),), seed=1)
    west_utm, _, _ = make_scene(tmp_path / "west_utm.tif", scars=((150, 80, 20, 20),), seed=2)
    # the second scene overlaps the first by 200 px and is delivered in Web Mercator
    with rasterio.open(west_utm) as src:
        data = src.read()
        transform = src.transform @ rasterio.Affine.translation(-200, 0)
        from rasterio.warp import calculate_default_transform

        dst_t, w, h = calculate_default_transform(
            src.crs,
            "EPSG:3857",
            src.width,
            src.height,
            *rasterio.transform.array_bounds(src.height, src.width, transform),
        )
        out = np.zeros((4, h, w), np.uint16)
        reproject(
            data,
            out,
            src_transform=transform,
            src_crs=src.crs,
            dst_transform=dst_t,
            dst_crs="EPSG:3857",
            src_nodata=0,
            dst_nodata=0,
        )
        profile = src.profile | {"crs": "EPSG:3857", "transform": dst_t, "width": w, "height": h}
    second = tmp_path / "west.tif"
    with rasterio.open(second, "w", **profile) as dst:
        dst.write(out)
        dst.descriptions = ("Blue", "Green", "Red", "Near-Infrared")

    result = map_scenes([first, second], trained_run, tmp_path / "out", progress=False)
    assert set(result.outputs) == {"east", "west", "mosaic"}
    for paths in result.outputs.values():
        assert all(p.is_file() for p in paths.values())
    mosaic = gpd.read_file(result.outputs["mosaic"]["polygons"])
    assert len(mosaic) == 2
    assert sorted(mosaic["scene"]) == ["east", "west"]  # each scar lies in one scene
    with rasterio.open(result.outputs["mosaic"]["probability"]) as src:
        assert src.crs.to_epsg() == 32643 and src.width > 420
    summary = result.summary
    assert summary["mosaic"]["landslides"] == 2 and summary["landslides"] == 2
    total = sum(s["area_mapped_km2"] for s in summary["scenes"])
    assert summary["area_mapped_km2"] < total  # the overlap counts once


def test_existing_outputs_are_kept_unless_overwrite(trained_run, tmp_path):
    from hrgldd_data.errors import InputError

    scene, _, _ = make_scene(tmp_path / "s.tif")
    map_scene(scene, trained_run, tmp_path / "out", progress=False)
    before = (tmp_path / "out" / "s_probability.tif").stat().st_mtime_ns
    with pytest.raises(InputError, match="--overwrite"):
        map_scene(scene, trained_run, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "s_probability.tif").stat().st_mtime_ns == before
    map_scene(scene, trained_run, tmp_path / "out", overwrite=True, progress=False)
    assert (tmp_path / "out" / "s_probability.tif").stat().st_mtime_ns != before


def test_cli_maps_and_prints_a_summary(trained_run, tmp_path):
    from hrgldd_cli.main import cli

    scene, _, _ = make_scene(tmp_path / "s.tif", described=False)
    result = CliRunner().invoke(
        cli,
        [
            "map",
            str(scene),
            "--model",
            str(trained_run),
            "--out",
            str(tmp_path / "out"),
            "--bands",
            "red=3,green=2,blue=1,nir=4",
            "--min-area",
            "100",
            "--simplify",
            "3",
            "--quiet",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["landslides"] == 1 and summary["settings"]["simplify_m"] == 3
    assert (tmp_path / "out" / "summary.md").read_text().startswith("# Landslide map")


def test_dask_schedulers_give_the_same_map(trained_run, tmp_path):
    """Local threads (default), synchronous, and a dask.distributed cluster (in-process here, on
    127.0.0.1) map the same probabilities."""
    from distributed import LocalCluster

    scene, _, _ = make_scene(tmp_path / "s.tif", shape=(700, 500), nodata_edge=30)

    def probabilities(**options) -> np.ndarray:
        name = options.get("scheduler", "threads").split(":")[0]
        result = map_scene(scene, trained_run, tmp_path / name, progress=False, **options)
        return _read(result.outputs["s"]["probability"])[0]

    reference = probabilities()
    assert np.array_equal(reference, probabilities(scheduler="synchronous"), equal_nan=True)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        remote = probabilities(scheduler=cluster.scheduler_address)
    assert np.array_equal(reference, remote, equal_nan=True)
