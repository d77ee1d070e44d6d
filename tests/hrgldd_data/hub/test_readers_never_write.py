"""Releases are never modified by readers: not a local release, not a pulled copy in the cache.

Every reader runs over a release (the archive API, TorchGeo, TFDS, ``baselines.run`` training
and scoring, ``hrgldd info`` and ``verify``); afterwards every file has the same bytes and
modification time and nothing was added. Only the explicit ``hrgldd card`` writes into a
release, and only into a local one: a pulled copy is refused.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hub_server import REPO

import hrgldd_data
from hrgldd_cli import cli
from hrgldd_data.archive import open_archive
from hrgldd_data.hub import publish, pull
from hrgldd_data.hub.cache import repo_cache
from hrgldd_data.manifest import verify_release

TINY = ["--epochs", "1", "--steps-per-epoch", "1", "--filters", "8", "--no-progress"]


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file (sha256, modification time) and folder below ``root``."""
    entries: dict[str, tuple[str, int]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            entries[rel + "/"] = ("folder", 0)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries[rel] = (digest, path.stat().st_mtime_ns)
    return entries


def _every_reader(release: Path, tmp_path: Path) -> None:
    """Open, read, load, train on and score ``release`` through every entry point."""
    opened = open_archive(release)
    opened.read(np.arange(len(opened)))
    opened.load()
    open_archive(release, verify="full")
    hrgldd_data.open_release(release)
    for command in (
        ["info", str(release)],
        ["info", str(release), "--json"],
        ["verify", str(release)],
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output

    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from baselines.run import main
    from baselines.submission import expected_ids
    from hrgldd_data.torchgeo import HRGLDD, HRGLDDDataModule

    for batch in DataLoader(HRGLDD(root=release, split="train"), batch_size=8):
        assert batch["image"].shape[1:] == (4, 128, 128)
    datamodule = HRGLDDDataModule(root=release, batch_size=4)
    datamodule.setup("fit")
    next(iter(datamodule.train_dataloader()))

    out = tmp_path / "results"
    result = CliRunner().invoke(
        main,
        ["--release", str(release), "--out", str(out), "--models", "unet", "--seeds", "0", *TINY],
    )
    assert result.exit_code == 0, result.output
    indices, ids = expected_ids(opened)
    submission = tmp_path / "preds.npz"
    np.savez_compressed(submission, ids=np.asarray(ids, dtype=str), masks=opened.read(indices)[1])
    result = CliRunner().invoke(
        main,
        ["--release", str(release), "--out", str(out), "--submission", str(submission)]
        + ["--name", "mine", "--no-progress"],
    )
    assert result.exit_code == 0, result.output

    tfds = pytest.importorskip("tensorflow_datasets")
    from hrgldd_data.tfds.hr_gldd import HrGldd  # noqa: F401

    config = tfds.download.DownloadConfig(manual_dir=str(release))
    ds = tfds.load(
        "hr_gldd",
        split="test",
        data_dir=tmp_path / "tfds",
        download_and_prepare_kwargs={"download_config": config},
    )
    assert int(ds.cardinality()) == len(opened.indices("test"))


def test_readers_never_write_into_a_local_release(tiny_release, tmp_path):
    release = tmp_path / "releases" / tiny_release.name
    shutil.copytree(tiny_release, release)
    before = _snapshot(release)
    _every_reader(release, tmp_path)
    assert _snapshot(release) == before


def test_readers_never_write_into_the_pull_cache(hub, releases, tmp_path, monkeypatch):
    publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    cache = repo_cache(REPO)
    before = _snapshot(cache)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _every_reader(path, tmp_path)
    hrgldd_data.open_release(version="1.0.0", repo=REPO)
    assert pull("1.0.0", REPO) == path
    assert _snapshot(cache) == before


def test_card_command_refuses_a_pulled_release(hub, releases):
    publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    before = _snapshot(path)
    result = CliRunner().invoke(cli, ["card", str(path)])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert str(path) in lines[0] and "never modified" in lines[0] and "Copy the release" in lines[0]
    assert _snapshot(path) == before
    verify_release(path)


def test_card_command_writes_only_presentation_files_of_a_local_release(tiny_release, tmp_path):
    release = tmp_path / tiny_release.name
    shutil.copytree(tiny_release, release)
    before = _snapshot(release)
    result = CliRunner().invoke(cli, ["card", str(release)])
    assert result.exit_code == 0, result.output
    after = _snapshot(release)
    changed = {rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel)}
    assert changed <= {"README.md", "croissant.json"}
    verify_release(release)
