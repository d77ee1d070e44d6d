"""The one normalization and augmentation (hrgldd_data.transforms), shared by every trainer."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from hrgldd_data.archive import open_archive
from hrgldd_data.errors import InputError
from hrgldd_data.schema import PATCH_SIZE
from hrgldd_data.sensors import make_sensor
from hrgldd_data.transforms import Normalization, PatchTransform, dihedral
from hrgldd_data.writer import ReleaseWriter


@pytest.fixture(scope="module")
def float_release(tmp_path_factory):
    """10 float32 two-band patches: band 0 has NaN fill values, band 1 a heavy outlier tail."""
    rng = np.random.default_rng(5)
    images = rng.normal(10.0, 2.0, (10, 2, PATCH_SIZE, PATCH_SIZE)).astype(np.float32)
    images[:, 0, :4, :4] = np.nan
    images[:, 1, 0, :] = 1e6  # one row per patch: far beyond the 99th percentile
    masks = (rng.random((10, PATCH_SIZE, PATCH_SIZE)) < 0.3).astype(np.uint8)
    sensor = make_sensor("test sensor", ["thermal", "dem"])
    root = tmp_path_factory.mktemp("float")
    with ReleaseWriter(root, "floaty", "1.0.0", sensor=sensor, dtype="float32") as writer:
        minus = np.full(10, -1)
        writer.append(images, masks, site=np.zeros(10), scene=minus, row=minus, col=minus)
        return writer.finish(
            np.repeat([0, 1, 2], [6, 2, 2]),
            {"sites": [{"id": "floaty", "role": "train"}], "scenes": []},
        )


def test_nodata_never_reaches_the_model_and_outliers_are_clipped(float_release):
    release = open_archive(float_release)
    images = release.read(release.indices("train"))[0]
    for method in ("standardize", "robust"):
        out = Normalization.from_release(release, method)(images)
        assert out.dtype == np.float32 and np.isfinite(out).all()
        assert (out[:, 0, :4, :4] == 0).all()  # NaN fill -> 0, the train mean
    robust = Normalization.from_release(release, "robust")
    out = robust(images)
    low, high = release.percentiles
    mean, std = release.normalization
    assert out[:, 1].max() == pytest.approx((high[1] - mean[1]) / std[1], rel=1e-5)
    assert out[:, 1].min() == pytest.approx((low[1] - mean[1]) / std[1], rel=1e-5)
    plain = Normalization.from_release(release, "standardize")(images)
    assert plain[:, 1].max() > 100 * out[:, 1].max()  # unclipped, the tail dominates


def test_uint16_nodata_zero_and_torch_equals_numpy(tiny_release):
    release = open_archive(tiny_release)
    norm = Normalization.from_release(release, "robust")
    assert norm.nodata == 0
    images = release.read(release.indices("train")[:3])[0].copy()
    images[0, 2, 5, 5] = 0  # a PlanetScope nodata value in one band
    out = norm(images)
    assert out[0, 2, 5, 5] == 0 and out[0, 1, 5, 5] != 0
    as_torch = norm(torch.from_numpy(images.astype(np.float32)))
    assert isinstance(as_torch, torch.Tensor) and np.array_equal(as_torch.numpy(), out)
    # an extra validity mask (a scene's nodata pixels in mapping) zeroes every band there
    valid = np.ones(images.shape[-2:], bool)
    valid[7, 7] = False
    assert (norm(images, valid)[:, :, 7, 7] == 0).all()


def test_config_round_trip_and_refusals(float_release, tiny_release):
    norm = Normalization.from_release(open_archive(float_release), "robust")
    config = json.loads(json.dumps(norm.to_config()))  # as saved in a model's config.json
    again = Normalization.from_config(config)
    assert again == dataclasses.replace(norm, nodata=again.nodata)
    assert np.isnan(again.nodata) and np.isnan(norm.nodata)
    images = open_archive(float_release).read([0])[0]
    assert np.array_equal(again(images), norm(images))
    with pytest.raises(InputError, match="choose one of"):
        Normalization.from_release(open_archive(tiny_release), "minmax")
    with pytest.raises(InputError, match="expected \\(..., 2, H, W\\)"):
        norm(np.zeros((1, 3, 8, 8), np.float32))
    constant = Normalization("standardize", (5.0,), (0.0,))
    assert constant(np.full((1, 1, 2, 2), 5.0, np.float32)).tolist() == [[[[0.0, 0.0]] * 2]]


def test_dihedral_moves_image_and_mask_together_and_is_seeded():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    masks = (images[:, 0] > 20).to(torch.int64)
    seen = set()
    for seed in range(12):
        out, moved = dihedral(images, masks, torch.Generator().manual_seed(seed))
        again = dihedral(images, masks, torch.Generator().manual_seed(seed))
        assert torch.equal(out, again[0]) and torch.equal(moved, again[1])
        for i in range(2):
            found = [
                (flip, k)
                for flip in (0, 1)
                for k in range(4)
                if torch.equal(
                    torch.rot90(images[i].flip(-1) if flip else images[i], k, (1, 2)), out[i]
                )
            ]
            assert len(found) == 1
            flip, k = found[0]
            assert torch.equal(
                torch.rot90(masks[i].flip(-1) if flip else masks[i], k, (0, 1)), moved[i]
            )
            seen.add(found[0])
    assert len(seen) == 8  # every symmetry of the square is drawn


def test_patch_transform_is_the_datamodules(tiny_release):
    from hrgldd_data.torchgeo import HRGLDDDataModule

    dm = HRGLDDDataModule(root=tiny_release, batch_size=4)
    dm.setup("fit")
    assert isinstance(dm.aug, PatchTransform) and isinstance(dm.train_aug, PatchTransform)
    assert dm.normalization == Normalization.from_release(open_archive(tiny_release))
    batch = next(iter(dm.train_dataloader()))
    out = dm.aug({"image": batch["image"].clone(), "site": batch["site"]})
    assert torch.equal(out["image"], dm.normalization(batch["image"]))
    assert out["site"] == batch["site"] and "mask" not in out
    with pytest.raises(ValueError, match="normalization must be one of"):
        HRGLDDDataModule(root=tiny_release, normalization="minmax")
