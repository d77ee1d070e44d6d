"""Deterministic synthetic scenes and inventories for the ten paper events (clearly synthetic).

Each scene imitates a post-event PlanetScope surface-reflectance product closely enough that a
model has something real to learn and to get wrong:

* vegetated slopes: low red, high NIR, with smooth texture and terrain shading;
* fresh landslide scars: bright in R,G,B and low in NIR, with soft edges and a label polygon
  that follows the scar but not pixel for pixel;
* confusers the paper names: river beds, bare fields and roads (bright, low NIR, not landslides);
* landslide sizes by trigger (earthquakes: many small; rainfall: fewer, larger, elongated);
* nodata at a scene edge, as in real strips; a UTM CRS near each real site, one site geographic,
  one site split over two scenes, one 8-band SuperDove product, several inventories in EPSG:4326,
  and invalid polygons to repair.

The layout below the output root is the one the event files expect:
``<event>/scenes/*.tif`` and ``<event>/inventory.gpkg``.
"""

from __future__ import annotations

import tomllib
import zlib
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.features import rasterize
from scipy.ndimage import gaussian_filter

from builders.spec import load_event

SITES_FILE = Path(__file__).with_name("sites.toml")
PIXEL_M = 3.0
SCENE_PX = 768
SUPERDOVE = ("coastal_blue", "blue", "green_i", "green", "yellow", "red", "rededge", "nir")

# Mean surface reflectance (x 10 000) in R, G, B, NIR.
VEGETATION = np.array([450.0, 700.0, 450.0, 3400.0])
SCAR = np.array([1900.0, 1750.0, 1450.0, 2050.0])
RIVER_BED = np.array([1650.0, 1600.0, 1450.0, 1750.0])
WATER = np.array([350.0, 500.0, 550.0, 250.0])
BARE_FIELD = np.array([1500.0, 1350.0, 1100.0, 2150.0])
ROAD = np.array([1700.0, 1700.0, 1650.0, 1600.0])


def load_sites() -> dict[str, dict[str, Any]]:
    """Rendering settings of each sample event."""
    return tomllib.loads(SITES_FILE.read_text())


def _smooth(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (field.std() + 1e-9)


def _landslide_polygon(
    rng: np.random.Generator, trigger: str, shape: tuple[int, int]
) -> shapely.Polygon:
    """A scar outline in pixel coordinates: a tapered, wobbly teardrop pointing downslope."""
    if trigger == "earthquake":
        area_px = np.exp(rng.uniform(np.log(60), np.log(1500)))
        aspect = rng.uniform(1.2, 2.5)
    else:
        area_px = np.exp(rng.uniform(np.log(300), np.log(5000)))
        aspect = rng.uniform(2.0, 4.5)
    half_width = np.sqrt(area_px / (np.pi * aspect))
    half_length = half_width * aspect
    angle = rng.uniform(0, 2 * np.pi)
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    taper = 1 - 0.45 * np.cos(t)  # wider at the toe than at the crown
    wobble = 1 + 0.12 * _smooth(rng, (40,), 2.0)
    x = half_length * np.cos(t) * wobble
    y = half_width * np.sin(t) * taper * wobble
    margin = half_length + 4
    cy = rng.uniform(margin, shape[0] - margin)
    cx = rng.uniform(margin, shape[1] - margin)
    xs = cx + x * np.cos(angle) - y * np.sin(angle)
    ys = cy + x * np.sin(angle) + y * np.cos(angle)
    return shapely.Polygon(np.column_stack([xs, ys])).buffer(0)


def _burn(shape: tuple[int, int], geoms: list[shapely.Geometry]) -> np.ndarray:
    if not geoms:
        return np.zeros(shape, bool)
    return rasterize(((g, 1) for g in geoms), out_shape=shape, fill=0, dtype="uint8").astype(bool)


def render_site(site: str, trigger: str, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Image (4, H, W) float reflectance in R,G,B,NIR, nodata mask, scar polygons (pixel space)."""
    rng = np.random.default_rng([seed, zlib.crc32(site.encode())])
    n_scenes = int(settings.get("scenes", 1))
    shape = (SCENE_PX, SCENE_PX if n_scenes == 1 else 640 * n_scenes)
    shading = 1 + 0.18 * _smooth(rng, shape, 40) + 0.06 * _smooth(rng, shape, 6)
    texture = _smooth(rng, shape, 3)
    image = VEGETATION[:, None, None] * (1 + 0.12 * texture) * shading

    def paint(
        mask: np.ndarray, colour: np.ndarray, soft: float = 1.0, jitter: float = 0.08
    ) -> None:
        weight = gaussian_filter(mask.astype(float), soft) if soft else mask.astype(float)
        local = colour[:, None, None] * (1 + jitter * _smooth(rng, shape, 2)) * shading
        image[:] = image * (1 - weight) + local * weight

    # Confusers first, so that scars painted later sit on top of them where they cross.
    ys = np.arange(shape[0])
    river_x = (
        shape[1] * rng.uniform(0.2, 0.8)
        + 60 * np.sin(ys / rng.uniform(40, 90))
        + 25 * _smooth(rng, (shape[0],), 15)
    )
    river_half = rng.uniform(6, 12)
    xx = np.arange(shape[1])[None, :]
    river = np.abs(xx - river_x[:, None]) < river_half
    water = np.abs(xx - river_x[:, None]) < river_half * 0.35
    paint(river, RIVER_BED, soft=1.5)
    paint(water, WATER, soft=1.0)
    fields = []
    for _ in range(int(rng.integers(2, 5))):
        y0, x0 = rng.integers(0, shape[0] - 60), rng.integers(0, shape[1] - 80)
        fields.append(shapely.box(x0, y0, x0 + rng.integers(30, 80), y0 + rng.integers(25, 60)))
    paint(_burn(shape, fields), BARE_FIELD, soft=0.7)
    road_y = np.linspace(rng.uniform(0, shape[0]), rng.uniform(0, shape[0]), 12) + 30 * _smooth(
        rng, (12,), 1.5
    )
    road = shapely.LineString(np.column_stack([np.linspace(0, shape[1], 12), road_y])).buffer(1.6)
    paint(_burn(shape, [road]), ROAD, soft=0.5)

    polygons = []
    river_geom = shapely.Polygon(
        np.column_stack(
            [np.r_[river_x - river_half, (river_x + river_half)[::-1]], np.r_[ys, ys[::-1]]]
        )
    ).buffer(3)
    while len(polygons) < int(settings["landslides"]):
        poly = _landslide_polygon(rng, trigger, shape)
        if (
            poly.is_empty
            or poly.intersects(river_geom)
            or any(poly.distance(p) < 3 for p in polygons)
        ):
            continue
        polygons.append(poly)
    # The scar as seen is the mapped polygon, slightly eroded or dilated: good labels, not perfect.
    seen = [p.buffer(rng.uniform(-1.2, 1.2)) for p in polygons]
    paint(_burn(shape, [g for g in seen if not g.is_empty]), SCAR, soft=0.8, jitter=0.12)

    image *= float(settings.get("brightness", 1.0))
    image += rng.normal(0, 40, image.shape)
    # Nodata wedge along one edge, as at the border of a PlanetScope strip.
    yy, xx2 = np.mgrid[: shape[0], : shape[1]]
    nodata = (xx2 + 0.6 * yy) < rng.uniform(0.10, 0.22) * shape[1]
    return {
        "image": np.clip(image, 1, 65535),
        "nodata": nodata,
        "polygons": polygons,
        "shape": shape,
    }


def _scene_transform(settings: dict[str, Any], shape: tuple[int, int]) -> tuple[CRS, Affine]:
    crs = CRS.from_user_input(settings["crs"])
    lon, lat = settings["centre"]
    if crs.is_geographic:
        step = PIXEL_M / 111_320.0
        return crs, Affine(step, 0, lon - step * shape[1] / 2, 0, -step, lat + step * shape[0] / 2)
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    x0 = round((x - PIXEL_M * shape[1] / 2) / PIXEL_M) * PIXEL_M
    y0 = round((y + PIXEL_M * shape[0] / 2) / PIXEL_M) * PIXEL_M
    return crs, Affine(PIXEL_M, 0, x0, 0, -PIXEL_M, y0)


def _write_scene(
    path: Path, bands: np.ndarray, crs: CRS, transform: Affine, descriptions: tuple[str, ...] | None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": bands.shape[1],
        "width": bands.shape[2],
        "count": bands.shape[0],
        "dtype": "uint16",
        "crs": crs,
        "transform": transform,
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        if descriptions:
            for i, name in enumerate(descriptions, start=1):
                dst.set_band_description(i, name)


def write_site(site: str, out: Path, seed: int = 0) -> list[Path]:
    """Render one event and write its scenes and inventory where its event file expects them."""
    event = load_event(site)
    settings = load_sites()[site]
    rendered = render_site(site, event.trigger, settings, seed)
    rgbn = np.round(rendered["image"]).astype(np.uint16)
    rgbn[:, rendered["nodata"]] = 0
    crs, transform = _scene_transform(settings, rendered["shape"])
    n_bands = int(settings.get("bands", 4))
    if n_bands == 8:
        r, g, b, n = rgbn
        stack = np.stack(
            [
                (b * 0.9).astype(np.uint16),
                b,
                (g * 0.95).astype(np.uint16),
                g,
                ((r + g) // 2),
                r,
                ((r + n) // 2),
                n,
            ]
        )
        stack[:, rendered["nodata"]] = 0
        descriptions: tuple[str, ...] | None = SUPERDOVE
    else:
        stack, descriptions = rgbn[[2, 1, 0, 3]], None  # PlanetScope 4-band order: B, G, R, NIR
    scene_dir = out / Path(event.scenes[0]).parent
    n_scenes = int(settings.get("scenes", 1))
    width = stack.shape[2] // n_scenes
    written = []
    for k in range(n_scenes):
        part = stack[:, :, k * width : (k + 1) * width]
        path = scene_dir / f"{site}_{k + 1}.tif"
        _write_scene(
            path,
            np.ascontiguousarray(part),
            crs,
            transform @ Affine.translation(k * width, 0),
            descriptions,
        )
        written.append(path)

    world = [
        shapely.affinity.affine_transform(
            p, [transform.a, transform.b, transform.d, transform.e, transform.c, transform.f]
        )
        for p in rendered["polygons"]
    ]
    rng = np.random.default_rng([seed, zlib.crc32(site.encode()), 1])
    for i in rng.choice(len(world), size=int(settings.get("invalid_polygons", 0)), replace=False):
        # A self-intersecting "bow-tie" outline over the same landslide, as digitizing errors make.
        minx, miny, maxx, maxy = world[i].bounds
        world[i] = shapely.Polygon([(minx, miny), (maxx, maxy), (maxx, miny), (minx, maxy)])
    gdf = gpd.GeoDataFrame(
        {"landslide_id": np.arange(1, len(world) + 1), "source": "synthetic (hrgldd sample)"},
        geometry=world,
        crs=crs,
    )
    target_crs = settings.get("inventory_crs")
    if target_crs:
        gdf = gdf.to_crs(target_crs)
    inventory = out / event.inventory
    inventory.parent.mkdir(parents=True, exist_ok=True)
    if inventory.exists():
        inventory.unlink()
    gdf.to_file(inventory, driver="GPKG", engine="pyogrio")
    written.append(inventory)
    return written


def generate_sample(
    out: str | Path, *, seed: int = 0, sites: list[str] | None = None
) -> list[Path]:
    """Write the sample scenes and inventories of all (or the given) events below ``out``."""
    out = Path(out)
    written = []
    for site in sites or list(load_sites()):
        written += write_site(site, out, seed)
    (out / "README.txt").write_text(
        "SYNTHETIC sample data generated by `hrgldd sample` (builders/sample/generate.py).\n"
        "Scenes and inventories imitate the ten HR-GLDD events; they are not real observations.\n"
    )
    return written
