"""Fixtures of the mapping tests: a model trained here on synthetic patches, and the local Hub.

The model is a real baseline of the registry (U-Net, 8 filters) trained with ``train_model`` on
``factories.make_release`` patches (vegetation with bright, NIR-dark scars), saved as a run
folder exactly as ``hrgldd train`` saves one; the generated scenes of ``scenes.py`` share those
spectra, so the model finds scars planted in them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parent))

# The Hub fixtures of tests/hrgldd_data/hub (server on 127.0.0.1, token, endpoint, no network).
_spec = importlib.util.spec_from_file_location(
    "hub_fixtures", Path(__file__).parents[1] / "hrgldd_data" / "hub" / "conftest.py"
)
_hub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hub)
hub = _hub.hub
_loopback_only = _hub._loopback_only


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One torch thread: on the shared test machine two threads ran 4x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A U-Net run folder (model.safetensors + config.json with the training data recorded)."""
    from factories import make_release

    from baselines.train import TrainConfig, train_model
    from hrgldd_data.archive import open_archive

    root = tmp_path_factory.mktemp("mapping_model")
    release = open_archive(make_release(root / "releases"))
    # The default robust normalization, with the Dice loss: on this tiny synthetic release the
    # default Dice+BCE model also leaves a one-pixel speckle, which the polygon counts below
    # would have to allow for (the planted-scar IoU is > 0.85 with either loss).
    config = TrainConfig(
        model="unet",
        filters=8,
        epochs=8,
        patience=8,
        device="cpu",
        precision="fp32",
        loss="paper",
        normalization="robust",
    )
    result = train_model(release, config, workdir=root / "run", progress=False)
    assert result.best_val["f1"] > 0.8, result.best_val  # it learned the scars
    return root / "run"
