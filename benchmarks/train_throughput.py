"""Training throughput of our PyTorch U-Net against the paper's Keras U-Net, as a ratio.

Both networks are built in the same run from the same description (five levels of two 3×3 conv +
ReLU, 2×2 max-pool, 2×2 upsampling + 2×2 conv, skip concatenation, 1×1 conv + sigmoid; the paper's
notebook), checked to have the same parameter count, and trained on the same random patches with
Dice loss, Adam (lr 1e-3), the same batch size and first-layer filters, and the same CPU threads.
Keras trains in float32 with ``model.fit`` as the notebook does. Ours trains twice: as a plain
float32 port, and as we recommend training it: channels-last tensors and bfloat16 autocast (mixed
precision, float32 weights and loss). The headline ratio is the latter; both are printed. Timed
rounds alternate between the trainers and the median round counts, so that load from other
processes hits all alike.

One thread by default: on a machine shared with other jobs, PyTorch's OpenMP barriers stall when a
core is taken (2 threads ran 5–8× slower than 1 here), which measures the neighbours, not the code.
On dedicated cores pass ``--threads N`` (both frameworks get N intra-op threads).

    python -m benchmarks.train_throughput [--filters 16] [--batch 4] [--steps 10] [--rounds 3]
    python -m benchmarks.train_throughput --data [--release DIR] [--epochs 3]

``--data`` measures the baselines' data path instead: training batches (read, normalized,
augmented) through the public TorchGeo dataset (``baselines.data.ReleaseData``: the release's
memory-mapped decoded copy, one gather per batch, ``hrgldd_data.transforms``) against the path the
baselines had before, run as the reference in the same command: the whole release decoded into
memory by ``Release.load()``, each patch normalized in ``__getitem__``, default collation and a
per-patch augmentation loop. ``cold``: opening the release and the first epoch in a new process'
state; ``warm``: the median of the following epochs. Without ``--release``, a synthetic release of
HR-GLDD's size (``benchmarks.loaders``).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import click
import numpy as np
import torch

from baselines.evaluate import fast_cpu_math
from baselines.losses import criterion_for
from baselines.models import count_parameters, create_model

GOAL = 1.5  # the target: ours at least 1.5× the Keras U-Net's training throughput


def build_keras_unet(in_channels: int = 4, filters: int = 16, size: int = 128):
    """The paper's Keras U-Net (channels last), built from the description of our ``unet``."""
    from tensorflow import keras
    from tensorflow.keras import layers

    def conv_block(x, width: int):
        for _ in range(2):
            x = layers.Conv2D(width, 3, activation="relu", padding="same")(x)
        return x

    widths = [filters * 2**level for level in range(5)]
    inputs = keras.Input((size, size, in_channels))
    x, skips = inputs, []
    for width in widths[:-1]:
        x = conv_block(x, width)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = conv_block(x, widths[-1])
    for width, skip in zip(reversed(widths[:-1]), reversed(skips), strict=True):
        up = layers.Conv2D(width, 2, activation="relu", padding="same")(layers.UpSampling2D(2)(x))
        x = conv_block(layers.concatenate([skip, up], axis=3), width)
    outputs = layers.Conv2D(1, 1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="unet")


def keras_dice_loss(y_true, y_pred, smooth: float = 1.0):
    """The paper's ``dice_coef_loss``: Dice over the flattened batch."""
    from tensorflow.keras import backend as K

    y_true_f, y_pred_f = K.flatten(y_true), K.flatten(y_pred)
    intersection = K.sum(y_true_f * y_pred_f)
    return 1 - (2.0 * intersection + smooth) / (K.sum(y_true_f) + K.sum(y_pred_f) + smooth)


def _random_patches(
    n: int, size: int, in_channels: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, in_channels, size, size), dtype=np.float32)
    masks = (rng.random((n, 1, size, size)) > 0.9).astype(np.float32)
    return images, masks


def keras_trainer(
    images: np.ndarray, masks: np.ndarray, filters: int, batch: int
) -> tuple[Callable[[], float], int]:
    """A function that trains an epoch over the patches and returns its seconds; model size."""
    from tensorflow import keras

    model = build_keras_unet(images.shape[1], filters, images.shape[-1])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras_dice_loss)
    x, y = images.transpose(0, 2, 3, 1).copy(), masks.transpose(0, 2, 3, 1).copy()

    def epoch() -> float:
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - start

    return epoch, model.count_params()


def torch_trainer(
    images: np.ndarray, masks: np.ndarray, filters: int, batch: int, *, fast: bool
) -> tuple[Callable[[], float], int]:
    """The same for ``baselines.models.unet`` with its criterion and Adam.

    ``fast``: channels-last memory format and bfloat16 autocast of the forward pass (oneDNN runs
    bfloat16 convolutions on CPUs with AVX512-BF16 or AMX); weights, optimizer and loss stay
    float32.
    """
    torch.manual_seed(0)
    model = create_model("unet", in_channels=images.shape[1], filters=filters).train()
    x, y = torch.from_numpy(images), torch.from_numpy(masks)
    if fast:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = criterion_for("unet")

    def epoch() -> float:
        start = time.perf_counter()
        with (
            fast_cpu_math()
        ):  # as baselines.train does: denormals flushed to zero, as TensorFlow does
            for i in range(0, len(x), batch):
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
                    logits = model(x[i : i + batch])
                loss = criterion(logits.float(), y[i : i + batch])
                loss.backward()
                optimizer.step()
        return time.perf_counter() - start

    return epoch, count_parameters(model)


def measure(
    filters: int, batch: int, steps: int, rounds: int, threads: int, size: int = 128
) -> dict:
    """Train the U-Nets ``rounds`` times for ``steps`` steps each, after a warm-up epoch."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    torch.set_num_threads(threads)
    images, masks = _random_patches(steps * batch, size, 4)
    trainers = {
        "keras": keras_trainer(images, masks, filters, batch),
        "torch_fp32": torch_trainer(images, masks, filters, batch, fast=False),
        "torch": torch_trainer(images, masks, filters, batch, fast=True),
    }
    params = {name: n for name, (_, n) in trainers.items()}
    if len(set(params.values())) != 1:
        raise RuntimeError(f"the U-Nets differ: parameter counts {params}")
    seconds: dict[str, list[float]] = {name: [] for name in trainers}
    for epoch, _ in trainers.values():
        epoch()  # warm-up: graph tracing, allocator, oneDNN primitive caches
    for _ in range(rounds):
        for name, (epoch, _) in trainers.items():
            seconds[name].append(epoch())
    throughput = {name: steps * batch / statistics.median(s) for name, s in seconds.items()}
    return {
        "filters": filters,
        "batch": batch,
        "patch": size,
        "steps_per_round": steps,
        "rounds": rounds,
        "threads": threads,
        "parameters": params["torch"],
        "keras_img_per_s": round(throughput["keras"], 2),
        "torch_fp32_img_per_s": round(throughput["torch_fp32"], 2),
        "torch_img_per_s": round(throughput["torch"], 2),
        "ratio": round(throughput["torch"] / throughput["keras"], 3),
        "ratio_fp32": round(throughput["torch_fp32"] / throughput["keras"], 3),
        "goal": GOAL,
        "versions": {"torch": torch.__version__, "tensorflow": tf.__version__},
    }


class _PreviousPatches(torch.utils.data.Dataset):
    """The baselines' data path before they read through HRGLDD (the reference of ``--data``)."""

    def __init__(self, release, indices: np.ndarray) -> None:
        self.indices = indices
        self.images, self.masks = release.load()
        mean, std = release.normalization
        self.mean = torch.from_numpy(mean).view(-1, 1, 1)
        self.std = torch.from_numpy(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = int(self.indices[item])
        image = torch.from_numpy(self.images[index].astype(np.float32))
        mask = torch.from_numpy(self.masks[index].astype(np.float32))[None]
        return (image - self.mean) / self.std, mask


def _previous_augment(images, masks, generator):
    turns = torch.randint(0, 4, (len(images),), generator=generator).tolist()
    flips = torch.randint(0, 2, (len(images),), generator=generator).tolist()
    out_images, out_masks = [], []
    for image, mask, turn, flip in zip(images, masks, turns, flips, strict=True):
        if flip:
            image, mask = image.flip(-1), mask.flip(-1)
        if turn:
            image, mask = torch.rot90(image, turn, (-2, -1)), torch.rot90(mask, turn, (-2, -1))
        out_images.append(image)
        out_masks.append(mask)
    return torch.stack(out_images), torch.stack(out_masks)


def data_path(release_dir, batch: int, epochs: int) -> dict:
    """Patches/s of training batches: ReleaseData (HRGLDD) against the previous in-memory path."""
    from torch.utils.data import DataLoader

    from baselines.data import ReleaseData
    from hrgldd_data.archive import open_archive

    def previous():
        release = open_archive(release_dir)
        dataset = _PreviousPatches(release, release.indices("train"))
        for epoch in range(epochs):
            generator = torch.Generator().manual_seed(epoch)
            loader = DataLoader(dataset, batch_size=batch, shuffle=True, generator=generator)
            for images, masks in loader:
                _previous_augment(images, masks, generator)
            yield len(dataset)

    def ours():
        data = ReleaseData(open_archive(release_dir))
        indices = data.release.indices("train")
        for epoch in range(epochs):
            augment = torch.Generator().manual_seed(epoch)
            for _ in data.batches(indices, batch_size=batch, shuffle=True, augment=augment):
                pass
            yield len(indices)

    def timed(make) -> tuple[float, float, int]:
        times, counts, start = [], [], time.perf_counter()
        for count in make():
            times.append(time.perf_counter() - start)
            counts.append(count)
            start = time.perf_counter()
        return times[0], statistics.median(times[1:]), counts[0]

    for _ in ours():  # the decoded copy is written once per release, as a first training run does
        break
    result: dict = {"batch": batch, "epochs": epochs}
    for name, make in (("previous", previous), ("hrgldd", ours), ("previous_again", previous)):
        cold, warm, n = timed(make)
        result[name] = {"cold_s": round(cold, 3), "warm_patches_per_s": round(n / warm, 1)}
    reference_cold = (result["previous"]["cold_s"] + result["previous_again"]["cold_s"]) / 2
    reference_warm = (
        result["previous"]["warm_patches_per_s"] + result["previous_again"]["warm_patches_per_s"]
    ) / 2
    result["cold_ratio"] = round(reference_cold / result["hrgldd"]["cold_s"], 2)
    result["warm_ratio"] = round(result["hrgldd"]["warm_patches_per_s"] / reference_warm, 2)
    result["patches"] = n
    return result


@click.command()
@click.option("--filters", default=16, show_default=True, help="First-layer filters of the U-Nets.")
@click.option("--batch", default=4, show_default=True, help="Batch size (the paper's best: 4).")
@click.option("--steps", default=10, show_default=True, help="Training steps per timed round.")
@click.option("--rounds", default=3, show_default=True, help="Timed rounds; the median counts.")
@click.option("--threads", default=1, show_default=True, help="CPU threads for both frameworks.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--data", "data", is_flag=True, help="Measure the data path instead (see above).")
@click.option(
    "--release",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="--data: the release to read (default: a synthetic one of HR-GLDD's size).",
)
@click.option("--epochs", default=3, show_default=True, help="--data: epochs per path.")
def main(
    filters: int,
    batch: int,
    steps: int,
    rounds: int,
    threads: int,
    as_json: bool,
    data: bool,
    release: str | None,
    epochs: int,
) -> None:
    """Training throughput of baselines' U-Net over the paper's Keras U-Net (goal ≥ 1.5×)."""
    if data:
        _data_main(release, batch, max(epochs, 2), threads, as_json)
        return
    result = measure(filters, batch, steps, rounds, threads)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"U-Net training, filters {filters}, batch {batch}, {result['patch']}² patches, "
        f"{result['parameters']:,} parameters, {threads} threads"
    )
    versions = result["versions"]
    rows = [
        (f"Keras float32 (tensorflow-cpu {versions['tensorflow']})", "keras_img_per_s", None),
        (f"PyTorch float32 (torch {versions['torch']})", "torch_fp32_img_per_s", "ratio_fp32"),
        ("PyTorch channels-last + bf16 autocast", "torch_img_per_s", "ratio"),
    ]
    for label, key, ratio in rows:
        suffix = f"  {result[ratio]:.2f}×" if ratio else ""
        click.echo(f"  {label:<44} {result[key]:7.2f} img/s{suffix}")
    verdict = "meets" if result["ratio"] >= GOAL else "misses"
    click.echo(f"  ratio {result['ratio']:.2f}× ({verdict} the {GOAL}× goal)")


def _data_main(release: str | None, batch: int, epochs: int, threads: int, as_json: bool) -> None:
    import tempfile
    from pathlib import Path

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        if release is None:
            from benchmarks.loaders import make_hrgldd_sized_release

            os.environ.setdefault("HRGLDD_CACHE", str(Path(tmp) / "cache"))
            release = str(make_hrgldd_sized_release(Path(tmp) / "releases"))
        result = data_path(release, batch, epochs)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"Training batches of {batch} (read, normalized, augmented), {result['patches']} "
               f"train patches, {epochs} epochs per path, {threads} thread(s)")  # fmt: skip
    for name, label in (
        ("previous", "previous path: Release.load(), per-patch normalization"),
        ("hrgldd", "ReleaseData: HRGLDD decoded copy + hrgldd_data.transforms"),
        ("previous_again", "previous path, again"),
    ):
        r = result[name]
        click.echo(
            f"  {label:<58} cold {r['cold_s']:6.2f} s   warm {r['warm_patches_per_s']:8.1f} "
            "patches/s"
        )
    click.echo(
        f"  HRGLDD path: cold {result['cold_ratio']:.2f}x faster, warm "
        f"{result['warm_ratio']:.2f}x the previous path's throughput"
    )


if __name__ == "__main__":
    main()
