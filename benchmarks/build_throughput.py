"""Build throughput and peak memory on one large generated scene.

Reported as a ratio against a floor measured in the same run: reading the same tiles from the
same GeoTIFF (the builder reads every pixel once, for the valid-pixel footprint behind Table 1's
study area) and writing the same candidate windows' bytes to an identically configured Zarr
array, with no rasterizing, filtering, statistics, checksums or splitting. Each side runs in its own
subprocess so that its peak resident memory (ru_maxrss) is its own.

    python -m benchmarks.build_throughput [--size 16000] [--workdir data/bench]

Goals (issue 2): ratio >= 0.5; peak memory of the build <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EVENT = "bench_site"


def make_scene(workdir: Path, size: int, seed: int = 0) -> Path:
    """A size x size, 4-band uint16 scene (tiled, deflate) plus an inventory of scattered scars."""
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine

    raw = workdir / "raw"
    scene = raw / EVENT / "scene.tif"
    marker = workdir / f"scene-{size}.done"
    if marker.exists():
        return raw
    scene.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    transform = Affine(3.0, 0, 600_000.0, 0, -3.0, 2_000_000.0)
    tile = np.clip(
        rng.normal([[[450]], [[700]], [[450]], [[3400]]], 150, (4, 512, 512 + 64)), 1, 65535
    ).astype(np.uint16)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:32643",
        "transform": transform,
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "zlevel": 1,
        "predictor": 2,
        "BIGTIFF": "YES",
    }
    with rasterio.open(scene, "w", **profile) as dst:
        for row in range(0, size, 512):
            h = min(512, size - row)
            for col in range(0, size, 512):
                w = min(512, size - col)
                shift = int(rng.integers(0, 64))
                dst.write(
                    tile[:, :h, shift : shift + w], window=rasterio.windows.Window(col, row, w, h)
                )
    n = size * size // 80_000  # about one scar per 9 windows
    xs = rng.uniform(0, size * 3.0, n) + transform.c
    ys = transform.f - rng.uniform(0, size * 3.0, n)
    scars = [
        shapely.Point(x, y).buffer(float(r))
        for x, y, r in zip(xs, ys, rng.uniform(15, 120, n), strict=True)
    ]
    gpd.GeoDataFrame(geometry=scars, crs="EPSG:32643").to_file(
        raw / EVENT / "inventory.gpkg", engine="pyogrio"
    )
    (workdir / f"{EVENT}.toml").write_text(
        f'id = "{EVENT}"\nstudy_area = "bench"\ncountry = "none"\nyear = 2020\n'
        'trigger = "earthquake"\nrole = "train"\n'
        'inventory_source = "generated"\ncitation = "generated"\n'
        f'[imagery]\nscenes = ["{EVENT}/scene.tif"]\n[inventory]\npath = "{EVENT}/inventory.gpkg"\n'
    )
    (workdir / "release.toml").write_text(
        f'name = "bench"\nversion = "1.0.0"\nevents = ["{EVENT}.toml"]\n'
    )
    marker.touch()
    return raw


def run_floor(workdir: Path) -> dict:
    """Read the tiles the builder reads and write the candidate windows to Zarr: nothing else."""
    import shutil

    import rasterio
    import zarr
    from rasterio.windows import Window
    from zarr.codecs import BloscCodec

    from builders.build import GDAL_CACHE_BYTES, plan_site
    from builders.spec import load_event

    plan = plan_site(load_event(workdir / f"{EVENT}.toml"), workdir / "raw")
    start = time.perf_counter()
    out = workdir / "floor.zarr"
    shutil.rmtree(out, ignore_errors=True)
    arr = zarr.create_array(
        out,
        shape=(plan.n_candidates, 4, 128, 128),
        dtype="uint16",
        chunks=(1, 4, 128, 128),
        shards=(256, 4, 128, 128),
        compressors=BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle"),
    )
    buffer, written = [], 0
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), rasterio.open(plan.scenes[0].path) as src:
        for task in plan.tasks:
            tile = src.read(
                plan.scenes[0].indexes, window=Window(task.col0, task.row0, task.width, task.height)
            )
            for row, col in zip(task.rows - task.row0, task.cols - task.col0, strict=True):
                buffer.append(tile[:, row : row + 128, col : col + 128])
                if len(buffer) == 256:
                    arr[written : written + 256] = np.stack(buffer)
                    written, buffer = written + 256, []
    if buffer:
        arr[written : written + len(buffer)] = np.stack(buffer)
    return {"seconds": time.perf_counter() - start, "windows": plan.n_candidates}


def run_build(workdir: Path) -> dict:
    import shutil

    from builders.build import build_release, plan_site
    from builders.spec import load_event

    shutil.rmtree(workdir / "out", ignore_errors=True)
    plan = plan_site(
        load_event(workdir / f"{EVENT}.toml"), workdir / "raw"
    )  # same planning cost as the floor
    start = time.perf_counter()
    path = build_release(workdir / "release.toml", workdir / "raw", workdir / "out", progress=False)
    seconds = time.perf_counter() - start
    from hrgldd_data.archive import open_archive

    return {"seconds": seconds, "windows": plan.n_candidates, "patches": len(open_archive(path))}


def _child(kind: str, workdir: Path) -> None:
    result = run_floor(workdir) if kind == "floor" else run_build(workdir)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=16_000)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench"))
    parser.add_argument("--child", choices=["floor", "build"])
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.workdir)
        return
    t = time.perf_counter()
    make_scene(args.workdir, args.size)
    print(f"scene {args.size}x{args.size}x4 ready ({time.perf_counter() - t:.0f} s)")
    scene_mb = args.size * args.size * 4 * 2 / 1e6
    results = {}
    for kind in ("floor", "build", "floor"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.build_throughput",
                "--child",
                kind,
                "--workdir",
                str(args.workdir),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        run = json.loads(out.stdout.strip().splitlines()[-1])
        results.setdefault(kind, []).append(run)
        print(
            f"{kind:>5}: {run['seconds']:.1f} s, {scene_mb / run['seconds']:.0f} MB of scene/s, "
            f"peak RSS {run['peak_rss_mb']:.0f} MB"
        )
    floor = min(r["seconds"] for r in results["floor"])
    build = results["build"][0]
    print(
        json.dumps(
            {
                "scene_mb": round(scene_mb),
                "candidate_windows": build["windows"],
                "patches": build["patches"],
                "build_mb_per_s": round(scene_mb / build["seconds"], 1),
                "floor_mb_per_s": round(scene_mb / floor, 1),
                "ratio_build_to_floor": round(floor / build["seconds"], 3),
                "build_peak_rss_mb": round(build["peak_rss_mb"]),
                "goal": "ratio >= 0.5, peak <= 2048 MB",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
