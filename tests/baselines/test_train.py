"""Training: it learns, is deterministic for a seed on the CPU, resumes, saves safetensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from baselines.data import ReleaseData
from baselines.evaluate import evaluate_model, score_arrays
from baselines.train import (
    CONFIGS,
    WEIGHTS,
    TrainConfig,
    config_default,
    load_weights,
    named_config,
    resolve_device,
    resolve_precision,
    train_model,
)
from hrgldd_data.archive import open_archive


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
def test_short_training_beats_trivial_predictors(tiny_release, precision):
    """12 epochs of 3 batches: a U-Net with 8 filters clearly beats 'everything is a landslide'.

    The synthetic scars cover ~5 % of a patch, so predicting every pixel as landslide scores
    F1 = 2p / (1 + p) ≈ 0.09 and predicting none scores 0. A model that found the scar/vegetation
    contrast scores > 0.8 here (0.99 when written); 0.5 leaves a wide margin for float
    differences between machines while still failing a model that learned nothing.
    """
    release = open_archive(tiny_release)
    config = TrainConfig(
        model="unet", filters=8, epochs=12, patience=12, device="cpu", precision=precision
    )
    result = train_model(release, config, progress=False)
    assert result.config.precision == precision
    rows, _, _ = evaluate_model(result.model, ReleaseData(release, config.normalization))
    mixed = next(r for r in rows if r["collection"] == 1)
    masks = release.read(release.indices("test"))[1]
    all_landslide = score_arrays(np.ones(masks.shape, np.float32), masks)["pooled"]["f1"]
    assert all_landslide < 0.15
    assert mixed["f1"] >= max(0.5, 4 * all_landslide), rows
    assert (
        result.best_epoch
        == max(range(len(result.history)), key=lambda e: result.history[e]["val_f1"]) + 1
    )
    assert {(r["collection"], r["test_set"]) for r in rows} == {
        (1, "test"),
        (2, "alpha_2018"),
        (2, "beta_2019"),
        (3, "gamma_2021"),
    }


def test_deterministic_for_a_seed_on_cpu(tiny_release):
    release = open_archive(tiny_release)
    config = TrainConfig(
        model="res_unet", filters=8, epochs=2, steps_per_epoch=2, seed=3, device="cpu"
    )
    first = train_model(release, config, progress=False)
    second = train_model(release, config, progress=False)
    other = train_model(release, TrainConfig(**{**config.__dict__, "seed": 4}), progress=False)
    assert _same_weights(first.model, second.model)
    assert first.history == [{**h} for h in second.history]
    assert not _same_weights(first.model, other.model)


def test_resume_continues_exactly_and_weights_are_safetensors(tiny_release, tmp_path):
    release = open_archive(tiny_release)
    base = {
        "model": "unet",
        "filters": 8,
        "steps_per_epoch": 2,
        "seed": 1,
        "device": "cpu",
        "patience": 10,
    }
    straight = train_model(release, TrainConfig(**base, epochs=3), progress=False)

    train_model(
        release, TrainConfig(**base, epochs=2), workdir=tmp_path, progress=False
    )  # "interrupted" after 2
    resumed = train_model(release, TrainConfig(**base, epochs=3), workdir=tmp_path, progress=False)
    assert resumed.epochs_run == 3
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    assert _same_weights(resumed.model, straight.model)

    # a finished run is loaded, not trained again; its files hold no pickle
    again = train_model(release, TrainConfig(**base, epochs=3), workdir=tmp_path, progress=False)
    assert again.history == resumed.history and _same_weights(again.model, resumed.model)
    assert (tmp_path / WEIGHTS).read_bytes()[
        8:9
    ] == b"{"  # safetensors: u64 header length, then JSON
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] == {"name": "unet", "in_channels": 4, "filters": 8}
    assert _same_weights(load_weights(tmp_path), straight.model)


def test_training_batches_move_image_and_mask_together(tiny_release):
    """The training path's augmentation (hrgldd_data.transforms.dihedral) on real batches."""
    data = ReleaseData(open_archive(tiny_release))
    indices = data.release.indices("train")[:4]
    images, masks = next(data.batches(indices, batch_size=4))
    out_images, out_masks = next(
        data.batches(indices, batch_size=4, augment=torch.Generator().manual_seed(0))
    )
    assert set(out_masks.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out_masks.sum((1, 2, 3)), masks.sum((1, 2, 3)))
    # scar pixels are dark in NIR in the synthetic data: the mask must still sit on them
    nir = out_images[:, 3:4]
    assert (nir[out_masks.bool()].mean() < nir[~out_masks.bool()].mean() - 1).item()
    assert not torch.equal(out_images, images)  # seed 0 moves at least one of four patches
    again = next(data.batches(indices, batch_size=4, augment=torch.Generator().manual_seed(0)))
    assert torch.equal(again[0], out_images) and torch.equal(again[1], out_masks)


def test_patches_are_normalized_with_train_statistics(tiny_release):
    data = ReleaseData(open_archive(tiny_release), "standardize")
    stacked = torch.cat([x for x, _ in data.batches(data.release.indices("train"), batch_size=5)])
    mean, std = stacked.mean((0, 2, 3)), stacked.std((0, 2, 3))
    assert torch.allclose(mean, torch.zeros(4), atol=0.05) and torch.allclose(
        std, torch.ones(4), atol=0.05
    )


def test_named_configurations_hold_every_default():
    default = TrainConfig(model="unet")
    assert named_config("default", "unet") == default
    paper = named_config("paper", "unet", seed=2)
    assert (paper.loss, paper.normalization, paper.batch_size, paper.lr) == (
        "paper",
        "standardize",
        4,
        1e-3,
    )
    assert paper.config == "paper" and paper.seed == 2 and paper.differs_from_named() == []
    assert replace_loss(paper).differs_from_named() == ["loss"]
    assert config_default("paper", "loss") == "paper"
    assert config_default("default", "loss") == default.loss
    assert set(CONFIGS) == {"default", "paper"}
    with pytest.raises(ValueError, match="unknown configuration"):
        named_config("keras", "unet")


def replace_loss(config: TrainConfig) -> TrainConfig:
    from dataclasses import replace

    return replace(config, loss="dice_bce")


def test_device_choice():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16-mixed", cpu) == "bf16-mixed"
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert resolve_precision("auto", cpu) == ("bf16-mixed" if native else "fp32")
    with pytest.raises(ValueError, match="precision 'fp16': choose one of"):
        resolve_precision("fp16", cpu)
