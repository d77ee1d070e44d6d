"""The TorchGeo dataset, datamodule and raw-scene datasets on small releases."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hrgldd_data.archive import open_archive
from hrgldd_data.manifest import read_manifest

tg = pytest.importorskip("hrgldd_data.torchgeo")
from torchgeo.datasets import DatasetNotFoundError  # noqa: E402
from torchgeo.datasets.errors import RGBBandsMissingError  # noqa: E402

HRGLDD, HRGLDDDataModule = tg.HRGLDD, tg.HRGLDDDataModule
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_split_lengths_match_manifest(tiny_release, split):
    counts = read_manifest(tiny_release)["counts"]
    assert len(HRGLDD(tiny_release, split=split)) == counts["splits"][split]


def test_collection_lengths_match_manifest(tiny_release):
    counts = read_manifest(tiny_release)["counts"]
    assert len(HRGLDD(tiny_release, split="test", collection=1)) == counts["splits"]["test"]
    for site in ("alpha_2018", "beta_2019"):
        ds = HRGLDD(tiny_release, split="test", collection=2, sites=site)
        assert len(ds) == counts["sites"][site]["test"] > 0
        assert {ds[i]["site"] for i in range(len(ds))} == {site}
    assert len(HRGLDD(tiny_release, split="test", collection=2)) == counts["splits"]["test"]
    unseen = HRGLDD(tiny_release, split="test", collection=3)
    assert len(unseen) == counts["splits"]["unseen"] == counts["sites"]["gamma_2021"]["total"]


def test_sample_values_match_archive_bytes(tiny_release):
    release = open_archive(tiny_release)
    ds = HRGLDD(tiny_release, split="val")
    for i in range(len(ds)):
        sample = ds[i]
        image, mask = release.read([sample["index"]])
        assert sample["image"].dtype == torch.float32 and sample["image"].shape == (4, 128, 128)
        assert sample["mask"].dtype == torch.int64 and sample["mask"].shape == (128, 128)
        assert np.array_equal(sample["image"].numpy().astype(np.uint16), image[0])
        assert np.array_equal(sample["mask"].numpy().astype(np.uint8), mask[0])
        assert sample["site"] == release.site_of(sample["index"])
        crs, bounds = release.bounds(sample["index"])
        assert sample["crs"] == crs
        assert tuple(sample["bounds"].tolist()) == pytest.approx(bounds)


def test_bands_are_returned_in_the_order_asked(tiny_release):
    full = HRGLDD(tiny_release)[0]["image"]
    nir_red = HRGLDD(tiny_release, bands=("nir", "red"))[0]["image"]
    assert torch.equal(nir_red, full[[3, 0]])


def test_legacy_release_serves_collection_1_only(legacy_release):
    counts = read_manifest(legacy_release)["counts"]
    for split in ("train", "val", "test"):
        assert len(HRGLDD(legacy_release, split=split)) == counts["splits"][split]
    ds = HRGLDD(legacy_release, split="test", collection=1)
    sample = ds[0]
    assert sample["site"] == "unknown" and "crs" not in sample and "bounds" not in sample
    batch = HRGLDD.collate(ds.__getitems__([0, 1]))  # the datamodule's batches: same keys
    assert set(batch) == {"image", "mask", "site", "index"} and batch["site"] == ["unknown"] * 2
    release = open_archive(legacy_release)
    assert np.array_equal(
        sample["image"].numpy().astype(np.uint16), release.read([sample["index"]])[0][0]
    )
    with pytest.raises(ValueError, match="collection 1 only"):
        HRGLDD(legacy_release, split="test", collection=2)


def test_versions_resolve(versioned_root):
    assert HRGLDD(versioned_root).version == "1.1.0"
    old = HRGLDD(versioned_root, version="1.0.0")
    assert (
        old.version == "1.0.0"
        and len(old) == read_manifest(old.release.path)["counts"]["splits"]["train"]
    )
    with pytest.raises(DatasetNotFoundError):
        HRGLDD(versioned_root, version="9.9.9")


def test_environment_variable_names_the_archive(tiny_release, monkeypatch):
    monkeypatch.setenv("HRGLDD_ARCHIVE", str(tiny_release))
    assert HRGLDD().release.path == tiny_release


def test_missing_data_raises_dataset_not_found_with_hrgldds_message(tmp_path, versioned_root):
    from hrgldd_data.errors import ReleaseNotFoundError

    with pytest.raises(DatasetNotFoundError, match="no such release directory") as err:
        HRGLDD(tmp_path / "nothing")
    assert isinstance(err.value, ReleaseNotFoundError), "the hrgldd command catches it too"
    assert "download=True" in str(err.value) and "linked into root" in str(err.value)
    with pytest.raises(DatasetNotFoundError, match=r"holds hr_gldd 1\.0\.0, hr_gldd 1\.1\.0"):
        HRGLDD(versioned_root, version="2.0.0")
    with pytest.raises(DatasetNotFoundError, match=r"Looked at .*the pull cache.*hrgldd pull"):
        HRGLDD(version="2.0.0")


def test_arguments_follow_torchgeos_order(tiny_release):
    import inspect

    names = list(inspect.signature(HRGLDD).parameters)
    assert names[:6] == ["root", "split", "bands", "transforms", "download", "checksum"]
    assert names[6:] == ["collection", "sites", "version", "name", "repo"]
    ds = HRGLDD(tiny_release, "val", ("nir", "red"), None, False, True)
    assert ds.split == "val" and ds[0]["image"].shape == (2, 128, 128)


def test_any_release_name_opens_without_naming_it(tmp_path):
    from factories import make_release

    sample = make_release(tmp_path, name="hr_gldd_sample", version="1.0.0")
    assert HRGLDD(tmp_path).release.name == "hr_gldd_sample"
    assert HRGLDD(sample, name="hr_gldd_sample").release.path == sample
    with pytest.raises(
        DatasetNotFoundError, match="holds hr_gldd_sample 1.0.0, not the newest hr_gldd"
    ):
        HRGLDD(sample, name="hr_gldd")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "validation"}, r"\['train', 'val', 'test'\]"),
        ({"split": "test", "collection": 4}, r"\[1, 2, 3\]"),
        ({"split": "train", "collection": 3}, "use split='test'"),
        ({"bands": ("red", "swir")}, r"\['red', 'green', 'blue', 'nir'\]"),
        (
            {"split": "test", "collection": 3, "sites": ["alpha_2018"]},
            r"unseen events \['gamma_2021'\]",
        ),
        ({"split": "test", "collection": 1, "sites": ["alpha_2018"]}, "collection=2"),
        ({"sites": ["nowhere"]}, "release sites"),
    ],
)
def test_bad_arguments_name_the_choices(tiny_release, kwargs, message):
    with pytest.raises(ValueError, match=message):
        HRGLDD(tiny_release, **kwargs)


def test_transforms_and_pickling(tiny_release):
    ds = HRGLDD(tiny_release, transforms=lambda s: s | {"image": s["image"] * 0})
    assert ds[0]["image"].abs().sum() == 0
    plain = HRGLDD(tiny_release, split="test")
    copy = pickle.loads(pickle.dumps(plain))
    assert torch.equal(copy[1]["image"], plain[1]["image"])
    with pytest.raises(IndexError):
        plain[len(plain)]


def test_dataloader_with_a_worker(tiny_release):
    ds = HRGLDD(tiny_release).preload()
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, num_workers=1)
    seen = sorted(int(i) for batch in loader for i in batch["index"])
    assert seen == sorted(ds.indices.tolist())


def test_plot_panels(tiny_release):
    import matplotlib.pyplot as plt

    ds = HRGLDD(tiny_release)
    sample = ds[0]
    fig = ds.plot(sample, suptitle="x")
    assert [ax.get_title() for ax in fig.axes] == [
        "True colour (R,G,B)",
        "False colour (NIR,R,G)",
        "Mask",
    ]
    fig2 = ds.plot(sample | {"prediction": sample["mask"]}, show_titles=False)
    assert len(fig2.axes) == 4
    plt.close("all")
    no_rgb = HRGLDD(tiny_release, bands=("nir",))
    with pytest.raises(RGBBandsMissingError):
        no_rgb.plot(no_rgb[0])


def test_datamodule_normalizes_with_release_statistics(tiny_release):
    release = open_archive(tiny_release)
    dm = HRGLDDDataModule(root=tiny_release, batch_size=4, normalization="standardize")
    dm.setup("fit")
    mean, std = release.normalization
    assert torch.allclose(dm.mean, torch.as_tensor(mean)) and torch.allclose(
        dm.std, torch.as_tensor(std)
    )
    batch = next(iter(dm.train_dataloader()))
    out = dm.aug({"image": batch["image"].clone(), "mask": batch["mask"].clone()})
    expected = (batch["image"] - dm.mean[:, None, None]) / dm.std[:, None, None]
    assert torch.allclose(out["image"], expected, atol=1e-4)


def test_train_augmentations_keep_masks_exact(tiny_release):
    torch.manual_seed(0)
    dm = HRGLDDDataModule(root=tiny_release, batch_size=4)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    seen = set()
    for _ in range(8):
        out = dm.train_aug({"image": batch["image"].clone(), "mask": batch["mask"].clone()})
        assert out["mask"].shape == batch["mask"].shape
        for m0, m1, x0, x1 in zip(
            batch["mask"], out["mask"], batch["image"], out["image"], strict=True
        ):
            found = [
                (flip, k)
                for flip in (False, True)
                for k in range(4)
                if torch.equal(torch.rot90(m0.flip(-1) if flip else m0, k, (-2, -1)), m1)
            ]
            assert found, "mask was not moved by a flip or a quarter turn"
            flip, k = found[0]
            moved = torch.rot90(x0.flip(-1) if flip else x0, k, (-2, -1))
            assert torch.allclose(dm.normalization(moved), x1, atol=1e-3)
            seen.add((flip, k))
    assert len(seen) > 2


def test_datamodule_test_loaders_cover_the_collections(tiny_release, legacy_release):
    dm = HRGLDDDataModule(root=tiny_release, batch_size=3)
    dm.setup("test")
    assert dm.test_set_keys == ["c1/test", "c2/alpha_2018", "c2/beta_2019", "c3/gamma_2021"]
    loaders = dm.test_dataloader()
    release = open_archive(tiny_release)
    for key, loader in zip(dm.test_set_keys, loaders, strict=True):
        wanted = {t.key: t for t in release.test_sets()}[key]
        assert sorted(int(i) for b in loader for i in b["index"]) == wanted.indices.tolist()
    legacy = HRGLDDDataModule(root=legacy_release, sites=None)
    legacy.setup("test")
    assert legacy.test_set_keys == ["c1/test"]
    with pytest.raises(ValueError, match="chosen by the datamodule"):
        HRGLDDDataModule(root=tiny_release, split="train")


def _write_scene(path, transform, crs="EPSG:32643"):
    import rasterio

    data = np.stack([np.full((64, 64), v, np.uint16) for v in (10, 20, 30, 40)])  # B, G, R, NIR
    profile = {
        "driver": "GTiff",
        "width": 64,
        "height": 64,
        "count": 4,
        "dtype": "uint16",
        "crs": crs,
        "transform": transform,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def test_raw_scenes_and_inventory_give_new_patches(tmp_path):
    import geopandas as gpd
    import shapely
    from rasterio.transform import from_origin
    from torchgeo.datasets import stack_samples
    from torchgeo.samplers import GridGeoSampler

    transform = from_origin(500000, 1000000, 3, 3)
    (tmp_path / "scenes").mkdir()
    _write_scene(tmp_path / "scenes" / "20180816_scene.tif", transform)
    # two slides in opposite corners, so that the inventory spans the scene; stored in lon/lat
    slides = [
        shapely.box(500030, 999940, 500090, 999970),
        shapely.box(500150, 999808, 500180, 999838),
    ]
    gpd.GeoDataFrame(geometry=slides, crs="EPSG:32643").to_crs("EPSG:4326").to_file(
        tmp_path / "inventory.gpkg"
    )

    scenes = tg.PlanetScopeScenes(tmp_path / "scenes")
    inventory = tg.LandslideInventory(tmp_path / "inventory.gpkg", crs=scenes.crs, res=scenes.res)
    both = scenes & inventory
    sampler = GridGeoSampler(both, size=32, stride=32)
    samples = [both[q] for q in sampler]
    assert len(samples) >= 4
    batch = stack_samples(samples)
    assert batch["image"].shape[1:] == (4, 32, 32)
    assert batch["image"][0, :, 0, 0].tolist() == [30, 20, 10, 40]  # R, G, B, NIR
    assert set(batch["mask"].unique().tolist()) == {0, 1}
    with pytest.raises(ValueError, match="scene_bands"):
        tg.PlanetScopeScenes(tmp_path / "scenes", scene_bands=("red", "green", "blue", "swir"))
    with pytest.raises(DatasetNotFoundError):
        tg.PlanetScopeScenes(tmp_path / "empty")


@pytest.mark.parametrize("fixture", ["sample_release", "imported_legacy"])
def test_built_sample_and_imported_legacy(fixture, request):
    path = request.getfixturevalue(fixture)
    release = open_archive(path)
    counts = read_manifest(path)["counts"]["splits"]
    for split in ("train", "val", "test"):
        ds = HRGLDD(path, split=split)
        assert len(ds) == counts[split]
        for i in (0, len(ds) - 1):
            sample = ds[i]
            image, mask = release.read([sample["index"]])
            assert np.array_equal(sample["image"].numpy().astype(np.uint16), image[0])
            assert np.array_equal(sample["mask"].numpy().astype(np.uint8), mask[0])
    for test_set in release.test_sets():
        sites = None if test_set.collection == 1 else [test_set.name]
        ds = HRGLDD(path, split="test", collection=test_set.collection, sites=sites)
        assert ds.indices.tolist() == test_set.indices.tolist()
    assert {t.collection for t in release.test_sets()} == ({1} if release.legacy else {1, 2, 3})


def test_collate_matches_default_collate_without_copying(tiny_release):
    from torch.utils.data import DataLoader

    ds = HRGLDD(tiny_release, split="train")
    ours = next(iter(DataLoader(ds, batch_size=5, collate_fn=HRGLDD.collate)))
    plain = next(iter(DataLoader(ds, batch_size=5)))
    assert ours.keys() == plain.keys()
    for key, value in plain.items():
        assert (
            torch.equal(ours[key], value) if isinstance(value, torch.Tensor) else ours[key] == value
        )
    samples = ds.__getitems__([3, 1, 2])
    for sample, i in zip(samples, [3, 1, 2], strict=True):  # each as __getitem__ gives it
        alone = ds[i]
        assert sample.keys() == alone.keys() and sample["index"] == alone["index"]
        assert torch.equal(sample["image"], alone["image"]) and sample["site"] == alone["site"]
    batch = HRGLDD.collate(samples)
    assert batch["image"].data_ptr() == samples[0]["image"].data_ptr()  # no copy, no stacking
    assert batch["index"].tolist() == [s["index"] for s in samples] and len(samples[1:]) == 2
    moved = [s | {"image": s["image"] + 0} for s in samples]  # not rows of one tensor any more
    assert torch.equal(HRGLDD.collate(moved)["image"], HRGLDD.collate(samples)["image"])
    dm = HRGLDDDataModule(root=tiny_release, batch_size=4, num_workers=1)
    dm.setup("fit")
    assert dm.train_dataset._images is not None  # decoded before workers fork
    assert sum(len(b["image"]) for b in dm.train_dataloader()) == 12


def test_task_scores_each_test_set_as_the_evaluator_does(tiny_release):
    """The stock trainer's test loop gives, per test set, the product's evaluator's scores."""
    from per_test_set import check_per_test_set_scores

    assert set(check_per_test_set_scores(tiny_release)) == {
        "c1/test",
        "c2/alpha_2018",
        "c2/beta_2019",
        "c3/gamma_2021",
    }


def test_lightning_cli_config_trains_a_baseline(tiny_release, tmp_path):
    """`torchgeo fit --config configs/torchgeo/hrgldd_unet.yaml`, one step, then `torchgeo test`."""
    from torchgeo.main import main

    config = ROOT / "configs" / "torchgeo" / "hrgldd_unet.yaml"
    common = [
        "--config",
        str(config),
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--trainer.logger=false",
        f"--data.dict_kwargs.root={tiny_release}",
    ]
    main(["fit", *common, "--trainer.max_steps=1", "--trainer.limit_val_batches=1"])
    checkpoints = list(tmp_path.rglob("*.ckpt"))
    assert len(checkpoints) == 1
    main(["test", *common, f"--ckpt_path={checkpoints[0]}"])
