"""The ``hr_gldd`` TFDS builder on real release shapes (TFDS's own test case on the dummy data is
``hrgldd_data/tfds/hr_gldd/hr_gldd_dataset_builder_test.py``, beside the builder)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from hrgldd_data import ReleaseNotFoundError  # noqa: E402
from hrgldd_data.archive import open_archive  # noqa: E402
from hrgldd_data.manifest import read_manifest  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def _load(name: str, manual_dir: Path | None, data_dir: Path, **kwargs):
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir) if manual_dir else None)
    return tfds.load(
        name, data_dir=data_dir, download_and_prepare_kwargs={"download_config": config}, **kwargs
    )


def _assert_matches_archive(examples, release) -> None:
    for ex in examples:
        index = int(ex["index"])
        image, mask = release.read([index])
        assert ex["image"].dtype == np.uint16 and ex["image"].shape == (128, 128, 4)
        assert np.array_equal(ex["image"], image[0].transpose(1, 2, 0))
        assert np.array_equal(ex["mask"][..., 0], mask[0])
        assert ex["site"].decode() == release.site_of(index)
        assert ex["patch_id"].decode() == release.patch_id(index)


def test_sample_release_splits_and_bytes(sample_release, tmp_path):
    release = open_archive(sample_release)
    counts = read_manifest(sample_release)["counts"]
    splits = _load("hr_gldd/sample:1.0.0", sample_release.parent, tmp_path, split=None)
    expected = {
        "train": counts["splits"]["train"],
        "validation": counts["splits"]["val"],
        "test": counts["splits"]["test"],
    }
    for test_set in release.test_sets((2, 3)):
        prefix = "test" if test_set.collection == 2 else "unseen"
        expected[f"{prefix}_{test_set.name}"] = len(test_set)
    sizes = {name: int(ds.cardinality()) for name, ds in splits.items()}
    assert sizes == {k: v for k, v in expected.items() if v}
    assert (
        len([k for k in sizes if k.startswith("test_")]) == 8
        and len([k for k in sizes if k.startswith("unseen_")]) == 2
    )
    _assert_matches_archive(tfds.as_numpy(splits["unseen_haiti_2021"].take(5)), release)
    ex = next(iter(tfds.as_numpy(splits["test"].take(1))))
    crs, bounds = release.bounds(int(ex["index"]))
    assert ex["crs"].decode() == crs and np.allclose(ex["bounds"], bounds)
    image, mask = next(
        iter(tfds.as_numpy(splits["train"].map(lambda e: (e["image"], e["mask"])).take(1)))
    )
    assert image.shape == (128, 128, 4) and mask.shape == (128, 128, 1)


def test_legacy_import_is_version_0_9_0(imported_legacy, tmp_path):
    release = open_archive(imported_legacy)
    counts = read_manifest(imported_legacy)["counts"]["splits"]
    splits = _load("hr_gldd:0.9.0", imported_legacy, tmp_path, split=None)
    assert {k: int(v.cardinality()) for k, v in splits.items()} == {
        "train": counts["train"],
        "validation": counts["val"],
        "test": counts["test"],
    }
    examples = list(tfds.as_numpy(splits["test"]))
    _assert_matches_archive(examples, release)
    assert all(ex["crs"] == b"" and np.isnan(ex["bounds"]).all() for ex in examples)
    pairs = _load("hr_gldd:0.9.0", imported_legacy, tmp_path, split="train", as_supervised=True)
    image, mask = next(iter(tfds.as_numpy(pairs)))
    assert image.dtype == np.uint16 and mask.shape == (128, 128, 1)


def _train_indices(root: Path) -> list[int]:
    return open_archive(root).indices("train").tolist()


def test_every_local_version_is_a_builder_version(versioned_root, tmp_path, monkeypatch):
    """Versions come from the releases found (here HRGLDD_ARCHIVE), newest by default."""
    monkeypatch.setenv("HRGLDD_ARCHIVE", str(versioned_root))
    builder = tfds.builder("hr_gldd", data_dir=tmp_path)
    assert str(builder.version) == "1.1.0"
    assert [str(v) for v in builder.versions] == ["1.1.0", "1.0.0"]
    assert set(builder.release_notes) == {"1.0.0", "1.1.0"}
    for name, version in (
        ("hr_gldd", "1.1.0"),
        ("hr_gldd:1.0.0", "1.0.0"),
        ("hr_gldd:1.1.0", "1.1.0"),
    ):
        ds = _load(name, None, tmp_path, split="train")
        indices = sorted(int(ex["index"]) for ex in tfds.as_numpy(ds))
        assert indices == _train_indices(versioned_root / f"hr_gldd-{version}")
    # a version that exists nowhere: the resolver's message, naming where it looked
    with pytest.raises(ReleaseNotFoundError, match=r"hr_gldd 9\.9\.9.*HRGLDD_ARCHIVE="):
        _load("hr_gldd:9.9.9", None, tmp_path, split="train")


def test_config_and_release_name_must_agree(tmp_path, monkeypatch):
    """HRGLDD_ARCHIVE naming the sample is never prepared as hr_gldd/full."""
    from factories import make_release

    sample = make_release(tmp_path / "releases", name="hr_gldd_sample", version="1.0.0")
    monkeypatch.setenv("HRGLDD_ARCHIVE", str(sample))
    data_dir = tmp_path / "tfds"
    with pytest.raises(ReleaseNotFoundError, match=r"read by `hr_gldd/sample`, not `hr_gldd/full`"):
        _load("hr_gldd", None, data_dir, split="train")
    assert not list(data_dir.glob("hr_gldd/full/*/dataset_info.json")), "nothing prepared"
    with pytest.raises(ReleaseNotFoundError, match="holds hr_gldd_sample 1.0.0, not hr_gldd"):
        _load("hr_gldd:1.0.0", sample, data_dir, split="train")
    ds = _load("hr_gldd/sample", None, data_dir, split="train")
    assert sorted(int(ex["index"]) for ex in tfds.as_numpy(ds)) == _train_indices(sample)


def test_missing_release_says_where_it_looked(tmp_path):
    with pytest.raises(ReleaseNotFoundError, match="manual_dir"):
        _load("hr_gldd", tmp_path / "empty", tmp_path / "tfds", split="train")


def test_data_source_works_with_no_file_format(tiny_release, tmp_path):
    """One preparation serves tfds.load (TFRecord) and tfds.data_source (ArrayRecord)."""
    config = tfds.download.DownloadConfig(manual_dir=str(tiny_release))
    source = tfds.data_source(
        "hr_gldd",
        split="unseen_gamma_2021",
        data_dir=tmp_path,
        download_and_prepare_kwargs={"download_config": config},
    )
    release = open_archive(tiny_release)
    assert len(source) == len(release.indices("unseen"))
    _assert_matches_archive([source[7], source[2]], release)
    ds = tfds.load("hr_gldd", split="unseen_gamma_2021", data_dir=tmp_path, download=False)
    _assert_matches_archive(tfds.as_numpy(ds), release)
    # and when the version is read back from files alone (no builder code involved)
    again = tfds.data_source("hr_gldd:1.0.0", split="test", data_dir=tmp_path, download=False)
    _assert_matches_archive([again[0]], release)
    formats = tfds.builder("hr_gldd:1.0.0", data_dir=tmp_path).info.available_file_formats()
    assert {f.value for f in formats} == {"tfrecord", "array_record"}


def _run(code: str, *flags: str) -> str:
    result = subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_registers_without_importing_tfds():
    out = _run(
        "import sys, hrgldd_data\n"
        "print('tfds imported:', 'tensorflow_datasets' in sys.modules)\n"
        "import tensorflow_datasets as tfds\n"
        "print('registered:', 'hr_gldd' in tfds.list_builders(with_community_datasets=False))\n"
    )
    assert "tfds imported: False" in out and "registered: True" in out
    out = _run(
        "import tensorflow_datasets as tfds, hrgldd_data\n"
        "print('registered:', 'hr_gldd' in tfds.list_builders(with_community_datasets=False))\n"
    )
    assert "registered: True" in out


def test_data_source_where_tensorflow_is_not_installed(tiny_release, tmp_path):
    """With no TensorFlow at all the builder writes ArrayRecord by itself (no file_format)."""
    site = Path(tfds.__file__).resolve().parents[1]
    view = tmp_path / "site"
    view.mkdir()
    for entry in site.iterdir():
        if (
            not entry.name.startswith(("tensorflow-", "tensorflow_cpu", "tf_keras"))
            and entry.name != "tensorflow"
        ):
            (view / entry.name).symlink_to(entry)
    code = (
        f"import sys; sys.path[:0] = [{str(view)!r}, {str(ROOT)!r}]\n"
        "import importlib.util; assert importlib.util.find_spec('tensorflow') is None\n"
        "import hrgldd_data, tensorflow_datasets as tfds\n"
        f"cfg = tfds.download.DownloadConfig(manual_dir={str(tiny_release)!r})\n"
        f"src = tfds.data_source('hr_gldd', split='test', data_dir={str(tmp_path / 'tfds')!r},"
        " download_and_prepare_kwargs={'download_config': cfg})\n"
        "ex = src[1]\n"
        "print(len(src), int(ex['index']), 'tensorflow' in sys.modules)\n"
    )
    out = _run(code, "-S").split()
    release = open_archive(tiny_release)
    assert int(out[-3]) == len(release.indices("test")) and out[-1] == "False"
    source = tfds.data_source(
        "hr_gldd:1.0.0", split="test", data_dir=tmp_path / "tfds", download=False
    )
    _assert_matches_archive([source[1]], release)
    assert int(source[1]["index"]) == int(out[-2])
