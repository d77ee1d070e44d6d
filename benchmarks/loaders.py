"""Loader throughput: shuffled batches of 32 through TorchGeo, tfds.load and Hugging Face
`datasets`, against a NumPy memmap of the same patches read in the same run.

    python -m benchmarks.loaders [--release DIR] [--scale K] [--trials N] [--epochs N]
                                 [--json out.json]

Without ``--release`` a synthetic release of HR-GLDD's size is written first (1,760 patches of
eight dataset sites split 60/20/20, plus two unseen events; shards of 256 patches as the builder
writes them); ``--scale K`` makes every site K times larger, as a release with more events would
be. Every loader reads the train split.

* reference: a NumPy memmap (``.npy``) of the same train patches, converted per batch as the
  TorchGeo dataset converts them (images float32, masks int64).
* cold: the first epoch through a freshly created loader, including opening the release (or the
  prepared dataset) and decoding it; the median of ``--trials`` new loaders. The OS page cache is
  not dropped (that needs root and disturbs other work on the machine), so "cold" means a cold
  loader, not a cold disk.
* warm: the median of ``--epochs`` later epochs.
* prepare: the one-time conversion a loader needs before its first use (TorchGeo: the decoded
  copy in hrgldd's cache, :mod:`hrgldd_data.decoded`; TFDS: TFRecord and ArrayRecord files;
  `datasets`: the Parquet view and its Arrow cache), reported apart. ``torchgeo_decode`` is the
  TorchGeo dataset without the decoded copy: every new loader decodes the shards.
* ``tfrecord_floor``: the TFRecord files ``tfds.load`` reads, read alone (nothing parsed or
  decoded); no ``tfds.load`` epoch can be faster.

Ratios are to the reference's cold and warm epochs respectively. Each loader's epochs alternate
with the reference's (new reference, new loader, ...; then one warm epoch of each in turn), so
that both run under the same load. Goals (issue 12): cold >= 0.5, warm >= 0.8.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 32
#: HR-GLDD's size: 1,758 patches in the eight dataset sites (Meena et al. 2023), plus unseen events.
DATASET_SITES, PER_DATASET_SITE, UNSEEN_SITES, PER_UNSEEN_SITE = 8, 220, 2, 120


def make_hrgldd_sized_release(root: Path, seed: int = 0, scale: int = 1) -> Path:
    """A synthetic release of HR-GLDD's size (times ``scale``) written by the real ReleaseWriter
    (builder shards)."""
    from hrgldd_data.schema import PATCH_SIZE, SPLIT_CODES
    from hrgldd_data.writer import ReleaseWriter

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:PATCH_SIZE, :PATCH_SIZE]
    sites = [(f"site{k}_2020", "train", PER_DATASET_SITE * scale) for k in range(DATASET_SITES)]
    sites += [(f"unseen{k}_2021", "unseen", PER_UNSEEN_SITE * scale) for k in range(UNSEEN_SITES)]
    split, meta, scenes = [], [], []
    with ReleaseWriter(root, "hr_gldd", "1.0.0") as writer:
        for code, (site, role, n) in enumerate(sites):
            centres = rng.integers(20, PATCH_SIZE - 20, (n, 2))
            radii = rng.integers(6, 24, (n, 2))
            masks = (
                ((yy - centres[:, :1, None]) / radii[:, :1, None]) ** 2
                + ((xx - centres[:, 1:, None]) / radii[:, 1:, None]) ** 2
                <= 1
            ).astype(np.uint8)
            veg = np.array([600, 800, 500, 3500], np.float32)[None, :, None, None]
            scar = np.array([1800, 1700, 1500, 1900], np.float32)[None, :, None, None]
            noise = rng.normal(0, 120, (n, 4, PATCH_SIZE, PATCH_SIZE)).astype(np.float32)
            images = np.where(masks[:, None].astype(bool), scar, veg) + noise
            images = np.clip(images, 1, 65535).astype(np.uint16)
            grid = np.arange(n)
            writer.append(
                images,
                masks,
                site=np.full(n, code),
                scene=np.full(n, code),
                row=(grid // 32) * PATCH_SIZE,
                col=(grid % 32) * PATCH_SIZE,
            )
            if role == "unseen":
                split += [SPLIT_CODES["unseen"]] * n
            else:
                n_train, n_val = round(0.6 * n), round(0.2 * n)
                codes = np.array([0] * n_train + [1] * n_val + [2] * (n - n_train - n_val))
                split += rng.permutation(codes).tolist()
            meta.append({"id": site, "role": role, "trigger": "rainfall", "country": "Benchland"})
            scenes.append(
                {
                    "site": site,
                    "path": f"{site}/scene.tif",
                    "crs": "EPSG:32643",
                    "transform": [3.0, 0.0, 500000.0 + 50000 * code, 0.0, -3.0, 1000000.0],
                    "width": 32 * PATCH_SIZE,
                    "height": -(-n // 32) * PATCH_SIZE,
                }
            )
        attrs = {"sites": meta, "scenes": scenes, "synthetic": True, "notes": "Benchmark."}
        return writer.finish(np.array(split), attrs)


def _count(batch: Any) -> int:
    return len(batch["image"]) if isinstance(batch, dict) else len(batch)  # TFRecord: records


def _epoch(loader: Iterable) -> tuple[float, int]:
    start, n = time.perf_counter(), 0
    for batch in loader:
        n += _count(batch)
    return time.perf_counter() - start, n


def _paired(
    reference: Callable[[], Iterable], make: Callable[[], Iterable], epochs: int, trials: int
) -> tuple[tuple[float, float, int], tuple[float, float, int]]:
    """(cold s, warm s, patches) of the reference and of a loader, measured alternately.

    Cold: ``trials`` times a new reference, then a new loader, each created and run for one
    epoch; the medians. Warm: then ``epochs`` more epochs of each, alternating; the medians.
    Alternating puts both under the same machine load (a shared 2-core machine drifts within a
    run, and a heavy step leaves the allocator in a state that slows the next one).
    """
    colds: dict[str, list[float]] = {"ref": [], "loader": []}
    warms: dict[str, list[float]] = {"ref": [], "loader": []}
    loaders: dict[str, Iterable] = {}
    counts: dict[str, int] = {}
    for _ in range(trials):
        for key, factory in (("ref", reference), ("loader", make)):
            start = time.perf_counter()
            loaders[key] = factory()
            _, counts[key] = _epoch(loaders[key])
            colds[key].append(time.perf_counter() - start)
    for _ in range(epochs):
        for key in ("ref", "loader"):
            seconds, _ = _epoch(loaders[key])
            warms[key].append(seconds)
    if counts["ref"] != counts["loader"]:
        raise RuntimeError(f"the loader served {counts['loader']} patches, not {counts['ref']}")
    return tuple(  # type: ignore[return-value]
        (float(np.median(colds[key])), float(np.median(warms[key])), counts[key])
        for key in ("ref", "loader")
    )


def memmap_loader(
    folder: Path, images: np.ndarray, masks: np.ndarray, seed: int = 0
) -> Callable[[], Iterable]:
    """Shuffled batches from .npy memmaps, converted as the TorchGeo dataset converts them."""
    import torch

    np.save(folder / "images.npy", images)
    np.save(folder / "masks.npy", masks)

    def make():
        x = np.load(folder / "images.npy", mmap_mode="r")
        y = np.load(folder / "masks.npy", mmap_mode="r")
        rng = np.random.default_rng(seed)

        class Epochs:
            def __iter__(self):
                order = rng.permutation(x.shape[0])
                for start in range(0, order.size, BATCH):
                    idx = np.sort(order[start : start + BATCH])
                    yield {
                        "image": torch.from_numpy(x[idx].astype(np.float32)),
                        "mask": torch.from_numpy(y[idx].astype(np.int64)),
                    }

        return Epochs()

    return make


def torchgeo_loader(release: Path, workers: int, own_collate: bool) -> Callable[[], Iterable]:
    """HRGLDD in a shuffled DataLoader: default_collate, or HRGLDD.collate (the datamodule's)."""
    from torch.utils.data import DataLoader, default_collate

    from hrgldd_data.torchgeo import HRGLDD

    def make():
        dataset = HRGLDD(release, split="train")
        return DataLoader(
            dataset,
            batch_size=BATCH,
            shuffle=True,
            num_workers=workers,
            persistent_workers=workers > 0,
            collate_fn=HRGLDD.collate if own_collate else default_collate,
        )

    return make


def _tfds_name(release: Path) -> str:
    """The TFDS name of a release: ``hr_gldd[/sample]:<version>``."""
    from hrgldd_data.archive import open_archive

    opened = open_archive(release)
    config = "hr_gldd/sample" if opened.name == "hr_gldd_sample" else "hr_gldd"
    return f"{config}:{opened.version}"


def tfds_loader(release: Path, data_dir: Path) -> tuple[Callable[[], Iterable], float]:
    """``tfds.load`` as TFDS's performance guide has it: cache, shuffle, batch, prefetch."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    import hrgldd_data.tfds.hr_gldd  # noqa: F401 - registers the builder

    name = _tfds_name(release)
    config = tfds.download.DownloadConfig(manual_dir=str(release))
    start = time.perf_counter()
    tfds.builder(name, data_dir=data_dir).download_and_prepare(download_config=config)
    prepare_s = time.perf_counter() - start

    def make():
        ds = tfds.load(
            name,
            split="train",
            data_dir=data_dir,
            shuffle_files=True,
            download=False,
        )
        ds = ds.map(lambda ex: {"image": ex["image"], "mask": ex["mask"]}).cache()
        ds = ds.shuffle(1024, reshuffle_each_iteration=True).batch(BATCH)
        return tfds.as_numpy(ds.prefetch(tf.data.AUTOTUNE))

    return make, prepare_s


def tfrecord_floor(release: Path, data_dir: Path) -> Callable[[], Iterable]:
    """The train split's TFRecord files read in batches of serialized records, nothing parsed
    or decoded: what any ``tfds.load`` epoch costs at least (run after :func:`tfds_loader`)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    files = tfds.builder(_tfds_name(release), data_dir=data_dir).info.splits["train"]
    paths = [str(path) for path in files.filepaths]

    def make():
        return tfds.as_numpy(tf.data.TFRecordDataset(paths).batch(BATCH))

    return make


def datasets_loader(
    release: Path, folder: Path, seed: int = 0
) -> tuple[Callable[[], Iterable], float]:
    """Hugging Face ``datasets`` on the Parquet view: NumPy format (float32), shuffled batches.

    Batches are read with ``dataset[indices]`` (one formatting call per batch; a torch DataLoader
    over ``with_format("torch")`` formats row by row and was slower, 0.4-0.7k patches/s here).
    """
    import datasets
    import torch

    from hrgldd_data.parquet import main as write_view

    start = time.perf_counter()
    write_view([str(release), "--out", str(folder / "view")])
    datasets.load_dataset(str(folder / "view"), split="train", cache_dir=str(folder / "cache"))
    prepare_s = time.perf_counter() - start

    def make():
        train = datasets.load_dataset(
            str(folder / "view"), split="train", cache_dir=str(folder / "cache")
        )
        train = train.with_format("numpy", columns=["image", "mask"], dtype=np.float32)
        rng = np.random.default_rng(seed)

        class Epochs:
            def __iter__(self):
                order = rng.permutation(len(train))
                for start in range(0, order.size, BATCH):
                    batch = train[np.sort(order[start : start + BATCH]).tolist()]
                    yield {
                        "image": torch.from_numpy(batch["image"]),
                        "mask": torch.from_numpy(batch["mask"].astype(np.int64)),
                    }

        return Epochs()

    return make, prepare_s


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, help="release directory (default: generate one)")
    parser.add_argument(
        "--scale", type=int, default=1, help="generated release: K times HR-GLDD's size"
    )
    parser.add_argument(
        "--trials", type=int, default=3, help="new loaders per loader (their first epochs: cold)"
    )
    parser.add_argument("--epochs", type=int, default=6, help="later epochs per loader (warm)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for TorchGeo")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads in this process"
    )
    parser.add_argument("--skip", nargs="*", default=[], help="loaders to leave out")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.epochs < 1:
        parser.error("--trials and --epochs must be at least 1 (medians of what was run)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_UPDATE_DOWNLOAD_COUNTS", "0")
    cache = tempfile.TemporaryDirectory(prefix="hrgldd-bench-cache-")
    os.environ["HRGLDD_CACHE"] = cache.name  # the decoded copy goes here, not the user's cache
    import torch

    # One intra-op thread, as in DataLoader workers: on a shared machine torch's default thread
    # pool made each torch.stack of a batch 100x slower (192 ms instead of 1.8 ms, measured).
    torch.set_num_threads(args.threads)

    from hrgldd_data.archive import open_archive

    with tempfile.TemporaryDirectory(prefix="hrgldd-bench-") as tmp:
        tmp = Path(tmp)
        release = args.release
        if release is None:
            start = time.perf_counter()
            release = make_hrgldd_sized_release(tmp / "releases", scale=args.scale)
            print(f"wrote a synthetic HR-GLDD-sized release in {time.perf_counter() - start:.0f} s")
        opened = open_archive(release)
        images, masks = opened.read(opened.indices("train"))
        reference = memmap_loader(tmp, images, masks)
        rows: dict[str, tuple[tuple[float, float, int], tuple[float, float, int]]] = {}
        prepare: dict[str, float] = {}

        def measure(name: str, make: Callable[[], Iterable]) -> None:
            rows[name] = _paired(reference, make, args.epochs, args.trials)

        if "torchgeo" not in args.skip:
            from hrgldd_data.decoded import ENV, decoded_arrays

            os.environ[ENV] = "0"  # decoding the shards in every new loader
            measure("torchgeo_decode", torchgeo_loader(release, args.workers, own_collate=True))
            os.environ[ENV] = "1"
            start = time.perf_counter()
            decoded_arrays(open_archive(release))  # the decoded copy, written once
            prepare["torchgeo"] = time.perf_counter() - start
            measure("torchgeo", torchgeo_loader(release, args.workers, own_collate=False))
            measure("torchgeo_dm", torchgeo_loader(release, args.workers, own_collate=True))
        if "tfds" not in args.skip:
            make, prepare["tfds.load"] = tfds_loader(release, tmp / "tfds")
            measure("tfds.load", make)
            measure("tfrecord_floor", tfrecord_floor(release, tmp / "tfds"))
        if "datasets" not in args.skip:
            make, prepare["datasets"] = datasets_loader(release, tmp / "hf")
            measure("datasets", make)

    result = {
        "release": f"{opened.name} {opened.version} ({len(opened)} patches)",
        "patches_per_epoch": int(images.shape[0]),
        "batch": BATCH,
        "trials": args.trials,
        "epochs": args.epochs,
        "torchgeo_workers": args.workers,
        "torch_threads": args.threads,
        "prepare_s": {k: round(v, 1) for k, v in prepare.items()},
        "loaders": {},
    }
    print(
        f"{result['release']}: train split, {images.shape[0]} patches, batches of {BATCH}, "
        f"{args.trials} new loaders and {args.epochs} later epochs each"
    )
    header = ["loader", "cold p/s", "warm p/s", "ref cold", "ref warm", "cold/ref", "warm/ref"]
    print(f"{header[0]:<16}" + "".join(f"{h:>10}" for h in header[1:]))
    for name, ((ref_cold_s, ref_warm_s, n), (cold_s, warm_s, _)) in rows.items():
        cold, warm, ref_cold, ref_warm = n / cold_s, n / warm_s, n / ref_cold_s, n / ref_warm_s
        figures = {
            "cold_patches_s": round(cold, 1),
            "warm_patches_s": round(warm, 1),
            "memmap_cold_patches_s": round(ref_cold, 1),
            "memmap_warm_patches_s": round(ref_warm, 1),
            "cold_ratio": round(cold / ref_cold, 3),
            "warm_ratio": round(warm / ref_warm, 3),
        }
        result["loaders"][name] = figures
        print(
            f"{name:<16}{cold:>10.0f}{warm:>10.0f}{ref_cold:>10.0f}{ref_warm:>10.0f}"
            f"{figures['cold_ratio']:>10.2f}{figures['warm_ratio']:>10.2f}"
        )
    print(
        "ref = the memmap, alternating with each loader (cold/ref: first epochs of new loaders; "
        "warm/ref: later epochs; medians); torchgeo = default_collate, "
        "torchgeo_dm = HRGLDD.collate (the datamodule's), "
        "both on the decoded copy; torchgeo_decode = HRGLDD_DECODED_CACHE=0 (shards decoded by "
        f"every new loader); tfrecord_floor = the TFRecord files tfds.load reads, read alone. "
        f"One-time preparation (s): {result['prepare_s']}. "
        "Goals: cold/ref >= 0.5, warm/ref >= 0.8."
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    cache.cleanup()
    return result


if __name__ == "__main__":
    main()
