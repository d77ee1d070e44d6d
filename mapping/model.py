"""A trained model ready to map: weights, architecture and the training data it expects.

A model is a folder holding ``model.safetensors`` and ``config.json`` (a run of
``hrgldd train`` / ``python -m baselines.run``, or a Hub model repo pulled into the cache). Its
config records the architecture and, under ``data``, the training release's bands, sensor,
normalization (:class:`hrgldd_data.transforms.Normalization`), nodata value, name, version and
threshold (``baselines.train.data_config``), so the folder alone is enough to map a scene.

The forward pass runs on windows already normalized, batched, in channels-last memory layout
(oneDNN's fastest convolutions on the CPU: 1.8x here for a U-Net), under bfloat16 autocast only
where the device computes it natively (``baselines.train.resolve_precision``). Forward passes
run one at a time, on one thread of the model's own, so local Dask threads read and blend while
it computes without oversubscribing the cores torch already uses.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrgldd_data.errors import HrglddError, InputError
from hrgldd_data.transforms import Normalization

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


@dataclass(frozen=True)
class ModelRef:
    """What a Dask worker needs to load the same model: a folder it can read, device, precision."""

    folder: str
    device: str = "cpu"
    precision: str = "auto"


@dataclass
class MappingModel:
    """A loaded model and the training data it expects (see the module docstring)."""

    network: torch.nn.Module
    folder: Path
    source: str
    config: dict[str, Any]
    device: torch.device
    precision: str
    _runner: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="hrgldd-forward"),
        repr=False,
    )

    @property
    def data(self) -> dict[str, Any]:
        return self.config["data"]

    @property
    def architecture(self) -> str:
        return str(self.config["model"]["name"])

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(self.data["bands"])

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.data["normalization"]["mean"], np.float32)

    @property
    def std(self) -> np.ndarray:
        return np.asarray(self.data["normalization"]["std"], np.float32)

    @cached_property
    def normalization(self) -> Normalization:
        """The training normalization (:mod:`hrgldd_data.transforms`), applied to scene values.

        Which pixels are nodata is the scene's business (its nodata, mask or alpha band), so the
        training release's nodata value is not applied again.
        """
        return replace(Normalization.from_config(self.data["normalization"]), nodata=None)

    @property
    def threshold(self) -> float:
        return float(self.data.get("threshold", 0.5))

    @property
    def release(self) -> str:
        release = self.data.get("release", {})
        return f"{release.get('name', '?')} {release.get('version', '?')}"

    @property
    def resolution_m(self) -> float | None:
        value = self.data.get("sensor", {}).get("resolution_m")
        return float(value) if value else None

    @property
    def units(self) -> str:
        return str(self.data.get("sensor", {}).get("units", ""))

    @property
    def ref(self) -> ModelRef:
        return ModelRef(str(self.folder), str(self.device), self.precision)

    def describe(self) -> dict[str, Any]:
        """What a map's summary records about the model."""
        return {
            "source": self.source,
            "folder": str(self.folder),
            "architecture": self.architecture,
            "filters": self.config["model"].get("filters"),
            "bands": list(self.bands),
            "sensor": self.data.get("sensor", {}).get("name"),
            "resolution_m": self.resolution_m,
            "release": self.data.get("release", {}),
            "normalization": self.data["normalization"],
            "best_epoch": self.config.get("best_epoch"),
        }

    def predict(self, windows: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Landslide probabilities ``(B, H, W)`` float32 of normalized windows ``(B, C, H, W)``.

        A batch smaller than ``batch_size`` is padded to the next power of two (at most
        ``batch_size``): every new input shape makes oneDNN (or cuDNN) build and cache new
        kernels, and the 32 sizes of the last batches of blocks took 850 MB more than the
        6 sizes padded here. Forward passes run one at a time on one thread of the model's own:
        oneDNN keeps scratchpads and caches per calling thread.
        """
        return self._runner.submit(self._forward, windows, batch_size).result()

    @torch.inference_mode()
    def _forward(self, windows: np.ndarray, batch_size: int | None) -> np.ndarray:
        from baselines.evaluate import fast_cpu_math

        n = len(windows)
        if batch_size is not None and n < batch_size:
            size = min(1 << (n - 1).bit_length(), batch_size)
            if size > n:
                pad = np.zeros((size - n, *windows.shape[1:]), windows.dtype)
                windows = np.concatenate([windows, pad])
        x = torch.from_numpy(windows).to(self.device)
        x = x.contiguous(memory_format=torch.channels_last)
        mixed = self.precision == "bf16-mixed"
        with fast_cpu_math(), torch.autocast(self.device.type, torch.bfloat16, enabled=mixed):
            out = self.network(x)
        if isinstance(out, tuple):  # ADSMS U-Net in train mode; eval returns the final only
            out = out[0]
        return torch.sigmoid(out.float())[:n, 0].cpu().numpy()


def _refuse(folder: Path, problem: str, fix: str) -> InputError:
    return InputError(f"{folder}: {problem}; {fix}")


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a model folder, checked for everything mapping needs."""
    missing = [name for name in (CONFIG, WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise _refuse(
            folder,
            f"incomplete model folder (missing {', '.join(missing)})",
            "give the folder of a trained run (it holds model.safetensors and config.json, e.g. "
            "data/results/<release>/runs/unet-default-b4-lr0.001-f16-s0) or a Hub model ORG/NAME",
        )
    try:
        config = json.loads((folder / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _refuse(folder, f"{CONFIG} is not valid JSON ({err})", "retrain the run") from err
    if not isinstance(config.get("model"), dict) or "name" not in config["model"]:
        raise _refuse(folder, f"{CONFIG} names no architecture", "retrain the run")
    data = config.get("data")
    if not isinstance(data, dict):
        raise _refuse(
            folder,
            "the model does not record its training data (bands, normalization, release): "
            "it was trained before hrgldd stored them with the weights",
            "re-run the same training command with this hrgldd (a finished run is only "
            "re-labelled, not retrained), e.g. `python -m baselines.run --release ...`",
        )
    norm = data.get("normalization") or {}
    bands = data.get("bands") or []
    if (
        not bands
        or len(norm.get("mean", [])) != len(bands)
        or len(norm.get("std", [])) != len(bands)
    ):
        raise _refuse(
            folder,
            f"{CONFIG} records bands {bands} but normalization for "
            f"{len(norm.get('mean', []))} band(s)",
            "retrain the run",
        )
    try:
        Normalization.from_config(norm)
    except (InputError, KeyError, TypeError, ValueError) as err:
        raise _refuse(
            folder, f"{CONFIG} records an unusable normalization ({err})", "retrain"
        ) from err
    in_channels = config["model"].get("in_channels")
    if in_channels != len(bands):
        raise _refuse(
            folder,
            f"{CONFIG} does not match itself: the {config['model']['name']} takes "
            f"{in_channels} band(s) but the training data lists {bands}",
            "the folder mixes files of different runs; retrain or pull it again",
        )
    return config


def load_folder(
    folder: str | os.PathLike[str],
    device: str = "cpu",
    precision: str = "auto",
    source: str | None = None,
) -> MappingModel:
    """Load a model folder; every refusal names the folder and the fix."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    from baselines.models import create_model
    from baselines.train import resolve_device, resolve_precision

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such model folder")
    config = read_config(folder)
    try:
        torch_device = resolve_device(device)
        precision = resolve_precision(precision, torch_device)
    except ValueError as err:
        raise InputError(f"--device {device} / --precision {precision}: {err}") from err
    spec = config["model"]
    try:
        network = create_model(
            spec["name"], in_channels=int(spec["in_channels"]), filters=int(spec["filters"])
        )
    except (ValueError, KeyError, TypeError) as err:
        raise _refuse(folder, f"{CONFIG} describes no known model ({err})", "retrain") from err
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as handle:
            saved = (handle.metadata() or {}).get("config")
        state = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as err:
        raise _refuse(
            folder, f"{WEIGHTS} is unreadable ({err})", "copy or pull the model again"
        ) from err
    if saved is not None:
        try:
            saved_model = json.loads(saved).get("model")
        except json.JSONDecodeError:
            saved_model = None
        if saved_model != spec:
            raise _refuse(
                folder,
                f"{CONFIG} ({spec}) does not match the config saved inside {WEIGHTS} "
                f"({saved_model})",
                "the folder mixes files of different runs; retrain or pull it again",
            )
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise _refuse(
            folder,
            f"{WEIGHTS} does not fit the {spec['name']} described in {CONFIG} "
            f"(in_channels {spec['in_channels']}, filters {spec['filters']}): "
            f"{' '.join(first[:2])[:300]}",
            "the folder mixes files of different runs; retrain or pull it again",
        ) from err
    network = network.to(torch_device).to(memory_format=torch.channels_last).eval()
    return MappingModel(network, folder, source or str(folder), config, torch_device, precision)


_MODELS: dict[ModelRef, MappingModel] = {}
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 4


def cached_model(ref: ModelRef) -> MappingModel:
    """One loaded model per process and reference (Dask tasks and workers share it)."""
    with _MODELS_LOCK:
        model = _MODELS.get(ref)
        if model is None:
            model = load_folder(ref.folder, ref.device, ref.precision)
            while len(_MODELS) >= 2 * _MODELS_KEPT:
                _MODELS.pop(next(iter(_MODELS)))
            _MODELS[ref] = model
            _MODELS[model.ref] = model  # also under the device and precision it resolved to
        return model


def load_model(
    spec: str | os.PathLike[str],
    *,
    device: str = "cpu",
    precision: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
) -> MappingModel:
    """A run folder, or a Hub model ``ORG/NAME[@revision]`` (pulled, verified and cached).

    A path that exists is always a folder; anything else shaped ``ORG/NAME`` is a Hub repo.
    """
    from hrgldd_data.hub.models import looks_like_repo, pull_model

    text = str(spec)
    if Path(text).exists():
        folder, source = Path(text), str(text)
    elif looks_like_repo(text):
        try:
            folder = pull_model(text, cache_dir)
        except HrglddError as err:
            raise type(err)(f"{err} (there is no local folder {text!r} either)") from err
        source = f"{text.partition('@')[0]}@{folder.name}"
    else:
        raise InputError(
            f"{text}: no such model folder; give a trained run folder (holding model.safetensors "
            "and config.json) or a Hub model ORG/NAME[@revision]"
        )
    model = cached_model(ModelRef(str(folder.resolve()), device, precision))
    if model.source != source:
        model.source = source
    return model


__all__ = ["MappingModel", "ModelRef", "cached_model", "load_folder", "load_model", "read_config"]
