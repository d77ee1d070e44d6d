"""Build a release: scenes + inventories -> rasterized 128x128 patches -> split -> Zarr archive.

Flow per site: read and check every input first (nothing is written if an input is bad), then
find the grid windows that touch a landslide polygon (vector work only), cut them window by window
in Dask tasks (read, rasterize, drop windows without landslide pixels or mostly nodata), append the
kept patches to the archive in a fixed order, and split the site with its seed. Memory stays
bounded by the tasks in flight and one shard of patches, whatever the size of the scenes.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.multiprocessing
import dask.threaded
import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj.exceptions import CRSError
from rasterio.errors import RasterioError
from rasterio.features import rasterize, shapes
from rasterio.transform import array_bounds
from rasterio.windows import Window
from tqdm.auto import tqdm

from builders.inventory import Inventory, check_overlap, read_inventory, to_crs
from builders.scenes import (
    FILL_MAGNITUDE,
    Scene,
    check_inside_root,
    expand_scenes,
    open_scenes,
)
from builders.spec import (
    DEFAULT_SENSOR,
    EventSpec,
    ReleaseSpec,
    SensorSpec,
    load_events,
    load_release,
)
from builders.split import split_site
from builders.stats import inventory_stats
from hrgldd_data import citation
from hrgldd_data._version import __version__
from hrgldd_data.cards import write_card
from hrgldd_data.errors import InputError, ReleaseExistsError
from hrgldd_data.fileio import sha256_file
from hrgldd_data.schema import PATCH_SIZE, SPLIT_CODES
from hrgldd_data.writer import ReleaseWriter

log = logging.getLogger(__name__)

#: A Dask task reads one tile of a scene once: whole 128-px windows, aligned to the file's blocks,
#: 512 x 4096 px (16 MB of 4-band uint16) unless the blocks are larger or the file is striped.
TILE_ROWS = 512
TILE_COLS = 4096
#: The valid-pixel grid (for the study area) is kept at about this many cells per scene side.
FOOTPRINT_CELLS = 2048
#: GDAL block cache per process while building, in bytes (rasterio passes GDAL_CACHEMAX to GDAL
#: as bytes: a bare 256 means 256 bytes and makes every read decode its blocks again).
GDAL_CACHE_BYTES = 256 * 2**20
#: ``--scheduler`` names of local Dask schedulers; anything else must be a cluster address.
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous", "sync")
#: Seconds to wait for a dask.distributed scheduler before giving up.
SCHEDULER_TIMEOUT = "20s"


@dataclass
class TileTask:
    """One tile of a scene, read once: its valid-pixel grid, and the candidate windows inside it."""

    scene: Scene
    row0: int
    col0: int
    height: int
    width: int
    decimation: int
    rows: np.ndarray
    cols: np.ndarray
    geoms: list[list[shapely.Geometry]]


@dataclass
class SitePlan:
    """Everything checked about one event before any pixel is read."""

    event: EventSpec
    scenes: list[Scene]
    inventory: Inventory
    stats: dict[str, Any]
    tasks: list[TileTask] = field(default_factory=list)

    @property
    def n_candidates(self) -> int:
        return sum(t.rows.size for t in self.tasks)


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


def footprint_decimation(scene: Scene) -> int:
    """Cell size (px, a power of two dividing 128) of the valid-pixel grid of a scene."""
    d = 1
    while d < PATCH_SIZE and d * FOOTPRINT_CELLS < max(scene.width, scene.height):
        d *= 2
    return d


def candidate_windows(
    scene: Scene, polygons: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Origins (px) of grid windows touching a polygon, row-major, with the polygons' indexes."""
    n_rows, n_cols = scene.height // PATCH_SIZE, scene.width // PATCH_SIZE
    empty = np.empty(0, np.int32)
    if n_rows == 0 or n_cols == 0:
        return empty, empty, []
    rows, cols = (
        a.ravel() for a in np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    )
    t = scene.transform
    xa = t.c + cols * PATCH_SIZE * t.a
    xb = xa + PATCH_SIZE * t.a
    ya = t.f + rows * PATCH_SIZE * t.e
    yb = ya + PATCH_SIZE * t.e
    boxes = shapely.box(
        np.minimum(xa, xb), np.minimum(ya, yb), np.maximum(xa, xb), np.maximum(ya, yb)
    )
    window_idx, geom_idx = polygons.sindex.query(boxes, predicate="intersects")
    if window_idx.size == 0:
        return empty, empty, []
    order = np.lexsort((geom_idx, window_idx))
    window_idx, geom_idx = window_idx[order], geom_idx[order]
    windows, starts = np.unique(window_idx, return_index=True)
    groups = np.split(geom_idx, starts[1:])
    return (
        (rows[windows] * PATCH_SIZE).astype(np.int32),
        (cols[windows] * PATCH_SIZE).astype(np.int32),
        groups,
    )


def tile_tasks(scene: Scene, polygons: gpd.GeoDataFrame | None) -> list[TileTask]:
    """Tiles covering the whole scene (every pixel is read once, for the study area), row-major.

    Without ``polygons`` the tiles hold no candidate window: reading them gives the footprint only.
    """
    with scene.open() as src:
        block_h, block_w = src.block_shapes[0]
    tile_h = max(TILE_ROWS, _ceil_to(block_h, PATCH_SIZE))
    tile_w = (
        scene.width if block_w >= scene.width else max(TILE_COLS, _ceil_to(block_w, PATCH_SIZE))
    )
    if polygons is None:
        rows = cols = np.empty(0, np.int32)
        groups, geometry = [], np.empty(0, object)
    else:
        rows, cols, groups = candidate_windows(scene, polygons)
        geometry = polygons.geometry.values
    decimation = footprint_decimation(scene)
    tasks = []
    for row0 in range(0, scene.height, tile_h):
        for col0 in range(0, scene.width, tile_w):
            height, width = min(tile_h, scene.height - row0), min(tile_w, scene.width - col0)
            inside = np.flatnonzero(
                (rows >= row0) & (rows < row0 + height) & (cols >= col0) & (cols < col0 + width)
            )
            tasks.append(
                TileTask(
                    scene,
                    row0,
                    col0,
                    height,
                    width,
                    decimation,
                    rows[inside],
                    cols[inside],
                    [list(geometry[groups[i]]) for i in inside],
                )
            )
    return tasks


def _any_in_cells(valid: np.ndarray, d: int) -> np.ndarray:
    """Whether each d x d cell holds a valid pixel (edges padded as invalid)."""
    h, w = valid.shape
    padded = np.zeros((_ceil_to(h, d), _ceil_to(w, d)), bool)
    padded[:h, :w] = valid
    return padded.reshape(padded.shape[0] // d, d, padded.shape[1] // d, d).any(axis=(1, 3))


def _valid_pixels(src, data: np.ndarray, tile: Window) -> np.ndarray:
    """Where a tile holds data: GDAL's rule (valid where any band is not nodata, or the alpha
    band / internal mask), and for float scenes finite values that are no fill value."""
    nodata = src.nodata
    if nodata is not None and not np.isnan(nodata):
        valid = (data != nodata).any(axis=0)
    elif nodata is not None:  # NaN nodata: compare with isnan, never with ==
        valid = (~np.isnan(data)).any(axis=0)
    else:  # alpha band or internal mask (also a warped scene without a nodata value)
        valid = src.dataset_mask(window=tile) > 0
    if data.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            valid &= (np.isfinite(data) & (np.abs(data) < FILL_MAGNITUDE)).all(axis=0)
    return valid


def to_release_values(
    window: np.ndarray, valid: np.ndarray, scale: float | None, dtype: str
) -> np.ndarray:
    """A window's values as the release stores them: scaled, clipped to the dtype, nodata set."""
    if dtype == "float32":
        out = window.astype(np.float32)
        if scale is not None:
            out *= np.float32(scale)
        out[:, ~valid] = np.nan
        return out
    values = window
    if scale is not None or window.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            values = np.rint(window.astype(np.float64) * (1.0 if scale is None else scale))
        values[:, ~valid] = 0
    out = np.clip(values, 0, np.iinfo(dtype).max).astype(dtype)
    out[:, ~valid] = 0
    return out


def cut_tile(task: TileTask, nodata_threshold: float, dtype: str = "uint16") -> dict[str, Any]:
    """Read a tile once; keep its windows with landslide pixels and enough data; grid its
    valid pixels."""
    images, masks, rows, cols = [], [], [], []
    dropped = {"no_landslide_pixel": 0, "mostly_nodata": 0}
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), task.scene.open() as src:
        tile = Window(task.col0, task.row0, task.width, task.height)
        try:
            data = src.read(task.scene.indexes, window=tile)
            valid = _valid_pixels(src, data, tile)
        except RasterioError as err:
            raise InputError(
                f"{task.scene.path}: cannot read its pixels (rows {task.row0}–"
                f"{task.row0 + task.height}: {err}); the file is truncated or damaged: "
                "re-download or re-export it"
            ) from err
        for row, col, geoms in zip(task.rows, task.cols, task.geoms, strict=True):
            y, x = int(row) - task.row0, int(col) - task.col0
            mask = rasterize(
                ((geom, 1) for geom in geoms),
                out_shape=(PATCH_SIZE, PATCH_SIZE),
                transform=src.window_transform(Window(int(col), int(row), PATCH_SIZE, PATCH_SIZE)),
                fill=0,
                dtype="uint8",
            )
            window_valid = valid[y : y + PATCH_SIZE, x : x + PATCH_SIZE]
            if 1.0 - window_valid.mean() > nodata_threshold:
                dropped["mostly_nodata"] += 1
                continue
            mask[~window_valid] = 0
            if not mask.any():
                dropped["no_landslide_pixel"] += 1
                continue
            images.append(
                to_release_values(
                    data[:, y : y + PATCH_SIZE, x : x + PATCH_SIZE],
                    window_valid,
                    task.scene.scale,
                    dtype,
                )
            )
            masks.append(mask)
            rows.append(row)
            cols.append(col)
    return {
        "images": np.stack(images)
        if images
        else np.empty((0, len(task.scene.indexes), PATCH_SIZE, PATCH_SIZE), dtype),
        "masks": np.stack(masks) if masks else np.empty((0, PATCH_SIZE, PATCH_SIZE), np.uint8),
        "rows": np.asarray(rows, np.int32),
        "cols": np.asarray(cols, np.int32),
        "dropped": dropped,
        "valid_cells": _any_in_cells(valid, task.decimation),
    }


def empty_cells(scene: Scene) -> np.ndarray:
    """The valid-pixel grid of a scene before any tile is read (all invalid)."""
    d = footprint_decimation(scene)
    return np.zeros((-(-scene.height // d), -(-scene.width // d)), bool)


def place_cells(cells: np.ndarray, task: TileTask, grid: np.ndarray) -> None:
    """Put a tile's valid-pixel grid (from :func:`cut_tile`) into its scene's grid."""
    r0, c0 = task.row0 // task.decimation, task.col0 // task.decimation
    cells[r0 : r0 + grid.shape[0], c0 : c0 + grid.shape[1]] = grid


def scene_footprint(scene: Scene) -> shapely.Geometry:
    """Valid-pixel footprint of a scene, read tile by tile like the builder (``hrgldd stats``)."""
    cells = empty_cells(scene)
    for task in tile_tasks(scene, None):
        place_cells(cells, task, cut_tile(task, nodata_threshold=1.0)["valid_cells"])
    return footprint_from_cells(scene, cells, footprint_decimation(scene))


def footprint_from_cells(scene: Scene, cells: np.ndarray, decimation: int) -> shapely.Geometry:
    """Polygon (scene CRS) of the valid cells of a scene, clipped to the scene's extent."""
    transform = scene.transform @ Affine.scale(decimation)
    polygons = [
        shapely.geometry.shape(g)
        for g, v in shapes(cells.astype(np.uint8), transform=transform)
        if v == 1
    ]
    extent = shapely.box(*array_bounds(scene.height, scene.width, scene.transform))
    return shapely.union_all(polygons).intersection(extent) if polygons else shapely.Polygon()


def plan_site(event: EventSpec, raw_root: Path, sensor: SensorSpec = DEFAULT_SENSOR) -> SitePlan:
    """Read and check an event's inputs and find its candidate windows (no pixels read yet).

    The overlap check uses the scenes' extents; the valid-pixel footprints (study area) come from
    the same single read of every tile that cuts the patches.
    """
    allowed = event.allow_outside_raw_root
    paths = expand_scenes(event.scenes, raw_root, event.source, allow_outside=allowed)
    scenes = open_scenes(
        paths,
        event.bands,
        wanted=sensor.sensor.band_names,
        dtype=sensor.dtype,
        scale=event.scale,
        crs=event.crs,
        event_file=event.source,
    )
    check_inside_root(event.inventory, raw_root, event.source, "inventory path", allowed)
    inventory = read_inventory(raw_root / event.inventory, event.inventory_layer)
    try:
        polygons = to_crs(inventory, scenes[0].crs)
    except (CRSError, ValueError) as err:
        raise InputError(
            f"{inventory.path}: cannot reproject the inventory to the scenes' CRS ({err}); give "
            "it a CRS that PROJ knows (e.g. `ogr2ogr -a_srs EPSG:4326 fixed.gpkg ...`)"
        ) from err
    extents = [shapely.box(*array_bounds(s.height, s.width, s.transform)) for s in scenes]
    check_overlap(inventory, polygons, extents, paths)
    plan = SitePlan(event, scenes, inventory, stats={})
    for scene in scenes:
        plan.tasks += tile_tasks(scene, polygons)
    return plan


def check_scheduler(scheduler: str | None) -> None:
    """Refuse a ``--scheduler`` that is neither a local scheduler nor a cluster address."""
    if scheduler in LOCAL_SCHEDULERS or scheduler is None:
        return
    if not re.fullmatch(r"([a-z]+://)?[\w.\-\[\]:]+:\d+", scheduler):
        raise InputError(
            f"--scheduler {scheduler!r}: choose threads, processes or synchronous, or give a "
            "dask.distributed address such as tcp://10.0.0.5:8786"
        )


def dask_scheduler(scheduler: str | None):
    """Dask scheduler: ``threads`` (default), ``processes``, ``synchronous`` or an address."""
    # Local schedulers are passed as functions: a name makes dask import distributed to look
    # for a client.
    check_scheduler(scheduler)
    if scheduler in (None, "threads"):
        return dask.threaded.get, None
    if scheduler == "processes":
        return dask.multiprocessing.get, None
    if scheduler in ("synchronous", "sync"):
        return dask.get, None
    from distributed import Client

    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise InputError(
            f"--scheduler {scheduler}: cannot reach the dask.distributed scheduler ({err}); start "
            "it (and workers that see --raw-root), or use --scheduler threads"
        ) from err
    return client.get, client


def build_release(
    release_file: str | Path,
    raw_root: str | Path,
    out_root: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Build the release described by ``release_file`` from ``raw_root`` into ``out_root``.

    Returns the release directory. Raises :class:`InputError` for bad inputs (before anything is
    written where possible) and :class:`hrgldd_data.errors.ReleaseExistsError` if the version
    exists. On any failure the temporary output is removed and ``out_root`` is left as it was.
    """
    check_scheduler(scheduler)
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: give a positive number of local workers")
    spec = load_release(release_file)
    raw_root, out_root = Path(raw_root), Path(out_root)
    if not raw_root.is_dir():
        raise InputError(f"{raw_root}: raw-data root does not exist (pass --raw-root DIR)")
    target = out_root / spec.dirname
    if target.exists():
        raise ReleaseExistsError(
            f"{target} already exists: release {spec.name} {spec.version} is immutable; bump "
            f"the version in {spec.source}"
        )
    events = load_events(spec)
    plans = []
    for event in tqdm(events, desc="checking inputs", unit="event", disable=not progress):
        plans.append(plan_site(event, raw_root, spec.sensor))

    get, client = dask_scheduler(scheduler)
    dtype = spec.sensor.dtype
    inflight = 2 * (workers or os.cpu_count() or 1)
    scenes_meta: list[dict[str, Any]] = []
    sites_meta: list[dict[str, Any]] = []
    split_codes: list[np.ndarray] = []
    # Checksums of the scene files are I/O-bound: they run beside the cutting, not before it.
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
    scene_sha: dict[Path, Future] = {
        s.path: background.submit(sha256_file, s.path) for p in plans for s in p.scenes
    }
    try:
        with (
            ReleaseWriter(
                out_root,
                spec.name,
                spec.version,
                sensor=spec.sensor.sensor,
                dtype=spec.sensor.dtype,
                nodata=float("nan") if spec.sensor.dtype == "float32" else 0,
                stats_seed=spec.seed,
            ) as writer,
            tqdm(
                total=sum(s.width * s.height for p in plans for s in p.scenes) / 1e6,
                desc="reading scenes",
                unit="Mpx",
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} Mpx [{elapsed}<{remaining}]",
                disable=not progress,
            ) as bar,
        ):
            for code, plan in enumerate(plans):
                first_scene = len(scenes_meta)
                scene_index = {id(s): first_scene + k for k, s in enumerate(plan.scenes)}
                scenes_meta += [s.metadata(plan.event.id, raw_root) for s in plan.scenes]
                cells = {id(s): empty_cells(s) for s in plan.scenes}
                before = writer.count
                dropped = {"no_landslide_pixel": 0, "mostly_nodata": 0}
                for start in range(0, len(plan.tasks), inflight):
                    batch = plan.tasks[start : start + inflight]
                    with dask.config.set(num_workers=workers) if workers else nullcontext():
                        results = dask.compute(
                            *[
                                dask.delayed(cut_tile)(t, spec.nodata_threshold, dtype)
                                for t in batch
                            ],
                            scheduler=get,
                        )
                    for task, result in zip(batch, results, strict=True):
                        k = result["rows"].size
                        writer.append(
                            result["images"],
                            result["masks"],
                            site=np.full(k, code),
                            scene=np.full(k, scene_index[id(task.scene)]),
                            row=result["rows"],
                            col=result["cols"],
                        )
                        for key, value in result["dropped"].items():
                            dropped[key] += value
                        place_cells(cells[id(task.scene)], task, result["valid_cells"])
                        bar.update(task.width * task.height / 1e6)
                footprints = []
                for scene in plan.scenes:
                    footprint = footprint_from_cells(
                        scene, cells[id(scene)], footprint_decimation(scene)
                    )
                    if footprint.is_empty:
                        raise InputError(
                            f"{scene.path}: scene holds no valid pixel (all nodata); remove it "
                            f"from {plan.event.source} or fix its nodata value"
                        )
                    footprints.append(footprint)
                n_site = writer.count - before
                if n_site == 0:
                    raise InputError(
                        f"{plan.event.source}: site {plan.event.id} yields no patch: "
                        f"{plan.n_candidates} window(s) touch landslide polygons, "
                        f"{dropped['mostly_nodata']} are mostly nodata (threshold "
                        f"{spec.nodata_threshold}) and {dropped['no_landslide_pixel']} hold no "
                        "landslide pixel. Check the scenes' nodata and that the inventory maps "
                        "this scene's event."
                    )
                plan.stats = inventory_stats(plan.inventory, footprints, plan.scenes[0].crs)
                if plan.event.role == "unseen":
                    split_codes.append(np.full(n_site, SPLIT_CODES["unseen"], np.uint8))
                else:
                    split_codes.append(split_site(n_site, spec.split, spec.seed, plan.event.id))
                sites_meta.append(
                    _site_metadata(
                        plan, n_site, dropped, raw_root, range(first_scene, len(scenes_meta))
                    )
                )
            bar.close()
            attrs = {
                "description": spec.description,
                "notes": spec.notes,
                "synthetic": spec.synthetic,
                "license": spec.license,
                "citation": citation.reference(),
                "split_seed": spec.seed,
                "split_fractions": spec.split,
                "nodata_threshold": spec.nodata_threshold,
                "builder_version": __version__,
                "release_file": spec.source.name if spec.source else None,
                "sites": sites_meta,
                "scenes": scenes_meta,
                "inputs": _input_checksums(
                    plans, raw_root, spec, {path: f.result() for path, f in scene_sha.items()}
                ),
            }
            return writer.finish(np.concatenate(split_codes), attrs, on_complete=write_card)
    finally:
        background.shutdown(wait=True, cancel_futures=True)
        if client is not None:
            client.close()


def _site_metadata(
    plan: SitePlan, n_patches: int, dropped: dict[str, int], raw_root: Path, scenes: range
) -> dict[str, Any]:
    scene = plan.scenes[0]
    inventory = plan.inventory.report()
    inventory["path"] = _relative(Path(inventory["path"].split("!")[0]), raw_root)
    return plan.event.metadata() | {
        "crs": scene.crs.to_wkt(),
        "epsg": scene.crs.to_epsg(),
        "scenes": list(scenes),
        "inventory": inventory,
        "stats": plan.stats
        | {
            "n_patches": n_patches,
            "n_candidate_windows": plan.n_candidates,
            "dropped_windows": dropped,
        },
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _input_checksums(
    plans: list[SitePlan], raw_root: Path, spec: ReleaseSpec, scene_sha: dict[Path, str]
) -> dict[str, str]:
    """sha256 of every scene, inventory and spec file that went into the release."""
    checksums = {_relative(path, raw_root): sha for path, sha in scene_sha.items()}
    for plan in plans:
        inventory = Path(plan.inventory.path.split("!")[0])
        checksums[_relative(inventory, raw_root)] = sha256_file(inventory)
    for plan in plans:
        if plan.event.source:
            checksums[f"events/{plan.event.source.name}"] = sha256_file(plan.event.source)
    if spec.source:
        checksums[f"releases/{spec.source.name}"] = sha256_file(spec.source)
    return dict(sorted(checksums.items()))
