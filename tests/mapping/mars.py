"""Rapid mapping on real imagery: MMLSv2 Mars tiles mosaicked into one scene.

There is no real post-event PlanetScope scene in the shared data, but MMLSv2 (Paheding et al.,
CVPR 2026 Workshops, MIT) holds real georeferenced 128 x 128 GeoTIFF tiles of Valles Marineris
(7 bands, a Mars equirectangular CRS, 232 m pixels) with expert landslide masks, named
``colXXXXX_rowYYYYY``. This module

1. mosaics a block of neighbouring tiles into one scene with ``rasterio.merge`` (and their masks
   into a reference inventory, polygonized as a GeoPackage in the Mars CRS);
2. writes a release of the *other* tiles (a ring of tiles around the block left out): uint8
   ``red, green, blue`` (MMLSv2 bands 5-7) and ``thermal_inertia`` (band 1), the values as
   delivered (0-255);
3. trains a baseline briefly on it and maps the mosaic with ``hrgldd map`` (``--bands
   red=5,green=6,blue=7,thermal_inertia=1``), scored against the inventory, with the F1 of
   predicting everything as landslide beside it.

The test runs it with a tiny training budget; ``python tests/mapping/mars.py`` with a longer one
gives the figures of the README.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

MARS = Path("realdata/mmlsv2_mars/data/train")
#: A 4 x 4 block of neighbouring tiles (all present): the "post-event scene".
BLOCK_COLS = range(8, 12)
BLOCK_ROWS = range(6, 10)
BANDS = "red=5,green=6,blue=7,thermal_inertia=1"
_TILE = re.compile(r"col(\d+)_row(\d+)\.tif$")


def tiles(shared: Path) -> dict[tuple[int, int], Path]:
    folder = shared / MARS / "images"
    return {
        (int(m.group(1)), int(m.group(2))): p
        for p in sorted(folder.glob("*.tif"))
        if (m := _TILE.search(p.name))
    }


def mosaic_scene(shared: Path, out: Path) -> tuple[Path, Path]:
    """The block's tiles as one 7-band scene, and their masks as a reference inventory."""
    import geopandas as gpd
    import rasterio
    import shapely
    from rasterio.features import shapes
    from rasterio.merge import merge

    index = tiles(shared)
    chosen = [index[(c, r)] for r in BLOCK_ROWS for c in BLOCK_COLS]
    out.mkdir(parents=True, exist_ok=True)
    scene = out / "valles_marineris_mosaic.tif"
    image, transform = merge([str(p) for p in chosen])
    with rasterio.open(chosen[0]) as src:
        profile = src.profile | {
            "width": image.shape[2],
            "height": image.shape[1],
            "transform": transform,
        }
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(image)
    masks = [str(p).replace("/images/", "/masks/") for p in chosen]
    mask, mask_transform = merge(masks)
    assert mask_transform == transform
    polygons = [
        shapely.geometry.shape(g)
        for g, v in shapes(mask[0].astype(np.uint8), transform=transform)
        if v == 1
    ]
    inventory = out / "valles_marineris_masks.gpkg"
    gpd.GeoDataFrame(geometry=polygons, crs=profile["crs"].to_wkt()).to_file(inventory)
    return scene, inventory


def build_release(shared: Path, root: Path, seed: int = 0) -> Path:
    """A release of the tiles outside the block and the ring around it (70/15/15 split)."""
    import rasterio

    from hrgldd_data.sensors import Band, Sensor
    from hrgldd_data.writer import ReleaseWriter

    index = tiles(shared)
    near = {
        (c, r)
        for c in range(BLOCK_COLS.start - 1, BLOCK_COLS.stop + 1)
        for r in range(BLOCK_ROWS.start - 1, BLOCK_ROWS.stop + 1)
    }
    keep = [p for key, p in sorted(index.items()) if key not in near]
    images, masks = [], []
    for path in keep:
        with rasterio.open(path) as src:
            images.append(src.read([5, 6, 7, 1]).astype(np.uint8))  # integer values 0-254
        with rasterio.open(str(path).replace("/images/", "/masks/")) as src:
            masks.append(src.read(1))
    n = len(keep)
    order = np.random.default_rng(seed).permutation(n)
    split = np.zeros(n, np.uint8)
    split[order[int(0.7 * n) : int(0.85 * n)]] = 1
    split[order[int(0.85 * n) :]] = 2
    sensor = Sensor(
        "MMLSv2 Mars (Valles Marineris tiles)",
        232.0,
        "8-bit values as delivered (0-255)",
        (
            Band("red", None, "MMLSv2 band 5 (colour R)"),
            Band("green", None, "MMLSv2 band 6 (colour G)"),
            Band("blue", None, "MMLSv2 band 7 (colour B)"),
            Band("thermal_inertia", None, "MMLSv2 band 1"),
        ),
        "Real orbital imagery of Mars with expert landslide masks (Paheding et al., MIT)",
    )
    with ReleaseWriter(
        root, "mmlsv2_mars_demo", "0.1.0", sensor=sensor, dtype="uint8", shard_patches=64
    ) as writer:
        minus = np.full(n, -1)
        writer.append(
            np.stack(images), np.stack(masks), site=np.zeros(n), scene=minus, row=minus, col=minus
        )
        return writer.finish(
            split,
            {
                "sites": [{"id": "valles_marineris", "role": "train"}],
                "scenes": [],
                "description": "Demo release of MMLSv2 tiles outside the mapped block",
            },
        )


def run(shared: Path, work: Path, *, epochs: int, steps: int | None, model: str, filters: int):
    """Mosaic, release, train, map and score; return the map's summary."""
    from baselines.train import TrainConfig, train_model
    from hrgldd_data.archive import open_archive
    from mapping import map_scene

    scene, inventory = mosaic_scene(shared, work / "scene")
    release = open_archive(build_release(shared, work / "releases"))
    config = TrainConfig(
        model=model,
        filters=filters,
        epochs=epochs,
        patience=epochs,
        batch_size=8,
        steps_per_epoch=steps,
        device="cpu",
    )
    trained = train_model(release, config, workdir=work / "run", progress=steps is None)
    result = map_scene(
        scene,
        work / "run",
        work / "map",
        bands=BANDS,
        inventory=inventory,
        match="iou=0.3",
        overwrite=True,
        progress=False,
    )
    result.summary["training"] = {
        "train_patches": int(release.indices("train").size),
        "best_val": trained.best_val,
        "epochs": trained.epochs_run,
        "seconds": round(trained.seconds, 1),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[3] / "shared")
    parser.add_argument("--work", type=Path, default=Path("data/mars_demo"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--model", default="attn_unet")
    parser.add_argument("--filters", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[2]))
    result = run(
        args.shared,
        args.work,
        epochs=args.epochs,
        steps=None,
        model=args.model,
        filters=args.filters,
    )
    summary = result.summary
    scores = summary["scores"]
    print(
        json.dumps(
            {"training": summary["training"], "pixel": scores["pixel"], "object": scores["object"]},
            indent=2,
        )
    )
    print(f"outputs in {result.out}")


if __name__ == "__main__":
    main()
