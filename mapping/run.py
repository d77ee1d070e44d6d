"""Map post-event scenes with a trained model: ``map_scene`` / ``map_scenes`` (``hrgldd map``).

Everything is checked before any pixel is predicted (model, scenes, bands, inventory overlap,
output folder). Each scene then goes through :mod:`mapping.infer` into stage files and is
converted to Cloud-Optimized GeoTIFFs and polygons at temporary paths; several scenes are also
mosaicked. Only when everything succeeded are the outputs renamed into place, ``summary.json``
last: a folder with a ``summary.json`` holds a complete map, and a failed or killed run leaves no
output that looks complete (at most hidden temporary files, removed by the next run's cleanup
where their process is gone).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds
from tqdm.auto import tqdm

from builders.bands import parse_band_mapping
from builders.build import dask_scheduler
from builders.inventory import check_overlap, read_inventory
from hrgldd_data._version import __version__
from hrgldd_data.errors import InputError
from hrgldd_data.fileio import atomic_path
from mapping import infer, outputs
from mapping.model import MappingModel, load_model
from mapping.scene import Scene, open_scene
from mapping.score import DEFAULT_MATCH, parse_match, score_map

log = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
PLOT = "area_frequency.png"
#: Output kinds of a scene (or mosaic) -> file name suffix.
KINDS = {
    "probability": "_probability.tif",
    "mask": "_mask.tif",
    "polygons": "_landslides.gpkg",
}


@dataclass
class MapResult:
    """What a map run wrote: ``outputs[name][kind]`` paths (name: scene id or the mosaic's
    name; kind: probability, mask, polygons), ``summary`` (also in ``summary.json``)."""

    out: Path
    outputs: dict[str, dict[str, Path]]
    summary: dict[str, Any]

    @property
    def summary_path(self) -> Path:
        return self.out / SUMMARY_JSON


def map_scene(
    scene: str | os.PathLike[str],
    model: str | os.PathLike[str] | MappingModel,
    out: str | os.PathLike[str],
    **options: Any,
) -> MapResult:
    """Map one scene; see :func:`map_scenes` for the options."""
    return map_scenes([scene], model, out, **options)


def map_scenes(
    scenes: Sequence[str | os.PathLike[str]],
    model: str | os.PathLike[str] | MappingModel,
    out: str | os.PathLike[str],
    *,
    bands: str | dict[str, int] = "auto",
    scale: float | None = None,
    threshold: float | None = None,
    stride: int = infer.DEFAULT_STRIDE,
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "auto",
    min_area_m2: float = 0.0,
    simplify_m: float = 0.0,
    inventory: str | os.PathLike[str] | None = None,
    inventory_layer: str | None = None,
    match: str | tuple[str, float] = DEFAULT_MATCH,
    name: str = "mosaic",
    overwrite: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> MapResult:
    """Map post-event scenes of one event into ``out``.

    Args:
        scenes: rasters GDAL reads (any CRS); several are mapped one by one and mosaicked.
        model: a trained run folder, a Hub model ``ORG/NAME[@revision]``, or a loaded model.
        out: output folder (created); existing outputs are kept unless ``overwrite``.
        bands: ``"auto"``, ``"red=3,green=2,..."`` or ``{name: 1-based index}``.
        scale: multiply scene values by this to reach the model's units (default: detected).
        threshold: probability above which a pixel is a landslide, in (0, 1) (default: the
            model's, 0.5).
        stride: pixels between windows (1-128; 64 = half-window overlap).
        batch_size: windows per forward pass.
        device: ``cpu``, ``cuda[:n]`` or ``auto``; precision ``auto`` (bf16 only where native),
            ``fp32`` or ``bf16-mixed``.
        min_area_m2, simplify_m: polygons smaller than this are left out of the GeoPackage;
            Douglas-Peucker tolerance in metres.
        inventory, inventory_layer, match: a reference inventory to score the map against, and
            the object matching rule (``iou=0.5`` or ``fraction=0.5``).
        name: file-name prefix of the mosaic of several scenes.
        scheduler, workers: Dask scheduler (threads by default, ``processes``, ``synchronous``
            or a ``dask.distributed`` address whose workers see the scenes, model and ``out``).

    Returns:
        The output paths and the summary.
    """
    start = time.perf_counter()
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    threshold = _check_options(threshold, stride, batch_size, min_area_m2, simplify_m, scenes)
    match = parse_match(match)
    if isinstance(bands, str):
        try:
            bands = parse_band_mapping(bands)
        except ValueError as err:
            raise InputError(f"--bands {bands!r}: {err}") from err
    if not isinstance(model, MappingModel):
        model = load_model(model, device=device, precision=precision, cache_dir=cache_dir)
    threshold = model.threshold if threshold is None else threshold
    opened = [open_scene(Path(p).resolve(), model, bands, scale) for p in scenes]
    ids = [s.id for s in opened]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InputError(
            f"scenes {[str(s.path) for s in opened if s.id in repeated]} would write outputs of "
            "the same name; rename them or map them into different --out folders"
        )
    if len(opened) > 1 and name in ids:
        raise InputError(f"--name {name}: a scene has that id; choose another mosaic name")
    reference = None
    extents = [_extent(s, opened[0].crs) for s in opened]
    if inventory is not None:
        reference = read_inventory(inventory, inventory_layer)
        check_overlap(
            reference, reference.gdf.to_crs(opened[0].crs), extents, [s.path for s in opened]
        )
    out = Path(out)
    names = ids + ([name] if len(opened) > 1 else [])
    targets = {n: {k: out / f"{n}{suffix}" for k, suffix in KINDS.items()} for n in names}
    extra = [out / SUMMARY_JSON, out / SUMMARY_MD] + ([out / PLOT] if reference else [])
    try:
        get, client = dask_scheduler(scheduler)  # the builder's choice of Dask scheduler, shared
    except InputError:
        raise
    except (ValueError, OSError, TypeError) as err:
        raise InputError(
            f"--scheduler {scheduler}: cannot use it ({err}); give threads, processes, "
            "synchronous, or the address of a running dask.distributed scheduler"
        ) from err
    try:
        _prepare_out(out, [p for t in targets.values() for p in t.values()] + extra, overwrite)
    except BaseException:
        if client is not None:
            client.close()
        raise

    total_km2 = sum(_scene_area_km2(s) for s in opened)
    bar = tqdm(
        total=total_km2,
        desc="mapping",
        unit="km²",
        bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} km² [{elapsed}<{remaining}, {rate_fmt}]",
        disable=not progress,
    )
    try:
        # GDAL's block cache is 5 % of the RAM by default (6 GB on a 128 GB machine), and the
        # stage files' written blocks stay in it: bound it for the whole run
        with rasterio.Env(GDAL_CACHEMAX=infer.GDAL_CACHE_BYTES), ExitStack() as commit:
            # entered first, renamed last: summary.json marks a complete map
            summary_tmp = commit.enter_context(atomic_path(out / SUMMARY_JSON))
            summary_md_tmp = commit.enter_context(atomic_path(out / SUMMARY_MD))
            temps = {
                n: {k: commit.enter_context(atomic_path(p)) for k, p in t.items()}
                for n, t in targets.items()
            }
            plot_tmp = commit.enter_context(atomic_path(out / PLOT)) if reference else None
            scene_rows = []
            for scene in opened:
                row = _map_one(
                    scene,
                    model,
                    out,
                    temps[scene.id],
                    threshold=threshold,
                    stride=stride,
                    batch_size=batch_size,
                    get=get,
                    workers=workers,
                    bar=bar,
                    min_area_m2=min_area_m2,
                    simplify_m=simplify_m,
                )
                scene_rows.append(row)
            bar.close()
            mosaic_row = None
            scored = temps[opened[0].id]
            if len(opened) > 1:
                scene_extents = [(s.id, e) for s, e in zip(opened, extents, strict=True)]
                mosaic_row = _mosaic(
                    [temps[s.id]["probability"] for s in opened],
                    out,
                    temps[name],
                    name=name,
                    threshold=threshold,
                    scene_extents=scene_extents,
                    min_area_m2=min_area_m2,
                    simplify_m=simplify_m,
                )
                scored = temps[name]
            scores = None
            if reference is not None:
                scores = score_map(
                    scored["mask"],
                    outputs_gdf(scored["polygons"]),
                    reference,
                    extents,
                    match=match,
                    plot=plot_tmp,
                    title=f"{name if mosaic_row else opened[0].id}: area-frequency",
                )
                scores["area_frequency"]["plot"] = PLOT
            summary = _summary(
                model,
                opened,
                scene_rows,
                mosaic_row,
                scores,
                settings={
                    "threshold": threshold,
                    "stride": stride,
                    "window": infer.WINDOW,
                    "batch_size": batch_size,
                    "device": str(model.device),
                    "precision": model.precision,
                    "min_area_m2": min_area_m2,
                    "simplify_m": simplify_m,
                    "scheduler": scheduler or "threads",
                },
                started=started,
                seconds=time.perf_counter() - start,
            )
            with outputs.writing(out / SUMMARY_JSON):
                summary_tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
                summary_md_tmp.write_text(summary_markdown(summary))
            for tmp in (summary_tmp, summary_md_tmp, plot_tmp):
                if tmp is not None:
                    outputs.readable(tmp)
    finally:
        bar.close()
        if client is not None:
            client.close()
    paths = {n: dict(t) for n, t in targets.items()}
    return MapResult(out, paths, summary)


def outputs_gdf(path: Path):
    """The polygons of a GeoPackage written by a map (also at its temporary path)."""
    import warnings

    import geopandas as gpd

    with warnings.catch_warnings():  # the temporary name ends in .tmp until it is renamed
        warnings.filterwarnings("ignore", ".*non conformant file extension", RuntimeWarning)
        return gpd.read_file(path, layer=outputs.LAYER, engine="pyogrio")


# -- checks ----------------------------------------------------------------------------------------
def _check_options(
    threshold: float | None,
    stride: int,
    batch_size: int,
    min_area_m2: float,
    simplify_m: float,
    scenes: Sequence[Any],
) -> float | None:
    if threshold is not None and not (0 < float(threshold) < 1):
        raise InputError(
            f"--threshold {threshold}: must lie strictly between 0 and 1 (e.g. 0.5); a pixel "
            "is a landslide when its probability is above it"
        )
    if not 1 <= int(stride) <= infer.WINDOW:
        raise InputError(f"--stride {stride}: must be 1..{infer.WINDOW} (64 = half overlap)")
    if int(batch_size) < 1:
        raise InputError(f"--batch-size {batch_size}: must be at least 1")
    if min_area_m2 < 0 or simplify_m < 0:
        raise InputError("--min-area and --simplify must not be negative")
    if not scenes:
        raise InputError("no scene given: pass one or more rasters to map")
    return None if threshold is None else float(threshold)


def _prepare_out(out: Path, targets: list[Path], overwrite: bool) -> None:
    """Create ``out``, check it is writable, and refuse to replace outputs without overwrite."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise InputError(
            f"{out}: output folder is not writable ({err.strerror or err}); choose another --out "
            "or fix its permissions"
        ) from err
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise InputError(
            f"{out}: already holds {existing}; pass --overwrite to replace them, or choose "
            "another --out"
        )
    if overwrite:  # a half-replaced folder must not look complete if this run dies
        (out / SUMMARY_JSON).unlink(missing_ok=True)
    outputs.remove_stale_stages(out)


def _extent(scene: Scene, crs) -> shapely.Geometry:
    """The scene's extent in ``crs`` (the first scene's)."""
    bounds = array_bounds(scene.height, scene.width, scene.transform)
    if scene.crs != crs:
        bounds = transform_bounds(scene.crs, crs, *bounds)
    return shapely.box(*bounds)


def _scene_area_km2(scene: Scene) -> float:
    areas = outputs.row_pixel_areas(scene.crs, scene.transform, scene.width, scene.height)
    return float(areas.sum() * scene.width / 1e6)


# -- one scene -------------------------------------------------------------------------------------
def _stage(out: Path, name: str, kind: str) -> Path:
    return out / f".{name}_{kind}.stage-{os.getpid()}.tif"


def _map_one(
    scene: Scene,
    model: MappingModel,
    out: Path,
    temps: dict[str, Path],
    *,
    threshold: float,
    stride: int,
    batch_size: int,
    get,
    workers: int | None,
    bar,
    min_area_m2: float,
    simplify_m: float,
) -> dict[str, Any]:
    """Predict one scene into its temporary COGs and polygons; return its summary row."""
    grid = infer.Grid(scene.height, scene.width, stride)
    areas = outputs.row_pixel_areas(scene.crs, scene.transform, scene.width, scene.height)
    stages = {k: _stage(out, scene.id, k) for k in ("probability", "mask")}
    counts = {"valid_m2": 0.0, "band_sums": np.zeros(len(scene.indexes)), "n_valid": 0}
    counts["windows"] = 0
    try:
        writer = outputs.StageWriter(
            stages["probability"],
            stages["mask"],
            crs=scene.crs,
            transform=scene.transform,
            width=scene.width,
            height=scene.height,
            block=grid.block,
            threshold=threshold,
        )
        try:

            def emit(r0, r1, c0, c1, probability, valid):
                counts["valid_m2"] += float(valid.sum(axis=1) @ areas[r0:r1])
                writer.write(r0, r1, c0, c1, probability, valid)

            blender = infer.Blender(grid, emit)

            def on_result(result: infer.BlockResult) -> None:
                blender.add(result)
                counts["band_sums"] += result.band_sums
                counts["n_valid"] += result.n_valid
                counts["windows"] += result.n_windows
                r0, r1, c0, c1 = grid.output(*result.block)
                bar.update(float(areas[r0:r1].sum()) * (c1 - c0) / 1e6)

            infer.run_blocks(
                scene,
                model.ref,
                grid,
                on_result,
                batch_size=batch_size,
                get=get,
                workers=workers,
            )
        finally:
            writer.close()
        if counts["n_valid"] == 0:
            raise InputError(
                f"{scene.path}: scene holds no valid pixel (all nodata); check its nodata value, "
                "mask or alpha band, or leave it out"
            )
        outputs.to_cog(stages["probability"], temps["probability"], categorical=False)
        outputs.to_cog(stages["mask"], temps["mask"], categorical=True)
    finally:
        for stage in stages.values():
            stage.unlink(missing_ok=True)
    polygons = outputs.polygonize(
        temps["mask"],
        temps["probability"],
        scene=scene.id,
        min_area_m2=min_area_m2,
        simplify_m=simplify_m,
    )
    outputs.write_polygons(polygons, temps["polygons"])
    row = scene.describe() | _totals(counts["valid_m2"], polygons)
    row["windows_predicted"] = counts["windows"]
    row["warnings"] = _warnings(scene, model, counts["band_sums"] / max(counts["n_valid"], 1))
    row["outputs"] = {k: f"{scene.id}{suffix}" for k, suffix in KINDS.items()}
    for warning in row["warnings"]:
        log.warning("%s: %s", scene.path, warning)
    return row


def _totals(valid_m2: float, polygons) -> dict[str, Any]:
    area = float(polygons["area_m2"].sum()) if len(polygons) else 0.0
    return {
        "area_mapped_km2": round(valid_m2 / 1e6, 4),
        "landslides": int(len(polygons)),
        "landslide_area_m2": round(area, 2),
        "landslide_area_km2": round(area / 1e6, 6),
    }


def _warnings(scene: Scene, model: MappingModel, band_means: np.ndarray) -> list[str]:
    """Signs that the scene is not what the model was trained on (values, resolution)."""
    found = []
    off = [
        band
        for band, scene_mean, train_mean in zip(model.bands, band_means, model.mean, strict=True)
        if abs(train_mean) > 1e-6 and not 0.2 <= scene_mean / train_mean <= 5
    ]
    if off:
        found.append(
            f"band mean(s) of {off} differ from the training data's by more than 5x "
            f"(scene {np.round(band_means, 4).tolist()}, training {model.mean.round(4).tolist()}, "
            f"scale {scene.scale:g}: {scene.scale_reason}); check --scale and --bands"
        )
    if model.resolution_m:
        areas = outputs.row_pixel_areas(scene.crs, scene.transform, scene.width, scene.height)
        resolution = float(np.sqrt(np.median(areas)))
        if not 0.5 <= resolution / model.resolution_m <= 2:
            found.append(
                f"ground resolution {resolution:.3g} m differs from the training data's "
                f"{model.resolution_m:g} m by more than 2x; resample the scene or use a model "
                "trained at this resolution"
            )
    return found


# -- several scenes --------------------------------------------------------------------------------
def _mosaic(
    probability_paths: list[Path],
    out: Path,
    temps: dict[str, Path],
    *,
    name: str,
    threshold: float,
    scene_extents: list[tuple[str, shapely.Geometry]],
    min_area_m2: float,
    simplify_m: float,
) -> dict[str, Any]:
    stages = {k: _stage(out, name, k) for k in ("probability", "mask")}
    try:
        outputs.mosaic(probability_paths, stages["probability"])
        outputs.threshold_raster(stages["probability"], stages["mask"], threshold)
        outputs.to_cog(stages["probability"], temps["probability"], categorical=False)
        outputs.to_cog(stages["mask"], temps["mask"], categorical=True)
    finally:
        for stage in stages.values():
            stage.unlink(missing_ok=True)
    polygons = outputs.polygonize(
        temps["mask"],
        temps["probability"],
        scene=scene_extents,
        min_area_m2=min_area_m2,
        simplify_m=simplify_m,
    )
    outputs.write_polygons(polygons, temps["polygons"])
    with rasterio.open(temps["mask"]) as src:
        areas = outputs.row_pixel_areas(src.crs, src.transform, src.width, src.height)
        valid_m2 = 0.0
        for r0 in range(0, src.height, 1024):
            window = rasterio.windows.Window(0, r0, src.width, min(1024, src.height - r0))
            valid = src.read(1, window=window) != outputs.MASK_NODATA
            valid_m2 += float(valid.sum(axis=1) @ areas[r0 : r0 + valid.shape[0]])
        grid = {"crs": src.crs.to_string(), "width": src.width, "height": src.height}
    return (
        {"id": name, **grid}
        | _totals(valid_m2, polygons)
        | {"outputs": {k: f"{name}{suffix}" for k, suffix in KINDS.items()}}
    )


# -- summary ---------------------------------------------------------------------------------------
def _summary(
    model: MappingModel,
    scenes: list[Scene],
    rows: list[dict[str, Any]],
    mosaic_row: dict[str, Any] | None,
    scores: dict[str, Any] | None,
    *,
    settings: dict[str, Any],
    started: str,
    seconds: float,
) -> dict[str, Any]:
    total = mosaic_row or rows[0]
    return {
        "hrgldd_version": __version__,
        "started": started,
        "seconds": round(seconds, 2),
        "model": model.describe(),
        "settings": settings,
        "area_mapped_km2": total["area_mapped_km2"],
        "landslides": total["landslides"],
        "landslide_area_km2": total["landslide_area_km2"],
        "scenes": rows,
        "mosaic": mosaic_row,
        "scores": scores,
    }


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a short Markdown report."""
    model = summary["model"]
    release = model.get("release", {})
    lines = [
        "# Landslide map",
        "",
        f"- model: `{model['source']}` ({model['architecture']}, filters {model['filters']}), "
        f"trained on {release.get('name')} {release.get('version')} "
        f"({', '.join(model['bands'])})",
        f"- area mapped: {summary['area_mapped_km2']:.3f} km²; landslides: "
        f"{summary['landslides']}, total {summary['landslide_area_km2']:.4f} km²",
        f"- threshold {summary['settings']['threshold']}, stride {summary['settings']['stride']}, "
        f"{summary['settings']['device']} ({summary['settings']['precision']}); "
        f"{summary['seconds']:.1f} s; hrgldd {summary['hrgldd_version']}, {summary['started']}",
        "",
        "| scene | area mapped (km²) | landslides | landslide area (km²) | scale |",
        "|---|---|---|---|---|",
    ]
    for row in summary["scenes"]:
        lines.append(
            f"| {row['id']} | {row['area_mapped_km2']:.3f} | {row['landslides']} | "
            f"{row['landslide_area_km2']:.4f} | {row['scale']:g} |"
        )
    if summary["mosaic"]:
        m = summary["mosaic"]
        lines.append(
            f"| **{m['id']}** (mosaic) | {m['area_mapped_km2']:.3f} | {m['landslides']} | "
            f"{m['landslide_area_km2']:.4f} | |"
        )
    warnings = [f"{r['id']}: {w}" for r in summary["scenes"] for w in r.get("warnings", [])]
    if warnings:
        lines += ["", "**Warnings**", ""] + [f"- {w}" for w in warnings]
    scores = summary.get("scores")
    if scores:
        p, o = scores["pixel"], scores["object"]
        lines += [
            "",
            f"## Scores against `{Path(scores['inventory']).name}`",
            "",
            "| level | precision | recall | F1 | IoU |",
            "|---|---|---|---|---|",
            f"| pixels (pooled) | {p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} | "
            f"{p['iou']:.3f} |",
            f"| objects ({o['rule']} >= {o['threshold']:g}) | {o['precision']:.3f} | "
            f"{o['recall']:.3f} | {o['f1']:.3f} | |",
            "",
            f"Predicting every valid pixel as landslide would score pixel F1 "
            f"{p['all_landslide_f1']:.3f}. Objects: {o['predicted_matched']} of {o['predicted']} "
            f"predicted polygons match a reference polygon; {o['reference_matched']} of "
            f"{o['reference']} reference polygons are found.",
            "",
            f"![area-frequency]({scores['area_frequency']['plot']})",
        ]
    return "\n".join(lines) + "\n"


__all__ = ["KINDS", "SUMMARY_JSON", "MapResult", "map_scene", "map_scenes", "summary_markdown"]
