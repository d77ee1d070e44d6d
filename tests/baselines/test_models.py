"""The five baseline architectures: registry, shapes, gradients, configs, parameter counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from baselines.losses import criterion_for
from baselines.models import MODEL_NAMES, count_parameters, create_model, predict_proba

ROOT = Path(__file__).resolve().parents[2]

# Recorded once from the implementation (4 bands); a change here is an architecture change.
PARAMETERS = {
    ("unet", 16): 1_941_249,
    ("unet", 64): 31_032_321,
    ("res_unet", 16): 2_031_273,
    ("res_unet", 64): 32_436_873,
    ("attn_unet", 16): 2_008_253,
    ("attn_unet", 64): 32_083_661,
    ("attn_res_unet", 16): 2_096_805,
    ("attn_res_unet", 64): 33_482_325,
    ("adsms_unet", 16): 2_209_517,
    ("adsms_unet", 64): 35_201_933,
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registry_names() -> None:
    assert MODEL_NAMES == ("unet", "res_unet", "attn_unet", "attn_res_unet", "adsms_unet")


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(ValueError, match="unknown model 'segnet'.*unet, res_unet"):
        create_model("segnet")


@pytest.mark.parametrize("filters", [0, -4, 2.5])
def test_bad_filters(filters) -> None:
    with pytest.raises(ValueError, match="filters must be a positive int"):
        create_model("unet", filters=filters)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_output_shape_and_config(name: str) -> None:
    model = create_model(name, in_channels=3, filters=4).eval()
    assert model.config == {"name": name, "in_channels": 3, "filters": 4}
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 1, 48, 64)
    assert out.dtype == torch.float32
    probs = predict_proba(model, x)
    assert probs.shape == (2, 1, 48, 64)
    assert torch.allclose(probs, torch.sigmoid(out))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    model = create_model(name, filters=4).train()
    x = torch.randn(2, 4, 32, 32)
    target = (torch.rand(2, 1, 32, 32) > 0.7).float()
    loss = criterion_for(name)(model(x), target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reached {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    first = next(model.parameters())
    assert first.grad.abs().sum() > 0, "the first layer receives no signal"


def test_adsms_deep_supervision_outputs() -> None:
    model = create_model("adsms_unet", filters=4).train()
    final, sides = model(torch.randn(2, 4, 32, 32))
    assert final.shape == (2, 1, 32, 32)
    assert len(sides) == 3
    assert all(side.shape == (2, 1, 32, 32) for side in sides)
    model.eval()
    with torch.no_grad():
        assert isinstance(model(torch.randn(1, 4, 32, 32)), torch.Tensor)


def test_adsms_uses_the_image_pyramid() -> None:
    """Zeroing the multi-scale input branches changes the output: the pyramid is really fed in."""
    model = create_model("adsms_unet", filters=4).eval()
    x = torch.randn(1, 4, 32, 32)
    before = predict_proba(model, x)
    with torch.no_grad():
        for branch in model.scale_inputs:
            branch[0].weight.zero_()
            branch[0].bias.zero_()
    assert not torch.allclose(before, predict_proba(model, x))


@pytest.mark.parametrize("name", ["unet", "adsms_unet"])
def test_predict_proba_restores_mode(name: str) -> None:
    model = create_model(name, filters=4).train()
    probs = predict_proba(model, torch.randn(2, 4, 32, 32))
    assert model.training
    assert probs.shape == (2, 1, 32, 32)
    assert probs.min() >= 0 and probs.max() <= 1
    assert not probs.requires_grad


@pytest.mark.parametrize("shape", [(1, 4, 40, 32), (1, 4, 32), (1, 3, 32, 32)])
def test_bad_input_shape(shape) -> None:
    with pytest.raises(ValueError, match="unet"):
        create_model("unet", filters=4)(torch.randn(*shape))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_recreates_the_model(name: str, tmp_path: Path) -> None:
    """Weights saved with safetensors load into create_model(**config) and predict the same."""
    from safetensors.torch import load_file, save_file

    model = create_model(name, filters=4)
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    again = create_model(**model.config)
    again.load_state_dict(load_file(tmp_path / "model.safetensors"))
    x = torch.randn(1, 4, 32, 32)
    assert torch.equal(predict_proba(model, x), predict_proba(again, x))


@pytest.mark.parametrize(("name", "filters"), sorted(PARAMETERS))
def test_parameter_counts(name: str, filters: int) -> None:
    assert count_parameters(create_model(name, filters=filters)) == PARAMETERS[(name, filters)]


def test_unet_grows_as_filters_squared() -> None:
    """4× the first-layer filters, ≈16× the parameters: every conv scales in both widths."""
    ratio = PARAMETERS[("unet", 64)] / PARAMETERS[("unet", 16)]
    assert 15.9 < ratio < 16.1


def test_keras_unet_has_the_same_parameters() -> None:
    """The benchmark's Keras U-Net is built from the same description: same parameter count."""
    pytest.importorskip("tensorflow")
    spec = importlib.util.spec_from_file_location(
        "train_throughput", ROOT / "benchmarks" / "train_throughput.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    keras_model = bench.build_keras_unet(in_channels=4, filters=4, size=32)
    assert keras_model.count_params() == count_parameters(create_model("unet", filters=4))
