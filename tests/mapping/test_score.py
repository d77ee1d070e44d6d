"""Scoring a map against a reference inventory: object matching counted by hand, pixel scores,
the area-frequency distribution, and ``--inventory`` end to end."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from scenes import UTM, make_scene, utm_transform

from mapping import map_scene
from mapping.score import area_frequency, object_scores, parse_match, pixel_scores


def _squares(*boxes) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.box(*b) for b in boxes], crs=UTM)


def test_object_matching_counts_hits_and_misses_on_a_hand_made_case():
    """Reference: A, B, C (100 x 100 m squares), D (10 x 10 m).
    Predicted: a copy of A shifted by 10 m (IoU 0.82), a 40 x 40 m square inside B (IoU 0.16,
    overlap fraction 1), one far from everything, one covering D and more (IoU 0.25,
    fraction 1). C is missed."""
    x0, y0 = 500_000, 3_000_000
    reference = _squares(
        (x0, y0, x0 + 100, y0 + 100),  # A
        (x0 + 300, y0, x0 + 400, y0 + 100),  # B
        (x0 + 600, y0, x0 + 700, y0 + 100),  # C
        (x0 + 900, y0, x0 + 910, y0 + 10),  # D
    )
    predicted = _squares(
        (x0 + 10, y0, x0 + 110, y0 + 100),  # on A
        (x0 + 330, y0 + 30, x0 + 370, y0 + 70),  # inside B
        (x0 + 2000, y0 + 2000, x0 + 2050, y0 + 2050),  # nowhere
        (x0 + 900, y0, x0 + 920, y0 + 20),  # covers D
    )
    by_iou = object_scores(predicted, reference, *parse_match("iou=0.5"))
    assert (by_iou["predicted_matched"], by_iou["reference_matched"]) == (1, 1)
    assert by_iou["precision"] == pytest.approx(1 / 4) and by_iou["recall"] == pytest.approx(1 / 4)
    by_fraction = object_scores(predicted, reference, *parse_match("fraction=0.5"))
    assert (by_fraction["predicted_matched"], by_fraction["reference_matched"]) == (3, 3)
    assert by_fraction["precision"] == pytest.approx(3 / 4)
    assert by_fraction["recall"] == pytest.approx(3 / 4)
    assert by_fraction["f1"] == pytest.approx(3 / 4)
    loose = object_scores(predicted, reference, "iou", 0.15)  # now B's inner square counts too
    assert (loose["predicted_matched"], loose["reference_matched"]) == (3, 3)
    empty = object_scores(predicted.iloc[:0], reference, "iou", 0.5)
    assert (empty["precision"], empty["recall"], empty["f1"]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="iou=T or fraction=T"):
        parse_match("overlap=0.5")


def test_pixel_scores_of_a_hand_made_mask(tmp_path):
    """10 x 10 mask: 6 predicted pixels of which 4 in the reference (8 pixels), 10 nodata."""
    mask = np.zeros((10, 10), np.uint8)
    mask[0:2, 0:3] = 1  # 6 predicted
    mask[9, :] = 255  # nodata row, where the reference also lies
    path = tmp_path / "mask.tif"
    transform = utm_transform()
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="uint8",
        crs=UTM,
        transform=transform,
        nodata=255,
    ) as dst:
        dst.write(mask, 1)
    x, y = transform.c, transform.f
    # reference covers rows 0-1, cols 1-4 (8 px: 4 hit) and row 9 (nodata, not counted)
    reference = _squares((x + 3, y - 6, x + 15, y), (x, y - 30, x + 30, y - 27))
    scores = pixel_scores(path, reference)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (4, 2, 4)
    assert scores["tn"] == 90 - 10
    assert scores["precision"] == pytest.approx(4 / 6) and scores["recall"] == pytest.approx(0.5)
    prevalence = 8 / 90
    assert scores["all_landslide_f1"] == pytest.approx(2 * prevalence / (1 + prevalence), abs=1e-6)


def test_area_frequency_density():
    areas = np.array([10.0, 12, 15, 100, 110, 1000])
    dist = area_frequency(areas, areas[:3])
    edges = np.asarray(dist["edges_m2"])
    density = np.asarray(dist["predicted_density"])
    assert edges[0] <= 10 and edges[-1] >= 1000
    assert (density * np.diff(edges)).sum() == pytest.approx(1.0)  # a probability density
    assert (np.asarray(dist["reference_density"]) * np.diff(edges)).sum() == pytest.approx(1.0)


def test_map_scored_against_an_inventory(trained_run, tmp_path):
    scars = ((60, 80, 15, 22), (200, 300, 25, 12), (230, 90, 8, 8))
    scene, truth, _ = make_scene(tmp_path / "s.tif", scars=scars, nodata_edge=20)
    # the reference: the three planted scars as polygons, plus one outside the scene (ignored)
    # and one inside that the scene does not show (a miss)
    with rasterio.open(scene) as src:
        transform = src.transform
    from rasterio.features import shapes

    polygons = [
        shapely.geometry.shape(g)
        for g, v in shapes(truth.astype(np.uint8), transform=transform)
        if v == 1
    ]
    x, y = transform.c, transform.f
    polygons += [
        shapely.box(x + 30_000, y, x + 30_090, y + 90),
        shapely.box(x + 900, y - 150, x + 960, y - 90),
    ]
    inventory = tmp_path / "reference.gpkg"
    gpd.GeoDataFrame(geometry=polygons, crs=UTM).to_crs(4326).to_file(inventory)

    result = map_scene(scene, trained_run, tmp_path / "out", inventory=inventory, progress=False)
    scores = result.summary["scores"]
    assert scores["object"]["reference"] == 4  # the polygon outside the scene does not count
    assert scores["object"]["predicted"] == 3
    assert scores["object"]["reference_matched"] == 3 and scores["object"]["predicted_matched"] == 3
    assert scores["object"]["recall"] == pytest.approx(0.75)
    assert scores["pixel"]["f1"] > 0.85 > scores["pixel"]["all_landslide_f1"]
    reference_stats = scores["table1_stats"]["reference"]
    assert reference_stats["n_landslides"] == 4
    assert (tmp_path / "out" / "area_frequency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["scores"]["area_frequency"]["plot"] == "area_frequency.png"
    assert "## Scores against `reference.gpkg`" in (tmp_path / "out" / "summary.md").read_text()
