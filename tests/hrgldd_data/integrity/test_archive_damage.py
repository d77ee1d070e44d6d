"""Archive damage x every reader: each refuses a damaged release, naming the file and the fix.

Damage (see conftest): a flipped byte, a deleted shard, a truncated file, an extra file, tampered
``zarr.json`` attributes, corrupted split codes. Readers: ``open_archive``, ``open_release``,
TorchGeo ``HRGLDD``, the TFDS builder, ``baselines.run`` (training and scoring a submission),
``hrgldd info`` and ``hrgldd verify``. Nothing is written into the release, and no results.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from damage import DAMAGES, snapshot

import hrgldd_data
from hrgldd_cli import cli
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import ArchiveError

TINY = ["--epochs", "1", "--steps-per-epoch", "1", "--filters", "8", "--no-progress"]
FIX = ("Fix:", "rebuild", "pull")


def _assert_names_file_and_fix(message: str, rel: str) -> None:
    assert rel in message, f"the message must name {rel}: {message}"
    assert any(word in message for word in FIX), f"the message must give the fix: {message}"


def _assert_one_line_error(result, rel: str) -> None:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    _assert_names_file_and_fix(lines[0], rel)


@pytest.fixture
def submission(tiny_release, tmp_path):
    """A perfect submission for the undamaged release (ids and true masks)."""
    from baselines.submission import expected_ids

    release = open_archive(tiny_release)
    indices, ids = expected_ids(release)
    path = tmp_path / "perfect.npz"
    np.savez_compressed(path, ids=np.asarray(ids, dtype=str), masks=release.read(indices)[1])
    return path


def test_open_archive_refuses(damaged):
    path, rel, _ = damaged
    before = snapshot(path)
    with pytest.raises(ArchiveError) as err:
        open_archive(path)
    _assert_names_file_and_fix(str(err.value), rel)
    assert snapshot(path) == before


def test_open_release_refuses(damaged):
    path, rel, _ = damaged
    before = snapshot(path)
    with pytest.raises(ArchiveError) as err:
        hrgldd_data.open_release(path)
    _assert_names_file_and_fix(str(err.value), rel)
    assert snapshot(path) == before


def test_torchgeo_refuses(damaged):
    pytest.importorskip("torchgeo")
    from hrgldd_data.torchgeo import HRGLDD

    path, rel, _ = damaged
    before = snapshot(path)
    with pytest.raises(ArchiveError) as err:
        HRGLDD(root=path, split="test")
    _assert_names_file_and_fix(str(err.value), rel)
    assert snapshot(path) == before


def test_tfds_refuses(damaged, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from hrgldd_data.tfds.hr_gldd import HrGldd  # noqa: F401  (registers the builder)

    path, rel, _ = damaged
    before = snapshot(path)
    config = tfds.download.DownloadConfig(manual_dir=str(path.parent))
    with pytest.raises(ArchiveError) as err:
        tfds.load(
            "hr_gldd",
            split="test",
            data_dir=tmp_path / "tfds",
            download_and_prepare_kwargs={"download_config": config},
        )
    _assert_names_file_and_fix(str(err.value), rel)
    assert snapshot(path) == before
    assert not list((tmp_path / "tfds").rglob("dataset_info.json")), "nothing may be prepared"


def test_training_refuses(damaged, tmp_path):
    pytest.importorskip("torch")
    from baselines.run import main

    path, rel, _ = damaged
    before = snapshot(path)
    out = tmp_path / "results"
    result = CliRunner().invoke(
        main,
        ["--release", str(path), "--out", str(out), "--models", "unet", "--seeds", "0", *TINY],
    )
    _assert_one_line_error(result, rel)
    assert snapshot(path) == before and not out.exists()


def test_scoring_refuses(damaged, submission, tmp_path):
    """A perfect submission against a damaged release: refused, never a wrong score."""
    pytest.importorskip("torch")
    from baselines.run import main

    path, rel, _ = damaged
    before = snapshot(path)
    out = tmp_path / "results"
    result = CliRunner().invoke(
        main,
        [
            "--release",
            str(path),
            "--out",
            str(out),
            "--submission",
            str(submission),
            "--name",
            "perfect",
            "--no-progress",
        ],
    )
    _assert_one_line_error(result, rel)
    assert snapshot(path) == before and not out.exists()


@pytest.mark.parametrize("command", ["info", "verify"])
def test_cli_refuses(damaged, command):
    path, rel, _ = damaged
    before = snapshot(path)
    result = CliRunner().invoke(cli, [command, str(path)])
    _assert_one_line_error(result, rel)
    assert snapshot(path) == before


def test_every_damage_is_covered():
    """The damage list of the issue, so that none is dropped silently."""
    assert set(DAMAGES) == {
        "flipped_byte",
        "deleted_shard",
        "truncated_file",
        "extra_file",
        "tampered_attributes",
        "corrupted_split_codes",
    }


# -- the explicit opt-out: no manifest checks, but still never zeros or dropped patches ------------
def test_opt_out_deleted_shard_is_an_error_when_read(fresh_release):
    (fresh_release / "mask/c/1/0/0").unlink()
    release = open_archive(fresh_release, verify=False)  # explicit: no manifest checks
    with pytest.raises(ArchiveError, match=r"mask/c/1/0/0: listed in manifest.json but missing"):
        release.read(np.arange(len(release)))
    with pytest.raises(ArchiveError, match=r"mask/c/1/0/0"):
        release.load()


def test_opt_out_truncated_shard_is_an_error_naming_it(fresh_release):
    rel = "image/c/2/0/0/0"
    data = (fresh_release / rel).read_bytes()
    (fresh_release / rel).write_bytes(data[: len(data) // 2])
    release = open_archive(fresh_release, verify=False)
    with pytest.raises(ArchiveError, match=rf"{rel}: cannot be decoded.*hrgldd verify"):
        release.read([17, 3])


def test_opt_out_shard_deleted_after_open_is_an_error(fresh_release):
    release = open_archive(fresh_release)
    (fresh_release / "mask/c/2/0/0").unlink()
    with pytest.raises(ArchiveError, match=r"mask/c/2/0/0: listed in manifest.json but missing"):
        release.read([20])


def test_opt_out_corrupt_split_codes_never_drop_patches(fresh_release):
    import zarr

    array = zarr.open_array(fresh_release / "split", mode="r+")
    codes = array[:]
    codes[0] = 7  # no such split: the patch would silently vanish from every selection
    array[:] = codes
    with pytest.raises(ArchiveError, match=r"split/: codes outside 0\.\.3"):
        open_archive(fresh_release, verify=False)


def test_opt_out_moved_split_codes_disagree_with_recorded_counts(fresh_release):
    corrupt = DAMAGES["corrupted_split_codes"]
    corrupt(fresh_release)
    with pytest.raises(ArchiveError, match=r"split/ holds .* zarr.json records"):
        open_archive(fresh_release, verify=False)


def test_verify_must_be_a_known_choice(fresh_release):
    with pytest.raises(ValueError, match="verify must be True, False or 'full'"):
        open_archive(fresh_release, verify="sometimes")


def test_undamaged_release_opens_and_matches(fresh_release, tiny_release):
    """The control: the same readers accept the undamaged copy, byte for byte."""
    ours, theirs = open_archive(fresh_release), open_archive(tiny_release, verify="full")
    assert all(
        np.array_equal(a, b)
        for a, b in zip(ours.read(np.arange(30)), theirs.read(np.arange(30)), strict=True)
    )
    result = CliRunner().invoke(cli, ["verify", str(fresh_release)])
    assert result.exit_code == 0 and "OK" in result.output
