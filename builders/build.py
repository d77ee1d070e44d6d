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
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.windows import Window
from tqdm.auto import tqdm

from builders.errors import InputError
from builders.inventory import Inventory, check_overlap, read_inventory, to_crs
from builders.scenes import Scene, expand_scenes, open_scenes, valid_footprint
from builders.spec import EventSpec, ReleaseSpec, event_path, load_event, load_release
from builders.split import split_site
from builders.stats import inventory_stats
from hrgldd_data import __version__
from hrgldd_data.archive import ReleaseWriter, sha256_file
from hrgldd_data.schema import PATCH_SIZE, SPLIT_CODES

log = logging.getLogger(__name__)

#: Windows cut by one Dask task: enough to amortize opening the scene, few enough to bound memory.
WINDOWS_PER_TASK = 64
#: GDAL block cache per process while building (MB); GDAL's default is 5 % of RAM.
GDAL_CACHE_MB = 256

PAPER_CITATION = (
    "Meena, S. R., Nava, L., Bhuyan, K., Puliero, S., Soares, L. P., Dias, H. C., Floris, M., Catani, F. "
    "(2023): HR-GLDD: a globally distributed dataset using generalized deep learning for rapid landslide "
    "mapping on high-resolution satellite imagery. Earth System Science Data 15, 3283-3298. "
    "doi:10.5194/essd-15-3283-2023"
)


@dataclass
class WindowTask:
    """Candidate windows of one scene, with the polygons that touch each window."""

    scene: Scene
    rows: np.ndarray
    cols: np.ndarray
    geoms: list[list[shapely.Geometry]]


@dataclass
class SitePlan:
    """Everything checked about one event before any patch is cut."""

    event: EventSpec
    scenes: list[Scene]
    inventory: Inventory
    stats: dict[str, Any]
    tasks: list[WindowTask] = field(default_factory=list)

    @property
    def n_candidates(self) -> int:
        return sum(t.rows.size for t in self.tasks)


def candidate_windows(scene: Scene, polygons: gpd.GeoDataFrame) -> list[WindowTask]:
    """Grid windows of ``scene`` whose footprint touches a polygon, in row-major order."""
    n_rows, n_cols = scene.height // PATCH_SIZE, scene.width // PATCH_SIZE
    if n_rows == 0 or n_cols == 0:
        return []
    rows, cols = (a.ravel() for a in np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij"))
    t = scene.transform
    xa = t.c + cols * PATCH_SIZE * t.a
    xb = xa + PATCH_SIZE * t.a
    ya = t.f + rows * PATCH_SIZE * t.e
    yb = ya + PATCH_SIZE * t.e
    boxes = shapely.box(np.minimum(xa, xb), np.minimum(ya, yb), np.maximum(xa, xb), np.maximum(ya, yb))
    window_idx, geom_idx = polygons.sindex.query(boxes, predicate="intersects")
    if window_idx.size == 0:
        return []
    order = np.lexsort((geom_idx, window_idx))
    window_idx, geom_idx = window_idx[order], geom_idx[order]
    windows, starts = np.unique(window_idx, return_index=True)
    groups = np.split(geom_idx, starts[1:])
    geometry = polygons.geometry.values
    tasks = []
    for start in range(0, windows.size, WINDOWS_PER_TASK):
        part = windows[start : start + WINDOWS_PER_TASK]
        tasks.append(
            WindowTask(
                scene,
                (rows[part] * PATCH_SIZE).astype(np.int32),
                (cols[part] * PATCH_SIZE).astype(np.int32),
                [list(geometry[g]) for g in groups[start : start + WINDOWS_PER_TASK]],
            )
        )
    return tasks


def cut_patches(task: WindowTask, nodata_threshold: float) -> dict[str, Any]:
    """Read and rasterize the windows of a task; keep those with landslide pixels and enough data."""
    images, masks, rows, cols = [], [], [], []
    dropped = {"no_landslide_pixel": 0, "mostly_nodata": 0}
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), task.scene.open() as src:
        for row, col, geoms in zip(task.rows, task.cols, task.geoms, strict=True):
            window = Window(int(col), int(row), PATCH_SIZE, PATCH_SIZE)
            mask = rasterize(
                ((geom, 1) for geom in geoms), out_shape=(PATCH_SIZE, PATCH_SIZE),
                transform=src.window_transform(window), fill=0, dtype="uint8",
            )
            if not mask.any():
                dropped["no_landslide_pixel"] += 1
                continue
            data = src.read(task.scene.indexes, window=window, masked=True)
            valid = ~np.ma.getmaskarray(data).any(axis=0)
            if 1.0 - valid.mean() > nodata_threshold:
                dropped["mostly_nodata"] += 1
                continue
            mask[~valid] = 0
            if not mask.any():
                dropped["no_landslide_pixel"] += 1
                continue
            image = np.clip(data.filled(0), 0, 65535).astype(np.uint16)
            image[:, ~valid] = 0
            images.append(image)
            masks.append(mask)
            rows.append(row)
            cols.append(col)
    empty = np.empty((0, 4, PATCH_SIZE, PATCH_SIZE), np.uint16)
    return {
        "images": np.stack(images) if images else empty,
        "masks": np.stack(masks) if masks else np.empty((0, PATCH_SIZE, PATCH_SIZE), np.uint8),
        "rows": np.asarray(rows, np.int32),
        "cols": np.asarray(cols, np.int32),
        "dropped": dropped,
    }


def plan_site(event: EventSpec, raw_root: Path) -> SitePlan:
    """Read and check an event's inputs and find its candidate windows (no pixels read yet)."""
    paths = expand_scenes(event.scenes, raw_root, event.source)
    scenes = open_scenes(paths, event.bands, crs=event.crs, event_file=event.source)
    inventory = read_inventory(raw_root / event.inventory, event.inventory_layer)
    polygons = to_crs(inventory, scenes[0].crs)
    footprints = [valid_footprint(scene) for scene in scenes]
    for scene, footprint in zip(scenes, footprints, strict=True):
        if footprint.is_empty:
            raise InputError(f"{scene.path}: scene holds no valid pixel (all nodata); remove it from {event.source} or fix its nodata value")
    check_overlap(inventory, polygons, footprints, paths)
    stats = inventory_stats(inventory, footprints, scenes[0].crs)
    plan = SitePlan(event, scenes, inventory, stats)
    for scene in scenes:
        plan.tasks += candidate_windows(scene, polygons)
    return plan


def _scheduler(scheduler: str | None):
    """Dask scheduler: ``threads`` (default), ``processes``, ``synchronous`` or a cluster address."""
    if scheduler is None or scheduler in ("threads", "processes", "synchronous", "sync"):
        return scheduler or "threads", None
    from distributed import Client

    client = Client(scheduler)
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
    written where possible) and :class:`hrgldd_data.archive.ReleaseExistsError` if the version
    exists. On any failure the temporary output is removed and ``out_root`` is left as it was.
    """
    spec = load_release(release_file)
    raw_root, out_root = Path(raw_root), Path(out_root)
    if not raw_root.is_dir():
        raise InputError(f"{raw_root}: raw-data root does not exist (pass --raw-root DIR)")
    target = out_root / spec.dirname
    if target.exists():
        from hrgldd_data.archive import ReleaseExistsError

        raise ReleaseExistsError(f"{target} already exists: release {spec.name} {spec.version} is immutable; bump the version in {spec.source}")
    events = [load_event(event_path(spec, event)) for event in spec.events]
    plans = []
    for event in tqdm(events, desc="checking inputs", unit="event", disable=not progress):
        plans.append(plan_site(event, raw_root))

    get, client = _scheduler(scheduler)
    inflight = 2 * (workers or os.cpu_count() or 1)
    scenes_meta: list[dict[str, Any]] = []
    sites_meta: list[dict[str, Any]] = []
    split_codes: list[np.ndarray] = []
    try:
        with ReleaseWriter(out_root, spec.name, spec.version) as writer:
            bar = tqdm(total=sum(p.n_candidates for p in plans), desc="cutting patches", unit="window", disable=not progress)
            for code, plan in enumerate(plans):
                first_scene = len(scenes_meta)
                scene_index = {id(s): first_scene + k for k, s in enumerate(plan.scenes)}
                scenes_meta += [s.metadata(plan.event.id, raw_root) for s in plan.scenes]
                before = writer.count
                dropped = {"no_landslide_pixel": 0, "mostly_nodata": 0}
                for start in range(0, len(plan.tasks), inflight):
                    batch = plan.tasks[start : start + inflight]
                    with dask.config.set(num_workers=workers) if workers else nullcontext():
                        results = dask.compute(*[dask.delayed(cut_patches)(t, spec.nodata_threshold) for t in batch], scheduler=get)
                    for task, result in zip(batch, results, strict=True):
                        k = result["rows"].size
                        writer.append(
                            result["images"], result["masks"], site=np.full(k, code),
                            scene=np.full(k, scene_index[id(task.scene)]), row=result["rows"], col=result["cols"],
                        )
                        for key, value in result["dropped"].items():
                            dropped[key] += value
                        bar.update(task.rows.size)
                n_site = writer.count - before
                if n_site == 0:
                    raise InputError(
                        f"{plan.event.source}: site {plan.event.id} yields no patch: {plan.n_candidates} window(s) touch "
                        f"landslide polygons, {dropped['mostly_nodata']} are mostly nodata (threshold "
                        f"{spec.nodata_threshold}) and {dropped['no_landslide_pixel']} hold no landslide pixel. "
                        "Check the scenes' nodata and that the inventory maps this scene's event."
                    )
                if plan.event.role == "unseen":
                    split_codes.append(np.full(n_site, SPLIT_CODES["unseen"], np.uint8))
                else:
                    split_codes.append(split_site(n_site, spec.split, spec.seed, plan.event.id))
                sites_meta.append(_site_metadata(plan, n_site, dropped, raw_root, range(first_scene, len(scenes_meta))))
            bar.close()
            attrs = {
                "description": spec.description,
                "notes": spec.notes,
                "synthetic": spec.synthetic,
                "license": spec.license,
                "citation": PAPER_CITATION,
                "split_seed": spec.seed,
                "split_fractions": spec.split,
                "nodata_threshold": spec.nodata_threshold,
                "builder_version": __version__,
                "release_file": spec.source.name if spec.source else None,
                "sites": sites_meta,
                "scenes": scenes_meta,
                "inputs": _input_checksums(plans, raw_root, spec),
            }
            return writer.finish(np.concatenate(split_codes), attrs, on_complete=_write_card)
    finally:
        if client is not None:
            client.close()


def _site_metadata(plan: SitePlan, n_patches: int, dropped: dict[str, int], raw_root: Path, scenes: range) -> dict[str, Any]:
    scene = plan.scenes[0]
    inventory = plan.inventory.report()
    inventory["path"] = _relative(Path(inventory["path"].split("!")[0]), raw_root)
    return plan.event.metadata() | {
        "crs": scene.crs.to_wkt(),
        "epsg": scene.crs.to_epsg(),
        "scenes": list(scenes),
        "inventory": inventory,
        "stats": plan.stats | {"n_patches": n_patches, "n_candidate_windows": plan.n_candidates, "dropped_windows": dropped},
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _input_checksums(plans: list[SitePlan], raw_root: Path, spec: ReleaseSpec) -> dict[str, str]:
    """sha256 of every scene, inventory and spec file that went into the release."""
    files: list[Path] = []
    for plan in plans:
        files += [s.path for s in plan.scenes]
        files.append(Path(plan.inventory.path.split("!")[0]))
    checksums = {_relative(f, raw_root): sha256_file(f) for f in files}
    for plan in plans:
        if plan.event.source:
            checksums[f"events/{plan.event.source.name}"] = sha256_file(plan.event.source)
    if spec.source:
        checksums[f"releases/{spec.source.name}"] = sha256_file(spec.source)
    return dict(sorted(checksums.items()))


def _write_card(release_dir: Path) -> None:
    """Write the dataset card into the release before it is moved into place (if cards exist)."""
    try:
        from hrgldd_data.cards import write_card
    except ImportError:
        log.info("hrgldd_data.cards is not available; release written without a card")
        return
    write_card(release_dir)
