"""Leaderboards reach the Hub without touching a release: one commit on main per leaderboard,
tags never moved, the card on main shows the scores, later versions keep them, ``versions`` says
which versions have scores, and scores of other bytes or edited results are refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hub_server import REPO

from hrgldd_cli import cli
from hrgldd_data.hub import leaderboards, publish, pull
from hrgldd_data.manifest import verify_release

pytest.importorskip("torch")


def _score(release: Path, out: Path, name: str = "perfect") -> Path:
    """Score a perfect submission on ``release`` with ``python -m baselines.run``; the folder."""
    from baselines.run import main
    from baselines.submission import expected_ids
    from hrgldd_data.archive import open_archive

    opened = open_archive(release)
    indices, ids = expected_ids(opened)
    path = out.parent / f"{name}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, ids=np.asarray(ids, dtype=str), masks=opened.read(indices)[1])
    result = CliRunner().invoke(
        main,
        [
            "--release",
            str(release),
            "--out",
            str(out),
            "--submission",
            str(path),
            "--name",
            name,
            "--no-plots",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return out / f"{opened.name}-{opened.version}"


def _state(hub) -> tuple[dict, str, int]:
    repo = hub.state.repos[f"datasets/{REPO}"]
    return dict(repo.tags), repo.branches["main"], len(repo.commits)


def _refused(hub, folder: Path, *needles: str) -> None:
    before = _state(hub)
    result = CliRunner().invoke(cli, ["publish-leaderboard", str(folder), "--repo", REPO])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), (
        result.output
    )
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert _state(hub) == before, "a refused leaderboard changes nothing on the Hub"


@pytest.fixture
def scored(hub, releases, tmp_path) -> Path:
    """1.0.0 published, and the results folder of a perfect submission on it."""
    publish(releases["1.0.0"], REPO)
    return _score(releases["1.0.0"], tmp_path / "results")


def test_publish_leaderboard_is_its_own_commit_on_main(hub, releases, scored):
    tags, head, commits = _state(hub)
    tagged = dict(hub.files(REPO, "v1.0.0"))
    result = CliRunner().invoke(cli, ["publish-leaderboard", str(scored), "--repo", REPO])
    assert result.exit_code == 0, result.output
    assert "tags untouched" in result.output
    after_tags, after_head, after_commits = _state(hub)
    assert after_tags == tags and after_commits == commits + 1 and after_head != head
    assert hub.files(REPO, "v1.0.0") == tagged, "the tagged version is byte for byte the same"
    main = hub.files(REPO, "main")
    assert main["leaderboards/1.0.0.json"] == (scored / "results.json").read_bytes()
    assert main["leaderboards/1.0.0.md"] == (scored / "leaderboard.md").read_bytes()
    card = main["README.md"].decode()
    assert "### Leaderboard: hr_gldd 1.0.0" in card and "| perfect |" in card
    assert "No results yet" not in card
    derived = json.loads(main["derived.json"])
    assert derived["files"]["README.md"]["sha256"] == hashlib.sha256(main["README.md"]).hexdigest()

    again = CliRunner().invoke(cli, ["publish-leaderboard", str(scored), "--repo", REPO])
    assert again.exit_code == 0 and _state(hub)[2] == after_commits, "same board: no new commit"

    listed = CliRunner().invoke(cli, ["versions", "--repo", REPO])
    assert "scores: leaderboards/1.0.0.md" in listed.output
    as_json = json.loads(CliRunner().invoke(cli, ["versions", "--repo", REPO, "--json"]).output)
    assert as_json[0]["leaderboard"] == "leaderboards/1.0.0.md"


def test_a_later_version_keeps_the_leaderboards(hub, releases, scored):
    CliRunner().invoke(cli, ["publish-leaderboard", str(scored), "--repo", REPO])
    v100 = _state(hub)[0]["v1.0.0"]
    publish(releases["1.1.0"], REPO)
    main = hub.files(REPO, "main")
    assert "leaderboards/1.0.0.md" in main and "leaderboards/1.0.0.json" in main
    assert "### Leaderboard: hr_gldd 1.0.0" in hub.files(REPO, "v1.1.0")["README.md"].decode()
    assert _state(hub)[0]["v1.0.0"] == v100
    assert leaderboards(REPO) == {"1.0.0": "leaderboards/1.0.0.md"}
    newest = pull("1.1.0", REPO)  # leaderboards are never part of a pulled release
    assert not (newest / "leaderboards").exists()
    verify_release(newest)
    verify_release(pull("1.0.0", REPO))


def test_scores_of_other_bytes_are_refused(hub, tmp_path, scored):
    from factories import make_release

    other = make_release(tmp_path / "other", version="1.0.0", seed=7)  # same name and version
    folder = _score(other, tmp_path / "other-results")
    _refused(hub, folder, "not the one tagged v1.0.0", "hrgldd pull --version 1.0.0")


def test_a_hand_edited_score_is_refused(hub, scored):
    data = json.loads((scored / "results.json").read_text())
    data["rows"][0]["f1"] = 0.99 if data["rows"][0]["f1"] < 0.5 else 0.42
    (scored / "results.json").write_text(json.dumps(data))
    (scored / "leaderboard.md").unlink()
    _refused(hub, scored, "results.json", "but its TP/FP/FN give")


def test_an_edited_trivial_floor_is_refused(hub, scored):
    data = json.loads((scored / "results.json").read_text())
    data["rows"][0]["trivial_f1"] = 0.05  # a lower floor would flatter every entry
    (scored / "results.json").write_text(json.dumps(data))
    (scored / "leaderboard.md").unlink()
    _refused(hub, scored, "results.json", "says trivial_f1 0.05, but its pixel counts give")


def test_an_edited_leaderboard_markdown_is_refused(hub, scored):
    md = scored / "leaderboard.md"
    md.write_text(md.read_text().replace("| perfect |", "| perfect (SOTA) |"))
    _refused(hub, scored, "leaderboard.md", "differs from the tables rendered from results.json")


def test_consistently_edited_patch_counts_are_refused(hub, scored):
    data = json.loads((scored / "results.json").read_text())
    row = next(r for r in data["rows"] if r["collection"] == 1)
    row["n_patches"] += 1
    row["tn"] += 128 * 128
    # ... and the scores derived from the pixel counts with them: only the release can tell
    fraction = (row["tp"] + row["fn"]) / (row["n_patches"] * 128 * 128)
    row["landslide_fraction"], row["trivial_f1"] = fraction, 2 * fraction / (1 + fraction)
    (scored / "results.json").write_text(json.dumps(data))
    (scored / "leaderboard.md").unlink()
    _refused(hub, scored, "c1/test", "as published has")


def test_results_that_do_not_record_the_scored_bytes(hub, scored):
    data = json.loads((scored / "results.json").read_text())
    del data["release"]["manifest_sha256"]
    (scored / "results.json").write_text(json.dumps(data))
    _refused(hub, scored, "does not record which release bytes were scored")


def test_a_version_that_is_not_published(hub, releases, tmp_path, scored):
    folder = _score(releases["1.1.0"], tmp_path / "r11")
    _refused(hub, folder, "version 1.1.0 is not published", "hrgldd publish")


def test_results_of_another_release_name(hub, tmp_path, scored):
    from factories import make_release

    sample = make_release(tmp_path / "sample", name="hr_gldd_sample", version="1.0.0")
    folder = _score(sample, tmp_path / "sample-results")
    _refused(hub, folder, "hr_gldd_sample 1.0.0", "publishes hr_gldd")


def test_a_folder_without_results(hub, tmp_path, scored):
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(hub, empty, "no results.json")


def test_publishing_needs_a_token(hub, scored, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    _refused(hub, scored, "HF_TOKEN")


def test_results_folder_is_never_changed(hub, scored):
    before = {p.name: p.read_bytes() for p in scored.iterdir() if p.is_file()}
    result = CliRunner().invoke(cli, ["publish-leaderboard", str(scored), "--repo", REPO])
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in scored.iterdir() if p.is_file()} == before
