"""Train one baseline on a release: Adam, early stopping and weight selection on the validation split.

The paper's best setting is the default (Adam, learning rate 1e-3, batch 4). Each epoch is scored
on the **validation** split (pooled F1 of the landslide class; ties broken by soft Dice) and the best
epoch's weights are kept; training stops after ``patience`` epochs without improvement. (The
released notebook selected weights on the test set; we do not.)

A run is reproducible for a seed on the CPU: the global torch RNG is seeded, deterministic
algorithms are requested, and shuffling and augmentation of epoch ``e`` draw from their own
generators seeded by ``(seed, e)``. A run is resumable: after every epoch the work folder receives
``last.safetensors`` (weights, Adam state, RNG state) and ``state.json`` (history, best epoch), and
each new best epoch ``model.safetensors`` + ``config.json``. Rerunning the same configuration
continues where it stopped (an interrupted run, or one given more epochs) and a finished one is
loaded, not trained again.
Weights are stored as safetensors with a JSON config, never pickled.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from baselines.data import augment_batch, make_loader
from baselines.evaluate import THRESHOLD, fast_cpu_math, predict, score_arrays
from hrgldd_data.archive import Release
from hrgldd_data.fileio import atomic_path, atomic_write
from hrgldd_data.schema import PATCH_SIZE

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
LAST = "last.safetensors"
STATE = "state.json"


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved beside the weights.

    ``steps_per_epoch`` caps the batches of an epoch (``None``: the whole train split), for quick
    runs and tests. ``device`` is ``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda[:n]``.
    ``precision`` is ``fp32``, ``bf16-mixed`` (forward pass under bfloat16 autocast with
    channels-last tensors; weights, optimizer and loss in float32) or ``auto``: ``bf16-mixed`` where
    the device computes bfloat16 natively (CUDA with bf16, CPUs with AVX512-BF16 or AMX), else
    ``fp32``. A run records the precision it resolved to.
    """

    model: str
    seed: int = 0
    epochs: int = 100
    batch_size: int = 4
    lr: float = 1e-3
    filters: int = 16
    patience: int = 10
    augment: bool = True
    steps_per_epoch: int | None = None
    eval_batch_size: int = 32
    device: str = "auto"
    precision: str = "auto"

    def key(self) -> dict[str, Any]:
        """The fields that change the result (a checkpoint made under other values is not resumed)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("device", "epochs", "patience")
        }


@dataclass
class TrainResult:
    """A trained model with its best validation epoch and where its weights are.

    ``device`` is where the model is now; ``hardware`` where it was trained (a finished run
    loaded from its folder keeps the hardware it was trained on).
    """

    model: torch.nn.Module
    config: TrainConfig
    best_epoch: int
    epochs_run: int
    best_val: dict[str, float]
    seconds: float
    device: str
    hardware: str
    history: list[dict[str, float]] = field(default_factory=list)
    weights: Path | None = None


PRECISIONS = ("auto", "fp32", "bf16-mixed")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16-mixed`` for ``device`` (see :class:`TrainConfig`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {list(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bf16-mixed" if native else "fp32"


def _float_output(output: Any) -> Any:
    """Model output (a tensor, or ADSMS's ``(final, [sides])``) cast back to float32 for the loss."""
    if isinstance(output, tuple):
        final, sides = output
        return final.float(), [side.float() for side in sides]
    return output.float()


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is visible, else the CPU; explicit choices are checked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was asked for but torch sees no CUDA GPU; use --device cpu or auto"
        )
    return chosen


def hardware_name(device: torch.device) -> str:
    """A short description of where a run happened, recorded with every result."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    return (
        f"CPU {platform.machine()} x{torch.get_num_threads()} threads (torch {torch.__version__})"
    )


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch, request deterministic kernels and flush denormals for a run, then restore."""
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        with fast_cpu_math():
            yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffling and augmentation generators of one epoch."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


# -- weights ----------------------------------------------------------------------------------
def data_config(release: Release, threshold: float = THRESHOLD) -> dict[str, Any]:
    """What applying a model to new imagery needs, saved with its weights (config.json ``data``).

    ``hrgldd map`` reads from it the bands and their order, the sensor and its ground resolution,
    the normalization of the training release's train split (mean and std; the 1st and 99th
    percentiles when the release records them), its nodata value, the release's name and version
    and the decision threshold, so that a model folder or Hub repo alone is enough to map a scene.
    """
    stored = dict(release.attrs.get("normalization") or {})
    mean, std = release.normalization
    normalization: dict[str, Any] = {
        "method": "standardize",
        "split": stored.get("split", "train"),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
    }
    if release.percentiles is not None:
        p01, p99 = release.percentiles
        normalization |= {"p01": [float(v) for v in p01], "p99": [float(v) for v in p99]}
    sensor = release.sensor
    return {
        "bands": list(release.bands),
        "band_info": [band.to_attrs() for band in sensor.bands],
        "sensor": sensor.to_attrs(),
        "normalization": normalization,
        "dtype": release.attrs.get("dtype", "uint16"),
        "nodata": release.attrs.get("nodata"),
        "patch_size": int(release.attrs.get("patch_size", PATCH_SIZE)),
        "release": {"name": release.name, "version": release.version},
        "threshold": float(threshold),
    }


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    with atomic_path(path) as tmp:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
            str(tmp),
            metadata=metadata,
        )


def save_weights(model: torch.nn.Module, folder: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` (config in its metadata too) and ``config.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model": dict(model.config), **(extra or {})}
    text = json.dumps(config, indent=2, sort_keys=True, default=str)
    _atomic_save(model.state_dict(), folder / WEIGHTS, {"config": text, "format": "pt"})
    atomic_write(folder / CONFIG, text + "\n")
    return folder / WEIGHTS


def load_weights(folder: str | os.PathLike[str], device: str = "cpu") -> torch.nn.Module:
    """Rebuild a model from ``config.json`` and load ``model.safetensors`` (no pickle involved)."""
    from baselines.models import create_model

    folder = Path(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(
            f"{folder}: expected {CONFIG} and {WEIGHTS}; train a model there first"
        )
    config = json.loads((folder / CONFIG).read_text())["model"]
    config = dict(config)
    name = config.pop("name")
    model = create_model(
        name, **{k: v for k, v in config.items() if k in ("in_channels", "filters")}
    )
    model.load_state_dict(load_file(str(folder / WEIGHTS), device=device))
    return model.to(device).eval()


def _save_checkpoint(folder: Path, model, optimizer, state: dict[str, Any]) -> None:
    """Weights, Adam moments and the global RNG after an epoch, so that training can resume exactly."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for pid, values in opt["state"].items():
        for name, value in values.items():
            tensors[f"optim.{pid}.{name}"] = (
                value if torch.is_tensor(value) else torch.tensor(value)
            )
    tensors["rng.torch"] = torch.get_rng_state()
    state = {**state, "param_groups": opt["param_groups"]}
    _atomic_save(tensors, folder / LAST, {"format": "pt"})
    atomic_write(folder / STATE, json.dumps(state, indent=2, default=str) + "\n")


def _load_checkpoint(folder: Path, model, optimizer, device: torch.device) -> dict[str, Any]:
    state = json.loads((folder / STATE).read_text())
    tensors = load_file(str(folder / LAST))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    return state


# -- training ---------------------------------------------------------------------------------
def _selection_key(scores: dict[str, float]) -> tuple[float, float]:
    return (scores["f1"], scores["soft_dice"])


def validate(
    model: torch.nn.Module,
    release: Release,
    indices: np.ndarray,
    config: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    """Pooled precision/recall/F1/IoU of the validation split, plus soft Dice to break F1 ties."""
    probs = predict(model, release, indices, batch_size=config.eval_batch_size, device=device)
    masks = release.read(indices)[1]
    pooled = score_arrays(probs, masks, batch_size=config.eval_batch_size)["pooled"]
    soft = float(2 * (probs * masks).sum() / max(probs.sum() + masks.sum(), 1e-9))
    return {k: float(pooled[k]) for k in ("precision", "recall", "f1", "iou")} | {"soft_dice": soft}


def train_model(
    release: Release,
    config: TrainConfig,
    *,
    workdir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``config.model`` on the release's train split, selecting weights on its val split.

    With a ``workdir``, progress is checkpointed after every epoch and a run found there with the
    same configuration is resumed (or, when finished, loaded without training).
    """
    from baselines.losses import criterion_for
    from baselines.models import create_model

    device = resolve_device(config.device)
    config = replace(config, precision=resolve_precision(config.precision, device))
    mixed = config.precision == "bf16-mixed"
    train_idx, val_idx = release.indices("train"), release.indices("val")
    if train_idx.size == 0 or val_idx.size == 0:
        raise ValueError(
            f"{release.path}: training needs train and val patches (found {train_idx.size} / {val_idx.size})"
        )
    folder = Path(workdir) if workdir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    hardware = hardware_name(device)
    meta = {
        "train": asdict(config),
        "release": f"{release.name}-{release.version}",
        "data": data_config(release),
    }

    with deterministic(config.seed):
        model = create_model(
            config.model, in_channels=len(release.bands), filters=config.filters
        ).to(device)
        if mixed:  # oneDNN and cuDNN run bfloat16 convolutions fastest on channels-last tensors
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        criterion = criterion_for(config.model)
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        state: dict[str, Any] = {
            "config": config.key(),
            "epoch": 0,
            "history": [],
            "best_epoch": 0,
            "best_val": None,
            "seconds": 0.0,
            "finished": False,
        }

        if folder is not None and (folder / STATE).is_file():
            saved = json.loads((folder / STATE).read_text())
            if saved.get("config") == config.key():
                done = (
                    saved["epoch"] >= config.epochs
                    or saved["epoch"] - saved["best_epoch"] >= config.patience
                )
                if saved.get("finished") and done and (folder / WEIGHTS).is_file():
                    model = load_weights(folder, device=str(device))
                    if "data" not in json.loads((folder / CONFIG).read_text()):
                        # finished before the training data was recorded with the weights
                        save_weights(model, folder, meta | {"best_epoch": saved["best_epoch"]})
                    return _result(model, config, saved, device, hardware, folder)
                if (folder / LAST).is_file():
                    state = _load_checkpoint(folder, model, optimizer, device)
                    state["finished"] = False
                    if (folder / WEIGHTS).is_file():
                        best_state = load_file(str(folder / WEIGHTS))

        state["hardware"] = hardware
        epochs = tqdm(
            range(state["epoch"], config.epochs),
            desc=config.model,
            unit="epoch",
            initial=state["epoch"],
            total=config.epochs,
            disable=not progress,
            leave=False,
        )
        stale = state["epoch"] - state["best_epoch"]
        for epoch in epochs:
            if stale >= config.patience:
                break
            start = time.perf_counter()
            model.train()
            eseed = epoch_seed(config.seed, epoch)
            loader = make_loader(
                release, train_idx, batch_size=config.batch_size, shuffle=True, seed=eseed
            )
            augmenter = torch.Generator().manual_seed(eseed + 1)
            total, steps = 0.0, 0
            for images, masks in loader:
                if config.steps_per_epoch is not None and steps >= config.steps_per_epoch:
                    break
                if config.augment:
                    images, masks = augment_batch(images, masks, augmenter)
                images, masks = images.to(device), masks.to(device)
                optimizer.zero_grad(set_to_none=True)
                if mixed:
                    images = images.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed):
                    output = model(images)
                loss = criterion(_float_output(output), masks)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"{config.model}: loss became {loss.item()} at epoch {epoch + 1}; lower --lr"
                    )
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
                steps += 1
            model.eval()
            val = validate(model, release, val_idx, config, device)
            record = {"epoch": epoch + 1, "loss": total / max(steps, 1)} | {
                f"val_{k}": v for k, v in val.items()
            }
            state["history"].append(record)
            state["epoch"] = epoch + 1
            state["seconds"] += time.perf_counter() - start
            if state["best_val"] is None or _selection_key(val) > _selection_key(state["best_val"]):
                state["best_val"], state["best_epoch"], stale = val, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if folder is not None:
                    save_weights(model, folder, meta | {"best_epoch": epoch + 1})
            else:
                stale += 1
            epochs.set_postfix(
                loss=f"{record['loss']:.3f}", val_f1=f"{val['f1']:.3f}", best=state["best_epoch"]
            )
            if folder is not None:
                _save_checkpoint(folder, model, optimizer, state)
        epochs.close()

        state["finished"] = True
        if folder is not None:
            _save_checkpoint(folder, model, optimizer, state)
        model.load_state_dict(best_state)
        model.eval()
        return _result(model, config, state, device, hardware, folder)


def _result(
    model, config: TrainConfig, state: dict[str, Any], device, hardware: str, folder: Path | None
) -> TrainResult:
    return TrainResult(
        model=model.eval(),
        config=config,
        best_epoch=int(state["best_epoch"]),
        epochs_run=int(state["epoch"]),
        best_val=state["best_val"] or {},
        seconds=float(state["seconds"]),
        device=str(device),
        hardware=state.get("hardware", hardware),
        history=list(state["history"]),
        weights=folder / WEIGHTS if folder is not None else None,
    )


__all__ = [
    "TrainConfig",
    "TrainResult",
    "data_config",
    "deterministic",
    "hardware_name",
    "load_weights",
    "resolve_device",
    "save_weights",
    "train_model",
]
