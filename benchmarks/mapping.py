"""Rapid-mapping throughput and peak memory, as ratios against references run in the same command.

One generated 3 m scene (4-band uint16, tiled, a tilted PlanetScope-like footprint with nodata
corners, scattered scars) and one model (a U-Net with 16 filters trained here for a few epochs on
synthetic patches) serve every leg; each leg runs in its own subprocess, so its peak resident
memory (ru_maxrss) is its own. Pipeline and floor run twice, alternating, and keep their faster
run (the machine may be shared):

- ``pipeline``: ``mapping.map_scene`` end to end (read, predict, blend, probability and mask
  COGs, polygons, summary) at the default stride 64;
- ``floor``: the model-only floor: the same forward passes (``MappingModel.predict``, same
  batches) on the same windows, already cut, normalized and in memory;
- ``torchgeo``: what a user would write with TorchGeo: ``RasterDataset`` + ``GridGeoSampler``
  (same window and stride) + ``DataLoader`` (``stack_samples``), the plain model in eval mode
  under ``torch.no_grad``, naive averaging of the overlaps into in-memory arrays, one GeoTIFF;
- ``large``: ``map_scene`` on a 16,000 x 16,000 scene (a tilted strip, about 25 % valid, stride
  128 to fit a few minutes on two cores) for the peak memory.

``--model-free`` also runs pipeline, floor and TorchGeo with the U-Net replaced by a 1x1
convolution (same inputs and outputs, almost no arithmetic): what is left is each pipeline's own
cost (reading, windowing, normalizing, blending, writing). On this CPU both full pipelines are
bound by the U-Net's forward passes, so their ratio says little about the pipelines; the
model-free ratio is the one an accelerator, where forward passes are cheap, approaches.

    python -m benchmarks.mapping [--size 2048] [--large 16000] [--model-free] [--device cuda]
                                 [--workdir data/bench_mapping]

Goals (issue 11): pipeline / floor >= 0.7; TorchGeo time / pipeline time >= 3; peak memory of
the 16,000 x 16,000 map <= 2 GB. Also reports km2/s of 3 m imagery.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

STRIDE = 64
BATCH = 32
FILTERS = 16
#: Mean reflectance of the generated scene's vegetation and landslide scars (B, G, R, NIR).
VEGETATION = np.array([500, 800, 600, 3500])
SCAR = np.array([1500, 1700, 1800, 1900])


# -- inputs ---------------------------------------------------------------------------------------
def make_scene(path: Path, size: int, *, valid_fraction: float = 0.7, seed: int = 0) -> Path:
    """A size x size 4-band uint16 scene (B,G,R,NIR, 3 m, UTM): vegetation with scars inside a
    tilted footprint (nodata 0 outside), tiled 512 and DEFLATE-compressed as delivered."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    marker = path.with_suffix(".done")
    if marker.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vegetation, scar = VEGETATION[:, None, None], SCAR[:, None, None]
    base = np.clip(rng.normal(vegetation, 150, (4, 512, 512 + 64)), 1, 65535).astype(np.uint16)
    scar_tile = np.clip(rng.normal(scar, 150, (4, 512, 512)), 1, 65535).astype(np.uint16)
    yy, xx = np.mgrid[:512, :512]
    # the footprint: a strip tilted by 12 degrees whose width gives the valid fraction
    angle = np.deg2rad(12)
    half_width = valid_fraction * size / 2 / np.cos(angle)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:32643",
        "transform": Affine(3.0, 0, 600_000.0, 0, -3.0, 2_000_000.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "zlevel": 1,
        "predictor": 2,
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            h = min(512, size - row)
            for col in range(0, size, 512):
                w = min(512, size - col)
                shift = int(rng.integers(0, 64))
                tile = base[:, :h, shift : shift + w].copy()
                # scars: a few ellipses per tile
                for _ in range(int(rng.integers(0, 4))):
                    cy, cx = rng.integers(0, 512, 2)
                    ry, rx = rng.integers(5, 40, 2)
                    inside = ((yy[:h, :w] - cy) / ry) ** 2 + ((xx[:h, :w] - cx) / rx) ** 2 <= 1
                    tile[:, inside] = scar_tile[:, :h, :w][:, inside]
                y = yy[:h, :w] + row - size / 2
                x = xx[:h, :w] + col - size / 2
                outside = np.abs(x * np.cos(angle) + y * np.sin(angle)) > half_width
                tile[:, outside] = 0
                dst.write(tile, window=Window(col, row, w, h))
    marker.touch()
    return path


def train_model(folder: Path, seed: int = 0) -> Path:
    """A U-Net trained for a few epochs on synthetic patches with the scene's spectra."""
    if (folder / "model.safetensors").is_file():
        return folder
    import torch

    from baselines.train import TrainConfig
    from baselines.train import train_model as train
    from hrgldd_data.archive import open_archive
    from hrgldd_data.writer import ReleaseWriter

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    n = 80
    yy, xx = np.mgrid[:128, :128]
    images = np.empty((n, 4, 128, 128), np.uint16)
    masks = np.empty((n, 128, 128), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(20, 108, 2)
        ry, rx = rng.integers(6, 30, 2)
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        veg, scar = np.array([600, 800, 500, 3500]), np.array([1800, 1700, 1500, 1900])
        image = np.where(mask, scar[:, None, None], veg[:, None, None])
        images[i] = np.clip(image + rng.normal(0, 120, image.shape), 1, 65535)
        masks[i] = mask
    with ReleaseWriter(folder.parent / "release", "bench", "1.0.0") as writer:
        minus = np.full(n, -1)
        writer.append(images, masks, site=np.zeros(n), scene=minus, row=minus, col=minus)
        release = writer.finish(
            np.repeat([0, 1, 2], [60, 10, 10]),
            {"sites": [{"id": "bench", "role": "train"}], "scenes": []},
        )
    config = TrainConfig(model="unet", filters=FILTERS, epochs=8, lr=3e-4, device="cpu")
    train(open_archive(release), config, workdir=folder, progress=False)
    return folder


# -- legs (each in its own process) ---------------------------------------------------------------
def cheap_network(model: Path):
    """A 1x1 convolution standing in for the U-Net (``--model-free``): same input and output
    shapes, channels-last as ``load_model`` leaves the U-Net, almost no arithmetic.

    It is a spectral scar detector: it projects the normalized R,G,B,NIR input (the model's own
    normalization) onto the direction from the scene's vegetation to its scars, with the
    decision boundary midway and logits of +-8 at the two spectra, so the mask and polygons it
    leads to resemble the U-Net's. Random weights would mark half the scene, and the benchmark
    would time polygonizing noise instead of the pipeline.
    """
    import torch

    from hrgldd_data.transforms import Normalization

    config = json.loads((model / "config.json").read_text())["data"]["normalization"]
    spectra = np.stack([VEGETATION, SCAR])[:, [2, 1, 0, 3], None, None]  # -> R, G, B, NIR
    vegetation, scar = Normalization.from_config(config)(spectra.astype(np.float32))[:, :, 0, 0]
    direction = (scar - vegetation).astype(np.float64)
    gain = 16.0 / float(direction @ direction)  # logit(scar) - logit(vegetation) = 16
    network = torch.nn.Conv2d(4, 1, kernel_size=1)
    with torch.no_grad():
        network.weight.copy_(torch.from_numpy(gain * direction).float().reshape(1, 4, 1, 1))
        network.bias.fill_(-gain * float(direction @ (scar + vegetation)) / 2)
    return network.to(memory_format=torch.channels_last).eval()


def leg_pipeline(
    scene: Path, model: Path, out: Path, stride: int, free: bool = False, device: str = "cpu"
) -> dict:
    from mapping import map_scene
    from mapping.model import load_model

    loaded = load_model(model, device=device)
    if free:
        loaded.network = cheap_network(model).to(loaded.device)
    start = time.perf_counter()
    result = map_scene(
        scene, loaded, out, stride=stride, batch_size=BATCH, overwrite=True, progress=False
    )
    seconds = time.perf_counter() - start
    scene_summary = result.summary["scenes"][0]
    return {
        "seconds": seconds,
        "windows": scene_summary["windows_predicted"],
        "area_km2": _scene_area_km2(scene),
        "valid_km2": scene_summary["area_mapped_km2"],
        "landslides": result.summary["landslides"],
    }


def leg_floor(
    scene: Path, model: Path, stride: int, free: bool = False, device: str = "cpu"
) -> dict:
    """The same windows as the pipeline (same grid, same nodata skipping), in memory."""
    import rasterio

    from mapping.infer import Grid
    from mapping.model import load_model
    from mapping.scene import open_scene, read_region

    loaded = load_model(model, device=device)
    if free:
        loaded.network = cheap_network(model).to(loaded.device)
    opened = open_scene(scene, loaded)
    grid = Grid(opened.height, opened.width, stride)
    m = grid.margin
    with rasterio.open(scene) as src:
        data, valid, _ = read_region(
            src, opened, loaded, -m, -m, opened.height + 2 * 128, opened.width + 2 * 128
        )
    ny, nx = grid.n_windows
    origins = [
        (k * stride, j * stride)
        for k in range(ny)
        for j in range(nx)
        if valid[k * stride : k * stride + 128, j * stride : j * stride + 128].any()
    ]
    windows = np.stack([data[:, y : y + 128, x : x + 128] for y, x in origins])
    del data
    loaded.predict(windows[:BATCH], BATCH)  # warm-up, as the pipeline's first batch is
    start = time.perf_counter()
    for i in range(0, len(windows), BATCH):
        loaded.predict(windows[i : i + BATCH], BATCH)
    return {"seconds": time.perf_counter() - start, "windows": len(windows)}


def leg_torchgeo(
    scene: Path, model: Path, out: Path, stride: int, free: bool = False, device: str = "cpu"
) -> dict:
    import rasterio
    import torch
    from torch.utils.data import DataLoader
    from torchgeo.datasets import RasterDataset, stack_samples
    from torchgeo.samplers import GridGeoSampler

    from baselines.train import load_weights
    from hrgldd_data.transforms import Normalization

    config = json.loads((model / "config.json").read_text())["data"]["normalization"]
    normalize = Normalization.from_config(config)  # the model's own, as a careful user would
    network = (cheap_network(model) if free else load_weights(model)).to(device)

    class Scene(RasterDataset):
        filename_glob = scene.name
        is_image = True

    start = time.perf_counter()
    dataset = Scene(paths=str(scene.parent))
    sampler = GridGeoSampler(dataset, size=128, stride=stride)
    loader = DataLoader(dataset, sampler=sampler, batch_size=BATCH, collate_fn=stack_samples)
    with rasterio.open(scene) as src:
        profile, transform = src.profile, src.transform
    sums = np.zeros((profile["height"], profile["width"]), np.float32)
    counts = np.zeros_like(sums)
    windows = 0
    with torch.no_grad():
        for batch in loader:
            x = normalize(batch["image"][:, [2, 1, 0, 3]].float())  # B,G,R,NIR -> R,G,B,NIR
            probs = torch.sigmoid(network(x.to(device)))[:, 0].cpu().numpy()
            for bounds, p in zip(batch["bounds"], probs, strict=True):
                col = round((bounds[0].start - transform.c) / transform.a)
                row = round((transform.f - bounds[1].stop) / -transform.e)
                h, w = sums[row : row + 128, col : col + 128].shape
                sums[row : row + h, col : col + w] += p[:h, :w]
                counts[row : row + h, col : col + w] += 1
            windows += len(probs)
    probability = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    out.mkdir(parents=True, exist_ok=True)
    profile |= {"count": 1, "dtype": "float32", "nodata": None}
    with rasterio.open(out / "torchgeo_probability.tif", "w", **profile) as dst:
        dst.write(probability, 1)
    return {"seconds": time.perf_counter() - start, "windows": windows}


def _scene_area_km2(scene: Path) -> float:
    import rasterio

    with rasterio.open(scene) as src:
        return src.width * src.height * abs(src.transform.a * src.transform.e) / 1e6


def _run_leg(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.mapping", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"leg {args[:2]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="side of the ratio scene (px)")
    parser.add_argument("--large", type=int, default=16000, help="side of the memory scene")
    parser.add_argument("--workdir", type=Path, default=Path("data/bench_mapping"))
    parser.add_argument("--leg", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scene", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--stride", type=int, default=STRIDE, help=argparse.SUPPRESS)
    parser.add_argument(
        "--model-free",
        action="store_true",
        help="also time the three legs with a 1x1 convolution instead of the U-Net",
    )
    parser.add_argument("--free", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--device", default="cpu", help="torch device of every leg (cpu, cuda; as hrgldd map)"
    )
    args = parser.parse_args()
    work = args.workdir
    model = work / "model"

    if args.leg:
        free = args.free
        if args.leg == "pipeline":
            out = work / f"out-{args.scene.stem}{'-free' if free else ''}"
            result = leg_pipeline(args.scene, model, out, args.stride, free, args.device)
        elif args.leg == "floor":
            result = leg_floor(args.scene, model, args.stride, free, args.device)
        else:
            out = work / "out-torchgeo"
            result = leg_torchgeo(args.scene, model, out, args.stride, free, args.device)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    scene = make_scene(work / f"scene-{args.size}.tif", args.size)
    train_model(model)
    common = ["--workdir", str(work), "--scene", str(scene), "--stride", str(STRIDE)]
    common += ["--device", args.device]
    # pipeline and floor alternate twice and keep their faster run: the machine is shared
    runs: dict[str, list[dict]] = {"pipeline": [], "floor": []}
    for _ in range(2):
        for leg in runs:
            runs[leg].append(_run_leg(["--leg", leg, *common]))
    legs = {leg: min(found, key=lambda r: r["seconds"]) for leg, found in runs.items()}
    legs["torchgeo"] = _run_leg(["--leg", "torchgeo", *common])
    report = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "scene": f"{args.size} x {args.size} px, 3 m, {legs['pipeline']['area_km2']:.1f} km2",
        "model": f"U-Net, {FILTERS} filters, stride {STRIDE}, batch {BATCH}",
        "device": args.device,
        "legs": legs,
        "all_seconds": {leg: [round(r["seconds"], 2) for r in rs] for leg, rs in runs.items()},
        "pipeline_vs_floor": legs["floor"]["seconds"] / legs["pipeline"]["seconds"],
        "speedup_vs_torchgeo": legs["torchgeo"]["seconds"] / legs["pipeline"]["seconds"],
        "km2_per_s": legs["pipeline"]["area_km2"] / legs["pipeline"]["seconds"],
    }
    if args.model_free:
        free_runs: dict[str, list[dict]] = {"pipeline": [], "floor": [], "torchgeo": []}
        for _ in range(2):
            for leg in free_runs:
                free_runs[leg].append(_run_leg(["--leg", leg, "--free", *common]))
        free = {leg: min(found, key=lambda r: r["seconds"]) for leg, found in free_runs.items()}
        report["model_free"] = {
            "legs": free,
            "all_seconds": {
                leg: [round(r["seconds"], 2) for r in rs] for leg, rs in free_runs.items()
            },
            "speedup_vs_torchgeo": free["torchgeo"]["seconds"] / free["pipeline"]["seconds"],
            "forward_share": {  # share of each full pipeline's time spent in the U-Net
                "pipeline": 1 - free["pipeline"]["seconds"] / legs["pipeline"]["seconds"],
                "torchgeo": 1 - free["torchgeo"]["seconds"] / legs["torchgeo"]["seconds"],
            },
        }
    if args.large:
        big = make_scene(work / f"scene-{args.large}.tif", args.large, valid_fraction=0.25, seed=1)
        report["large"] = _run_leg(
            ["--leg", "pipeline", "--workdir", str(work), "--scene", str(big), "--stride", "128"]
            + ["--device", args.device]
        )
    print(json.dumps(report, indent=2))
    print(
        f"pipeline / model-only floor: {report['pipeline_vs_floor']:.2f} (goal >= 0.7)\n"
        f"TorchGeo time / pipeline time: {report['speedup_vs_torchgeo']:.2f}x (goal >= 3)\n"
        f"throughput: {report['km2_per_s']:.2f} km2/s of 3 m imagery "
        f"({legs['pipeline']['windows']} windows in {legs['pipeline']['seconds']:.1f} s)"
    )
    if "model_free" in report:
        free = report["model_free"]
        print(
            f"model-free (1x1 convolution instead of the U-Net): pipeline "
            f"{free['legs']['pipeline']['seconds']:.2f} s, floor "
            f"{free['legs']['floor']['seconds']:.2f} s, TorchGeo "
            f"{free['legs']['torchgeo']['seconds']:.2f} s: TorchGeo time / pipeline time "
            f"{free['speedup_vs_torchgeo']:.2f}x; the U-Net's share of the full time: "
            f"{free['forward_share']['pipeline']:.0%} (pipeline), "
            f"{free['forward_share']['torchgeo']:.0%} (TorchGeo)"
        )
    if "large" in report:
        large = report["large"]
        print(
            f"{args.large} x {args.large} scene: peak RSS {large['peak_rss_mb']:.0f} MB "
            f"(goal <= 2048), {large['seconds']:.0f} s, {large['windows']} windows"
        )


if __name__ == "__main__":
    main()
