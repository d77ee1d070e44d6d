"""Scoring a map against a reference inventory: pixels, objects and the area-frequency distribution.

- **Pixels**: the reference polygons are rasterized on the map's grid block by block and compared
  with the mask over the scene's valid pixels: precision, recall, F1 and IoU of the landslide
  class pooled over all pixels (``baselines.metrics.SegmentationScores``, the leaderboard's
  metrics). The F1 of predicting every valid pixel as landslide is given beside them: a map that
  does not beat it has learned nothing.
- **Objects**: a predicted polygon *matches* a reference polygon when their overlap reaches the
  rule's threshold: ``iou`` (intersection over union) or ``fraction`` (intersection over the
  smaller polygon's area). Object precision is the share of predicted polygons matching at least
  one reference polygon, object recall the share of reference polygons matched by at least one
  prediction, F1 their harmonic mean. Only reference polygons touching the mapped scenes count.
- **Area-frequency**: the probability density of landslide areas (Malamud et al. 2004:
  ``p(A) = dN / (N dA)`` in logarithmic bins) of predicted and reference polygons, plotted
  together; count and min/max/total area of both come from the Table-1 statistics code
  (``builders.stats.inventory_stats``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
import torch
from rasterio.features import rasterize
from rasterio.windows import Window

from builders.inventory import Inventory
from builders.stats import equal_area_crs, inventory_stats
from hrgldd_data.errors import InputError
from mapping.outputs import MASK_NODATA, writing

MATCH_RULES = ("iou", "fraction")
DEFAULT_MATCH = ("iou", 0.5)


def parse_match(text: str | tuple[str, float]) -> tuple[str, float]:
    """``iou=0.5`` or ``fraction=0.5`` -> (rule, threshold)."""
    if isinstance(text, tuple):
        rule, value = text
    else:
        rule, _, value = text.partition("=")
    rule = rule.strip().lower()
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = float("nan")
    if rule not in MATCH_RULES or not 0 < value <= 1:
        raise InputError(
            f"--match {text!r}: write iou=T or fraction=T with 0 < T <= 1 (e.g. iou=0.5)"
        )
    return rule, value


def pixel_scores(
    mask_path: Path, reference: gpd.GeoDataFrame, block: int = 1024
) -> dict[str, float | int]:
    """Pooled pixel scores of a mask raster against reference polygons (in its CRS)."""
    from baselines.metrics import SegmentationScores

    scores = SegmentationScores(threshold=0.5)
    index = reference.sindex
    geometry = reference.geometry.values
    valid_total = 0
    with rasterio.open(mask_path) as src:
        for r0 in range(0, src.height, block):
            for c0 in range(0, src.width, block):
                window = Window(c0, r0, min(block, src.width - c0), min(block, src.height - r0))
                mask = src.read(1, window=window)
                valid = mask != MASK_NODATA
                if not valid.any():
                    continue
                box = shapely.box(*rasterio.windows.bounds(window, src.transform))
                hits = index.query(box, predicate="intersects")
                truth = (
                    rasterize(
                        [(g, 1) for g in geometry[hits]],
                        out_shape=mask.shape,
                        transform=src.window_transform(window),
                        fill=0,
                        dtype="uint8",
                    )
                    if hits.size
                    else np.zeros(mask.shape, np.uint8)
                )
                pred = torch.from_numpy(mask[valid].astype(np.float32))[None, None]
                target = torch.from_numpy(truth[valid].astype(np.int64))[None, None]
                scores.update(pred, target)
                valid_total += int(valid.sum())
    if not scores.n_batches:
        raise InputError(f"{mask_path}: the map holds no valid pixel to score")
    pooled = scores.compute()["pooled"]
    prevalence = (pooled["tp"] + pooled["fn"]) / max(valid_total, 1)
    pooled["all_landslide_f1"] = 2 * prevalence / (1 + prevalence) if prevalence else 0.0
    pooled["reference_pixel_fraction"] = prevalence
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in pooled.items()}


def object_scores(
    predicted: gpd.GeoDataFrame, reference: gpd.GeoDataFrame, rule: str, threshold: float
) -> dict[str, Any]:
    """Object precision, recall and F1 of predicted against reference polygons (same CRS)."""
    n_pred, n_ref = len(predicted), len(reference)
    pred_hit = np.zeros(n_pred, bool)
    ref_hit = np.zeros(n_ref, bool)
    if n_pred and n_ref:
        ea = equal_area_crs(reference)
        p = predicted.to_crs(ea).geometry.values
        r = reference.to_crs(ea).geometry.values
        ri, pi = gpd.GeoSeries(p).sindex.query(r, predicate="intersects")
        inter = shapely.area(shapely.intersection(p[pi], r[ri]))
        if rule == "iou":
            overlap = inter / (shapely.area(p[pi]) + shapely.area(r[ri]) - inter)
        else:
            overlap = inter / np.minimum(shapely.area(p[pi]), shapely.area(r[ri]))
        ok = overlap >= threshold
        pred_hit[pi[ok]] = True
        ref_hit[ri[ok]] = True
    precision = pred_hit.mean() if n_pred else 0.0
    recall = ref_hit.mean() if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "rule": rule,
        "threshold": threshold,
        "predicted": n_pred,
        "reference": n_ref,
        "predicted_matched": int(pred_hit.sum()),
        "reference_matched": int(ref_hit.sum()),
        "precision": round(float(precision), 6),
        "recall": round(float(recall), 6),
        "f1": round(float(f1), 6),
    }


def area_frequency(
    predicted_m2: np.ndarray, reference_m2: np.ndarray, bins_per_decade: int = 5
) -> dict[str, Any]:
    """Probability density of landslide areas in logarithmic bins (Malamud et al. 2004)."""
    both = np.concatenate([predicted_m2, reference_m2])
    both = both[both > 0]
    if both.size == 0:
        return {"edges_m2": [], "predicted_density": [], "reference_density": []}
    low = np.floor(np.log10(both.min()) * bins_per_decade) / bins_per_decade
    high = np.ceil(np.log10(both.max()) * bins_per_decade) / bins_per_decade
    edges = 10 ** np.arange(low, high + 1e-9 + 1 / bins_per_decade, 1 / bins_per_decade)
    widths = np.diff(edges)

    def density(areas: np.ndarray) -> list[float]:
        counts, _ = np.histogram(areas, edges)
        return [float(v) for v in counts / max(areas.size, 1) / widths]

    return {
        "edges_m2": [float(e) for e in edges],
        "predicted_density": density(predicted_m2),
        "reference_density": density(reference_m2),
    }


def plot_area_frequency(dist: dict[str, Any], target: Path, title: str) -> None:
    """Log-log plot of the predicted and reference area-frequency densities (PNG at ``target``,
    a temporary path)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.asarray(dist["edges_m2"])
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    if edges.size:
        centres = np.sqrt(edges[:-1] * edges[1:])
        for key, label, style in (
            ("reference_density", "reference inventory", "o-"),
            ("predicted_density", "mapped (predicted)", "s--"),
        ):
            values = np.asarray(dist[key])
            keep = values > 0
            ax.plot(centres[keep], values[keep], style, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("landslide area A (m²)")
    ax.set_ylabel("probability density p(A) (1/m²)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with writing(target):
        fig.savefig(target, format="png")
    plt.close(fig)


def score_map(
    mask_path: Path,
    predicted: gpd.GeoDataFrame,
    inventory: Inventory,
    extents: list[shapely.Geometry],
    *,
    match: tuple[str, float] = DEFAULT_MATCH,
    plot: Path | None = None,
    title: str = "",
) -> dict[str, Any]:
    """All scores of a mapped raster and its polygons against an inventory (see module doc)."""
    with rasterio.open(mask_path) as src:
        crs = src.crs
    reference = inventory.gdf.to_crs(crs)
    footprint = shapely.union_all(extents)
    reference = reference[reference.intersects(footprint)].reset_index(drop=True)
    pixels = pixel_scores(mask_path, reference)
    objects = object_scores(predicted, reference, *match)
    dist = area_frequency(np.asarray(predicted["area_m2"], float), _areas(reference))
    stats = {
        "reference": _stats(reference, inventory.path),
        "predicted": _stats(predicted[["geometry"]], "predicted"),
    }
    if plot is not None:
        plot_area_frequency(dist, plot, title)
    return {
        "inventory": str(inventory.path),
        "pixel": pixels,
        "object": objects,
        "area_frequency": dist | {"plot": plot.name if plot is not None else None},
        "table1_stats": stats,
    }


def _areas(gdf: gpd.GeoDataFrame) -> np.ndarray:
    if len(gdf) == 0:
        return np.empty(0)
    return np.asarray(gdf.to_crs(equal_area_crs(gdf)).area, float)


def _stats(gdf: gpd.GeoDataFrame, path: str) -> dict[str, Any] | None:
    if len(gdf) == 0:
        return None
    return inventory_stats(Inventory(str(path), gdf.reset_index(drop=True), len(gdf), 0, 0))


__all__ = [
    "DEFAULT_MATCH",
    "MATCH_RULES",
    "area_frequency",
    "object_scores",
    "parse_match",
    "pixel_scores",
    "plot_area_frequency",
    "score_map",
]
