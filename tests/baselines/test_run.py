"""`python -m baselines.run`: results files, leaderboard tables, plots, release choice, cards."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import traceback
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import make_legacy_release, make_release
from PIL import Image

from baselines.leaderboard import COLUMNS, Leaderboard, paper_table2, t_interval
from baselines.run import main, resolve_release
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import ReleaseNotFoundError

TINY = ["--epochs", "1", "--steps-per-epoch", "1", "--filters", "8", "--no-progress"]
PAPER_SITES = tuple(
    (site, role, "rainfall")
    for site, role in (
        ("kodagu_2018", "train"),
        ("rolante_2017", "train"),
        ("haiti_2021", "unseen"),
    )
)


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output + "".join(
        traceback.format_exception(*result.exc_info)
    )
    return result.output


def test_results_files_and_tables(scored_board):
    data = json.loads((scored_board / "results.json").read_text())
    assert data["release"]["name"] == "hr_gldd" and data["release"]["version"] == "1.0.0"
    assert set(data["entries"]) == {"unet", "attn_unet"}
    keys = {(r["entry"], r["seed"], r["collection"], r["test_set"]) for r in data["rows"]}
    sets = {(1, "test"), (2, "alpha_2018"), (2, "beta_2019"), (3, "gamma_2021")}
    assert keys == {(m, 0, c, t) for m in ("unet", "attn_unet") for c, t in sets}
    for row in data["rows"]:
        for metric in (
            "precision",
            "recall",
            "f1",
            "iou",
            "pb_precision",
            "pb_recall",
            "pb_f1",
            "pb_iou",
        ):
            assert 0 <= row[metric] <= 1
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == row["n_patches"] * 128 * 128
        assert row["epochs"] == 1 and row["hardware"] and row["release_version"] == "1.0.0"
    with open(scored_board / "results.csv") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        assert len(list(reader)) == len(data["rows"])
    markdown = (scored_board / "leaderboard.md").read_text()
    assert "| 3 | gamma_2021 |" in markdown and "attn_unet" in markdown
    assert "pooled over every pixel" in markdown
    assert "Table 2" not in markdown  # these sites are not the paper's events


def test_every_test_set_shows_the_trivial_floor_and_threshold_free_scores(scored_board):
    data = json.loads((scored_board / "results.json").read_text())
    for row in data["rows"]:
        fraction = (row["tp"] + row["fn"]) / (row["n_patches"] * 128 * 128)
        assert row["landslide_fraction"] == pytest.approx(fraction)
        assert row["trivial_f1"] == pytest.approx(2 * fraction / (1 + fraction))
        assert 0 <= row["auroc"] <= 1 and 0 <= row["auprc"] <= 1
        assert row["f1_low"] <= row["f1_high"] and isinstance(row["collapsed"], bool)
        assert (row["config"], row["protocol"]) == ("default", "collections")
    markdown = (scored_board / "leaderboard.md").read_text()
    assert "| collection | test set | landslide px % | all-landslide F1 | unet | attn_unet |" in (
        markdown
    )
    c1 = next(r for r in data["rows"] if r["collection"] == 1)
    trivial = f"{100 * c1['landslide_fraction']:.1f} | {100 * c1['trivial_f1']:.1f} |"
    assert f"| 1 | test | {trivial}" in markdown
    assert "AUROC / AUPRC" in markdown and "bootstrap interval" in markdown


def test_plots_are_pngs(scored_board):
    plots = scored_board / "plots"
    names = sorted(p.name for p in plots.glob("*.png"))
    assert names == [
        "predictions.png",
        "radar_collection1.png",
        "radar_collection2.png",
        "radar_collection3.png",
    ]
    with Image.open(plots / "predictions.png") as image:
        width, height = image.size
    assert width > 4 * 100 and height > 3 * 100  # 3 sites x (false colour, truth, 2 models)


def test_rerun_resumes_and_replaces_rows(scored_board, tiny_release, tmp_path):
    board = tmp_path / "board"
    shutil.copytree(scored_board, board / "hr_gldd-1.0.0")
    before = json.loads((board / "hr_gldd-1.0.0" / "results.json").read_text())["rows"]
    _run(
        "--release",
        str(tiny_release),
        "--out",
        str(board),
        "--models",
        "unet,attn_unet",
        "--seeds",
        "0",
        *TINY,
    )
    after = json.loads((board / "hr_gldd-1.0.0" / "results.json").read_text())["rows"]
    assert len(after) == len(before)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "created"} for r in rows]  # noqa: E731
    assert strip(after) == strip(before)  # finished runs were loaded from runs/, not retrained


def test_seeds_give_mean_and_interval(tiny_release, tmp_path):
    output = _run(
        "--release",
        str(tiny_release),
        "--out",
        str(tmp_path),
        "--models",
        "unet",
        "--seeds",
        "0,1",
        *TINY,
    )
    board = Leaderboard.open(tmp_path / "hr_gldd-1.0.0", open_archive(tiny_release))
    f1 = [r["f1"] for r in board.rows if r["collection"] == 1]
    mean, half, n = board.summary("f1")[("unet", 1, "test")]
    assert (
        n == 2 and mean == pytest.approx(sum(f1) / 2) and half == pytest.approx(t_interval(f1)[1])
    )
    assert f"{100 * mean:.1f} ± {100 * half:.1f}" in output


def test_t_interval_matches_student_t():
    mean, half = t_interval([0.5, 0.7])
    assert mean == pytest.approx(0.6)
    assert half == pytest.approx(
        12.7062 * 0.141421 / 2**0.5, rel=1e-4
    )  # t(0.975, 1) * sd / sqrt(n)
    assert t_interval([0.4]) == (0.4, None)


def test_paper_table_beside_ours_for_the_papers_events(tmp_path):
    release = make_release(tmp_path / "rel", sites=PAPER_SITES, per_site=5)
    output = _run(
        "--release",
        str(release),
        "--out",
        str(tmp_path / "out"),
        "--models",
        "unet",
        "--seeds",
        "0",
        "--config",
        "paper",
        *TINY,
    )
    paper = paper_table2()
    assert (
        paper[(1, "test")]["unet"] == 70.52 and paper[(3, "sumatra_2022")]["attn_res_unet"] == 85.96
    )
    assert "Table 2" in output and "selected on the **test** set" in output
    assert f"/ {paper[(2, 'kodagu_2018')]['unet']:.1f} (" in output
    assert f"/ {paper[(3, 'haiti_2021')]['unet']:.1f} (" in output
    assert "Beside the paper's Table 2 (`paper` configuration)" in output
    rows = json.loads((tmp_path / "out" / "hr_gldd-1.0.0" / "results.json").read_text())["rows"]
    assert {(r["entry"], r["config"], r["loss"], r["normalization"]) for r in rows} == {
        ("unet-paper", "paper", "paper", "standardize")
    }
    # a default-configuration run is not set beside the paper; the board says how to do it
    output = _run(
        "--release",
        str(release),
        "--out",
        str(tmp_path / "default"),
        "--models",
        "unet",
        "--seeds",
        "0",
        *TINY,
    )
    assert "`python -m baselines.run --config paper`" in output
    assert f"/ {paper[(3, 'haiti_2021')]['unet']:.1f} (" not in output


def test_legacy_release_has_collection_one_only_and_says_so(tmp_path):
    release = make_legacy_release(tmp_path / "rel")
    output = _run(
        "--release",
        str(release),
        "--out",
        str(tmp_path / "out"),
        "--models",
        "unet",
        "--seeds",
        "0",
        *TINY,
    )
    rows = json.loads((tmp_path / "out" / "hr_gldd-0.9.0" / "results.json").read_text())["rows"]
    assert {(r["collection"], r["test_set"]) for r in rows} == {(1, "test")}
    assert "collection 1 only" in output
    assert "Table 2" in output  # the published arrays are the paper's data: collection 1 compares


def test_release_choice(tmp_path, monkeypatch):
    root = tmp_path / "releases"
    make_release(root, version="1.0.0", per_site=5)
    make_release(root, version="1.2.0", per_site=5)
    assert resolve_release(str(root)).version == "1.2.0"
    assert resolve_release(str(root / "hr_gldd-1.0.0")).version == "1.0.0"
    monkeypatch.chdir(tmp_path)  # a version is looked up under ./data/releases and the pull cache
    make_release(tmp_path / "data" / "releases", version="2.0.1", per_site=5)
    assert resolve_release("v2.0.1").version == "2.0.1"


def test_the_sample_is_built_only_when_nothing_was_asked_for(tmp_path, monkeypatch):
    built = []

    def ensure_sample_release(where, progress=False):  # stand-in: the real one builds ten scenes
        built.append(Path(where))
        return make_release(Path(where), name="hr_gldd_sample", per_site=5)

    monkeypatch.setitem(
        sys.modules,
        "builders.sample",
        types.SimpleNamespace(ensure_sample_release=ensure_sample_release),
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a version not found locally is not pulled here
    with pytest.raises(ReleaseNotFoundError, match="fresh: no such release directory"):
        resolve_release(str(tmp_path / "fresh"))  # a mistyped path is an error, never the sample
    with pytest.raises(ReleaseNotFoundError, match="3.0.0"):
        resolve_release("3.0.0")
    assert built == [] and not (tmp_path / "fresh").exists()
    assert resolve_release(None).name == "hr_gldd_sample"
    assert built == [Path("data/releases")]


def test_scores_never_touch_the_release(tmp_path):
    cards = pytest.importorskip("hrgldd_data.cards")
    release = make_release(tmp_path / "rel", per_site=5)
    card = release / "README.md"
    card.write_text(
        f"# Card\n\n{cards.LEADERBOARD_START}\nnothing yet\n{cards.LEADERBOARD_END}\n\nfooter\n"
    )
    before = {p: p.read_bytes() for p in release.rglob("*") if p.is_file()}
    _run(
        "--release",
        str(release),
        "--out",
        str(tmp_path / "out"),
        "--models",
        "unet",
        "--seeds",
        "0",
        *TINY,
    )
    assert {p: p.read_bytes() for p in release.rglob("*") if p.is_file()} == before
    assert "| 1 | test |" in (tmp_path / "out" / "hr_gldd-1.0.0" / "leaderboard.md").read_text()


def test_bad_arguments_are_refused(tiny_release, tmp_path):
    result = CliRunner().invoke(
        main, ["--release", str(tiny_release), "--out", str(tmp_path), "--models", "vgg", *TINY]
    )
    assert result.exit_code != 0 and "unknown model" in result.output and "unet" in result.output
    assert not any(tmp_path.iterdir())


def test_grid_chooses_on_validation_then_trains_every_seed(tiny_release, tmp_path):
    output = _run(
        "--release",
        str(tiny_release),
        "--out",
        str(tmp_path),
        "--models",
        "unet",
        "--seeds",
        "0,1",
        "--batch-size",
        "2",
        "--batch-size",
        "4",
        *TINY,
    )
    folder = tmp_path / "hr_gldd-1.0.0"
    with open(folder / "grid.csv") as handle:
        grid = list(csv.DictReader(handle))
    assert [(g["model"], g["batch_size"]) for g in grid] == [("unet", "2"), ("unet", "4")]
    best = max(grid, key=lambda g: float(g["val_f1"]))  # first of equals, as the run keeps it
    assert f"grid chose batch {best['batch_size']}" in output
    rows = json.loads((folder / "results.json").read_text())["rows"]
    assert {(r["seed"], r["batch_size"]) for r in rows} == {
        (0, int(best["batch_size"])),
        (1, int(best["batch_size"])),
    }


def test_a_collapsed_prediction_is_flagged_everywhere(tiny_release, tmp_path):
    """All-landslide predictions score the trivial F1, AUROC 0.5, and are called collapsed."""
    import numpy as np

    from baselines.submission import expected_ids

    release = open_archive(tiny_release)
    _, ids = expected_ids(release)
    path = tmp_path / "constant.npz"
    np.savez_compressed(path, ids=np.array(ids), masks=np.ones((len(ids), 128, 128), np.float32))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["--release", str(tiny_release), "--out", str(out), "--submission", str(path)]
        + ["--name", "everything", "--no-plots", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "COLLAPSED: everything on c1/test" in result.output
    assert "everything is landslide" in result.output
    rows = json.loads((out / "hr_gldd-1.0.0" / "results.json").read_text())["rows"]
    assert rows and all(r["collapsed"] for r in rows)
    assert all(r["f1"] == pytest.approx(r["trivial_f1"]) for r in rows)
    assert all(r["auroc"] == pytest.approx(0.5) for r in rows)
    markdown = (out / "hr_gldd-1.0.0" / "leaderboard.md").read_text()
    assert "⚠ Collapsed predictions (4 row(s))" in markdown
    assert "> - everything on c1/test: 100.0 % of the pixels predicted landslide" in markdown
    c1 = next(r for r in rows if r["collection"] == 1)
    assert f"{100 * c1['f1']:.1f} ⚠ |" in markdown


def test_leave_one_event_out(tiny_release, tmp_path):
    output = _run(
        "--release",
        str(tiny_release),
        "--out",
        str(tmp_path),
        "--models",
        "unet",
        "--seeds",
        "0",
        "--protocol",
        "leave-one-event-out",
        *TINY,
    )
    folder = tmp_path / "hr_gldd-1.0.0"
    rows = json.loads((folder / "results.json").read_text())["rows"]
    release = open_archive(tiny_release)
    assert {(r["protocol"], r["collection"], r["test_set"]) for r in rows} == {
        ("leave-one-event-out", None, "alpha_2018"),
        ("leave-one-event-out", None, "beta_2019"),
    }
    for row in rows:  # every patch of the held-out event, whatever its split
        assert row["n_patches"] == release.indices(site=row["test_set"]).size == 10
    runs = sorted(p.name for p in (folder / "runs").iterdir())
    assert runs == ["loeo-alpha_2018", "loeo-beta_2019"]
    config = json.loads(
        next((folder / "runs" / "loeo-alpha_2018").glob("*/config.json")).read_text()
    )
    assert config["sites"] == ["beta_2019"]  # trained on the other event only
    assert "Leave one event out" in output and "| alpha_2018 |" in output
    # the collections protocol on the same board keeps its own rows
    _run(
        "--release",
        str(tiny_release),
        "--out",
        str(tmp_path),
        "--models",
        "unet",
        "--seeds",
        "0",
        *TINY,
    )
    rows = json.loads((folder / "results.json").read_text())["rows"]
    assert {r["protocol"] for r in rows} == {"leave-one-event-out", "collections"}
    from baselines.publishable import load_publishable

    assert len(load_publishable(folder).rows) == len(rows)


def test_leave_one_event_out_needs_two_events(tmp_path):
    release = make_release(tmp_path / "rel", sites=(("solo", "train", "rainfall"),), per_site=5)
    result = CliRunner().invoke(
        main,
        ["--release", str(release), "--out", str(tmp_path / "out")]
        + ["--protocol", "leave-one-event-out", "--models", "unet", *TINY],
    )
    assert result.exit_code != 0 and "has 1 dataset event(s) (solo)" in result.output


@pytest.mark.parametrize("fraction", [0.0, 0.046, 0.5])
def test_the_radar_floor_is_what_predicting_all_landslide_scores(fraction):
    import torch

    from baselines.metrics import SegmentationScores
    from baselines.plots import all_landslide_scores

    n = 1000
    target = torch.zeros(1, 1, 1, n)
    target[..., : round(fraction * n)] = 1
    scores = SegmentationScores()
    scores.update(torch.ones_like(target), target)  # every pixel called landslide
    pooled = scores.compute()["pooled"]
    floor = all_landslide_scores(round(fraction * n) / n)
    for metric in ("precision", "recall", "f1", "iou"):
        assert floor[metric] == pytest.approx(pooled[metric], abs=1e-6), metric
