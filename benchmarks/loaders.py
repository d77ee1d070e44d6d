"""Loader throughput: shuffled batches of 32 through TorchGeo and tfds.load, against a memmap.

Run ``python -m benchmarks.loaders [--release DIR] [--epochs N]``. Without ``--release`` the
sample release is built into a temporary folder first. The reference is a NumPy memmap of the
same train patches read in the same run; every figure is also given as a ratio to it.

* cold: the first epoch through a freshly created loader (opening the release, decoding it,
  filling TFDS's pipeline). The OS page cache is not dropped (that needs root and disturbs
  other work on the machine), so cold means "cold loader", not "cold disk".
* warm: the mean of the following epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

BATCH = 32


def _epochs(make: Callable[[], Iterable], epochs: int) -> tuple[float, float, int]:
    """Seconds of the first epoch, mean seconds of the others, patches per epoch."""
    loader = make()
    times, count = [], 0
    for epoch in range(epochs):
        start, n = time.perf_counter(), 0
        for batch in loader:
            n += len(batch[0]) if isinstance(batch, tuple) else len(batch["image"])
        times.append(time.perf_counter() - start)
        count = n
    return times[0], float(np.mean(times[1:])), count


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
    """The HRGLDD dataset in a shuffled DataLoader: default_collate, or HRGLDD.collate (datamodule)."""
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


def tfds_loader(release: Path, data_dir: Path) -> tuple[Callable[[], Iterable], float]:
    import tensorflow_datasets as tfds

    import hrgldd_data.tfds.hr_gldd  # noqa: F401 - registers the builder
    from hrgldd_data.archive import open_archive

    opened = open_archive(release)
    name = "hr_gldd/sample" if opened.name == "hr_gldd_sample" else "hr_gldd"
    builder = tfds.builder(f"{name}:{opened.version}", data_dir=data_dir)
    start = time.perf_counter()
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(release))
    )
    build_s = time.perf_counter() - start

    def make():
        ds = builder.as_dataset(split="train", shuffle_files=True)
        ds = ds.shuffle(2048, reshuffle_each_iteration=True).batch(BATCH)
        return tfds.as_numpy(ds)

    return make, build_s


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--release", type=Path, help="release directory (default: build the sample)"
    )
    parser.add_argument("--epochs", type=int, default=12, help="epochs per loader (first = cold)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for TorchGeo")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads in this process"
    )
    parser.add_argument("--skip-tfds", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import torch

    # One intra-op thread, as in DataLoader workers: on a shared machine torch's default thread
    # pool made each torch.stack of a batch 100x slower (192 ms instead of 1.8 ms, measured).
    torch.set_num_threads(args.threads)

    from hrgldd_data.archive import open_archive

    with tempfile.TemporaryDirectory(prefix="hrgldd-bench-") as tmp:
        tmp = Path(tmp)
        release = args.release
        if release is None:
            from builders.sample import ensure_sample_release

            release = ensure_sample_release(tmp / "releases")
        opened = open_archive(release)
        images, masks = opened.read(opened.indices("train"))
        rows = {"memmap": _epochs(memmap_loader(tmp, images, masks), args.epochs)}
        rows["torchgeo"] = _epochs(
            torchgeo_loader(release, args.workers, own_collate=False), args.epochs
        )
        rows["torchgeo_dm"] = _epochs(
            torchgeo_loader(release, args.workers, own_collate=True), args.epochs
        )
        build_s = None
        if not args.skip_tfds:
            make, build_s = tfds_loader(release, tmp / "tfds")
            rows["tfds.load"] = _epochs(make, args.epochs)

    reference = rows["memmap"][2] / rows["memmap"][1]
    result = {
        "release": f"{opened.name} {opened.version}",
        "patches_per_epoch": rows["memmap"][2],
        "batch": BATCH,
        "epochs": args.epochs,
        "torchgeo_workers": args.workers,
        "torch_threads": args.threads,
        "tfds_build_s": build_s,
        "loaders": {},
    }
    print(
        f"{result['release']}: train split, {rows['memmap'][2]} patches, batches of {BATCH}, {args.epochs} epochs"
    )
    print(f"{'loader':<13}{'cold p/s':>12}{'warm p/s':>12}{'cold/ref':>10}{'warm/ref':>10}")
    for name, (cold_s, warm_s, n) in rows.items():
        cold, warm = n / cold_s, n / warm_s
        result["loaders"][name] = {
            "cold_patches_s": round(cold, 1),
            "warm_patches_s": round(warm, 1),
            "cold_ratio": round(cold / reference, 3),
            "warm_ratio": round(warm / reference, 3),
        }
        print(
            f"{name:<13}{cold:>12.0f}{warm:>12.0f}{cold / reference:>10.2f}{warm / reference:>10.2f}"
        )
    print(
        "ref = memmap warm; torchgeo = default_collate, torchgeo_dm = HRGLDD.collate (the datamodule's)."
        " Goal: torchgeo warm/ref >= 0.5."
        + (f" TFDS build took {build_s:.1f} s." if build_s else "")
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
