"""Submissions: scored with the baselines' evaluator; a malformed one is refused unwritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from baselines.evaluate import score_arrays
from baselines.run import main
from baselines.submission import SubmissionError, expected_ids, score_submission
from hrgldd_data.archive import open_archive

FILES = ("results.json", "results.csv", "leaderboard.md")


@pytest.fixture
def board(scored_board, tmp_path) -> Path:
    """A private copy of the trained leaderboard (``<out>/hr_gldd-1.0.0``)."""
    folder = tmp_path / "out" / scored_board.name
    shutil.copytree(scored_board, folder)
    return folder


@pytest.fixture
def truth(tiny_release) -> tuple[list[str], np.ndarray]:
    release = open_archive(tiny_release)
    indices, ids = expected_ids(release)
    return ids, release.read(indices)[1]


def _save(path: Path, ids, masks) -> Path:
    np.savez_compressed(path, ids=np.asarray(ids, dtype=str), masks=masks)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


def test_perfect_masks_score_one_and_join_the_board(tiny_release, board, truth, tmp_path):
    ids, masks = truth
    path = _save(
        tmp_path / "perfect.npz", ids[::-1], masks[::-1].astype(bool)
    )  # order does not matter
    result = CliRunner().invoke(
        main,
        [
            "--release",
            str(tiny_release),
            "--out",
            str(board.parent),
            "--submission",
            str(path),
            "--name",
            "oracle",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((board / "results.json").read_text())
    assert data["entries"]["oracle"]["kind"] == "submission"
    rows = [r for r in data["rows"] if r["entry"] == "oracle"]
    assert {(r["collection"], r["test_set"]) for r in rows} == {
        (1, "test"),
        (2, "alpha_2018"),
        (2, "beta_2019"),
        (3, "gamma_2021"),
    }
    assert all(
        r["f1"] == r["iou"] == 1.0 and r["pb_f1"] == pytest.approx(1.0) for r in rows
    )  # Keras ε in per-batch
    assert "oracle" in (board / "leaderboard.md").read_text() and "oracle" in result.output
    assert len(data["rows"]) == 4 * 3  # two baselines and the submission


def test_probabilities_in_zarr_use_the_same_evaluator(tiny_release, board, truth, tmp_path):
    import zarr

    ids, masks = truth
    rng = np.random.default_rng(0)
    probs = np.clip(masks * 0.7 + rng.uniform(0, 0.6, masks.shape), 0, 1).astype(np.float32)
    group = zarr.open_group(str(tmp_path / "preds.zarr"), mode="w")
    group.create_array("ids", data=np.asarray(ids, dtype=np.dtypes.StringDType()))
    group.create_array("masks", data=probs)
    release = open_archive(tiny_release)
    _, rows = score_submission(release, board, tmp_path / "preds.zarr", "noisy")
    mixed = next(r for r in rows if r["collection"] == 1)
    test = release.indices("test")
    expected = score_arrays(
        probs[np.searchsorted(expected_ids(release)[0], test)], release.read(test)[1]
    )
    assert mixed["f1"] == pytest.approx(expected["pooled"]["f1"]) and mixed[
        "pb_f1"
    ] == pytest.approx(expected["per_batch"]["f1"])
    assert 0 < mixed["f1"] < 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("shape", "shape"),
        ("missing", "missing"),
        ("extra", "not scored test patches"),
        ("duplicate", "more than once"),
        ("nan", "NaN"),
        ("range", "outside|span"),
        ("object_ids", "pickle|strings"),
        ("no_masks", "missing"),
    ],
)
def test_malformed_submissions_change_nothing(tiny_release, board, truth, tmp_path, case, message):
    ids, masks = truth
    ids, values = list(ids), masks.astype(np.float32)
    path = tmp_path / "bad.npz"
    if case == "shape":
        _save(path, ids, values[:, :64])
    elif case == "missing":
        _save(path, ids[1:], values[1:])
    elif case == "extra":
        _save(path, [*ids, "nowhere_s0_r0_c0"], np.concatenate([values, values[:1]]))
    elif case == "duplicate":
        _save(path, [*ids[:-1], ids[0]], values)
    elif case == "nan":
        values[2, 5, 5] = np.nan
        _save(path, ids, values)
    elif case == "range":
        values[0] *= 255
        _save(path, ids, values)
    elif case == "object_ids":
        np.savez(path, ids=np.asarray(ids, dtype=object), masks=values)
    elif case == "no_masks":
        np.savez(path, ids=np.asarray(ids, dtype=str), predictions=values)
    before = _snapshot(board)
    with pytest.raises(SubmissionError, match=message):
        score_submission(open_archive(tiny_release), board, path, "bad")
    assert _snapshot(board) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [("unet", "already on the leaderboard"), ("has space", "--name"), ("", "--name")],
)
def test_taken_or_bad_names_are_refused(tiny_release, board, truth, tmp_path, name, message):
    ids, masks = truth
    path = _save(tmp_path / "ok.npz", ids, masks)
    before = _snapshot(board)
    result = CliRunner().invoke(
        main,
        [
            "--release",
            str(tiny_release),
            "--out",
            str(board.parent),
            "--submission",
            str(path),
            "--name",
            name,
            "--no-progress",
        ],
    )
    assert result.exit_code != 0 and message in result.output
    assert _snapshot(board) == before


def test_a_name_is_taken_once(tiny_release, board, truth, tmp_path):
    ids, masks = truth
    path = _save(tmp_path / "ok.npz", ids, masks)
    release = open_archive(tiny_release)
    score_submission(release, board, path, "mine")
    before = _snapshot(board)
    with pytest.raises(SubmissionError, match="already on the leaderboard"):
        score_submission(release, board, path, "mine")
    assert _snapshot(board) == before


def test_list_test_ids(tiny_release, truth):
    result = CliRunner().invoke(main, ["--release", str(tiny_release), "--list-test-ids"])
    assert result.exit_code == 0 and result.output.split() == list(truth[0])
