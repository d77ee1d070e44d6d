"""What integrity by default costs: opening a release verified vs unverified, first and later.

Run ``python -m benchmarks.verification [--release DIR] [--patches N] [--repeat R]``. Without
``--release`` a synthetic release of HR-GLDD size (1,758 patches, ~200 MB) is written into a
temporary folder first. Every figure is given as a ratio to an unverified open
(``open_archive(path, verify=False)``: manifest, metadata and the per-patch table) in the same
run, and beside it the time to decode every patch (``Release.load()``), which is what a training
run does next.

* first: the first verified open, with an empty user cache: every file is hashed (sha256).
* later: the next opens, which find every file remembered and unchanged (sizes and times only).
* full: ``verify="full"`` (``hrgldd verify``, TorchGeo ``checksum=True``): re-hash everything.

The OS page cache is not dropped (that needs root); the release was just written or read, so
"first" measures hashing, not the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

HR_GLDD_PATCHES = 1758


def write_release(root: Path, n: int, seed: int = 0) -> Path:
    """A synthetic release of ``n`` patches (smooth fields plus noise, as real scenes compress)."""
    from hrgldd_data.schema import PATCH_SIZE, SPLIT_CODES
    from hrgldd_data.writer import ReleaseWriter

    rng = np.random.default_rng(seed)
    sites = [{"id": f"site_{k}", "role": "train", "trigger": "rainfall"} for k in range(8)]
    yy, xx = np.mgrid[:PATCH_SIZE, :PATCH_SIZE] / PATCH_SIZE
    with ReleaseWriter(root, "hr_gldd_bench", "1.0.0") as writer:
        for start in range(0, n, 128):
            k = min(128, n - start)
            phase = rng.uniform(0, 6.28, (k, 4, 1, 1))
            field = 1500 + 800 * np.sin(6 * yy + phase) * np.cos(5 * xx + phase)
            images = (field + rng.normal(0, 60, (k, 4, PATCH_SIZE, PATCH_SIZE))).clip(1, 65535)
            masks = rng.random((k, PATCH_SIZE, PATCH_SIZE)) < 0.1
            site = (np.arange(start, start + k) % len(sites)).astype(np.int16)
            writer.append(
                images.astype(np.uint16),
                masks,
                site=site,
                scene=np.full(k, -1),
                row=np.full(k, -1),
                col=np.full(k, -1),
            )
        split = rng.choice([SPLIT_CODES["train"], SPLIT_CODES["val"], SPLIT_CODES["test"]], n)
        return writer.finish(split, {"sites": sites, "scenes": [], "synthetic": True})


def _timed(func, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, help="release directory (default: synthetic)")
    parser.add_argument("--patches", type=int, default=HR_GLDD_PATCHES)
    parser.add_argument("--repeat", type=int, default=5, help="opens per figure (median)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hrgldd-bench-verify-") as tmp:
        tmp = Path(tmp)
        os.environ["HRGLDD_CACHE"] = str(tmp / "cache-warmup")
        from hrgldd_data.archive import open_archive

        release = args.release or write_release(tmp / "releases", args.patches)
        size = sum(p.stat().st_size for p in release.rglob("*") if p.is_file())
        unverified = _timed(lambda: open_archive(release, verify=False), args.repeat)

        def first_open() -> None:  # an empty user cache each time: everything is hashed
            os.environ["HRGLDD_CACHE"] = tempfile.mkdtemp(dir=tmp, prefix="cache-")
            open_archive(release)

        first = _timed(first_open, args.repeat)
        later = _timed(lambda: open_archive(release), args.repeat)
        full = _timed(lambda: open_archive(release, verify="full"), args.repeat)
        load = _timed(lambda: open_archive(release, verify=False).load(), max(1, args.repeat // 2))
        patches = len(open_archive(release, verify=False))

    figures = {"unverified": unverified, "first": first, "later": later, "full": full}
    result = {
        "release": str(args.release or f"synthetic, {patches} patches"),
        "patches": patches,
        "bytes": size,
        "repeat": args.repeat,
        "load_all_s": round(load, 4),
        "opens": {
            name: {
                "seconds": round(seconds, 4),
                "ratio_to_unverified": round(seconds / unverified, 2),
                "share_of_load_all": round(seconds / load, 3),
            }
            for name, seconds in figures.items()
        },
    }
    print(f"{result['release']}: {size / 1e6:.0f} MB, median of {args.repeat} opens each")
    print(f"{'open':<12}{'seconds':>10}{'x unverified':>14}{'/ load all':>12}")
    for name, row in result["opens"].items():
        print(
            f"{name:<12}{row['seconds']:>10.4f}{row['ratio_to_unverified']:>14.2f}"
            f"{row['share_of_load_all']:>12.3f}"
        )
    print(
        f"load all = decode every patch once ({load:.2f} s). first = empty user cache (hash all);"
        " later = remembered; full = verify='full'."
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
