"""The default U-Net learns on real imagery, and the same check fails a model that cannot.

A short CPU training on a seeded subset of Landslide4Sense (real Sentinel-2 RGB renderings with
expert masks, ~4.5 % landslide pixels), imported with the README's own command, must beat the F1
of predicting all-landslide by a clear margin and rank landslide pixels (AUROC >= 0.8) on
held-out test patches. Synthetic data only proves that the plumbing works.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from baselines.data import ReleaseData
from baselines.evaluate import evaluate_model
from baselines.train import named_config, train_model
from hrgldd_data.archive import open_archive

README = Path(__file__).resolve().parents[2] / "README.md"
#: Patches of each split in the subset (seeded draw from the set's own split folders).
SUBSET = {"train": 320, "validation": 64, "test": 100}
#: Two epochs of 80 batches of 4: about three minutes on one shared CPU core.
EPOCHS = 2
#: What "learned" means here: F1 points above all-landslide, and pixel AUROC.
MARGIN, AUROC = 15.0, 0.8


def _subset(shared_dir: Path, folder: Path) -> Path:
    """Symlinks to a seeded subset of each split folder (the importer's folder layout)."""
    source = shared_dir / "realdata" / "landslide4sense_rgb" / "data"
    rng = np.random.default_rng(0)
    for split, n in SUBSET.items():
        images = sorted((source / split / "images").glob("image_*.png"))
        for image in rng.choice(images, n, replace=False):
            mask = source / split / "masks" / image.name.replace("image_", "mask_")
            for path, kind in ((image, "images"), (mask, "masks")):
                target = folder / split / kind / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(path)
    return folder


def _import(folder: Path, out: Path) -> Path:
    """The README's `hrgldd import-patches` command for Landslide4Sense, on ``folder``."""
    from hrgldd_cli import cli

    text = README.read_text().replace("\\\n", " ")
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("hrgldd import-patches") and "--name landslide4sense_rgb " in line
    )
    args = shlex.split(line)[1:]
    args[1] = str(folder)
    args[args.index("--out") + 1] = str(out)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out / "landslide4sense_rgb-1.0.0"


@pytest.fixture(scope="module")
def l4s_subset(tmp_path_factory) -> Path:
    shared = Path(__file__).resolve().parents[2].parent / "shared"
    if not (shared / "realdata" / "landslide4sense_rgb").is_dir():
        pytest.skip(f"{shared}/realdata/landslide4sense_rgb is absent: the real-data test needs it")
    root = tmp_path_factory.mktemp("l4s")
    return _import(_subset(shared, root / "source"), root / "releases")


def check_learned(row: dict) -> None:
    """Fail unless the model beat all-landslide by :data:`MARGIN` points with AUROC >= 0.8."""
    margin = 100 * (row["f1"] - row["trivial_f1"])
    assert not row["collapsed"], f"collapsed: {row}"
    assert margin >= MARGIN, f"F1 {100 * row['f1']:.1f} is only {margin:+.1f} over all-landslide"
    assert row["auroc"] >= AUROC, f"AUROC {row['auroc']:.3f} < {AUROC}"


class Constant(torch.nn.Module):
    """A 'model' forced to predict one value everywhere (logit ``value``)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 1, *x.shape[-2:]), self.value)


def test_default_unet_learns_on_real_imagery(l4s_subset):
    release = open_archive(l4s_subset)
    config = named_config("default", "unet", epochs=EPOCHS, device="cpu", precision="fp32")
    data = ReleaseData(release, config.normalization)
    result = train_model(data, config, progress=False)
    rows, _, _ = evaluate_model(result.model, data, release.test_sets((1,)))
    row = rows[0]
    assert row["n_patches"] == SUBSET["test"] and 0.02 < row["landslide_fraction"] < 0.08
    check_learned(row)


@pytest.mark.parametrize("logit", [10.0, -10.0])
def test_the_same_check_fails_a_constant_model(l4s_subset, logit):
    release = open_archive(l4s_subset)
    data = ReleaseData(release)
    rows, _, _ = evaluate_model(Constant(logit), data, release.test_sets((1,)))
    assert rows[0]["collapsed"] and rows[0]["auroc"] == pytest.approx(0.5)
    with pytest.raises(AssertionError, match="collapsed"):
        check_learned(rows[0])
    with pytest.raises(AssertionError, match="over all-landslide"):
        check_learned(rows[0] | {"collapsed": False})  # the margin alone fails it too
