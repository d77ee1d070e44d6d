"""A new event version, end to end in every ecosystem, against the local Hub (127.0.0.1).

1.0.0 (two dataset sites, one unseen event) and 1.1.0 (the same patches plus one new unseen event)
are published as tags, then: TFDS serves both versions and the new split with no code change,
Hugging Face ``datasets`` loads each tag, TorchGeo's test loop gives the evaluator's per-test-set
scores on the new version, ``download=True`` honours ``root``, a leaderboard reaches the card on
main while the tags still point at their original commits, and the card's load instructions run
as written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hub_server import REPO

from hrgldd_cli import cli
from hrgldd_data.archive import open_archive
from hrgldd_data.hub import publish, pull
from hrgldd_data.views import named_splits

tfds = pytest.importorskip("tensorflow_datasets")
datasets = pytest.importorskip("datasets")
tg = pytest.importorskip("hrgldd_data.torchgeo")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loaders"))
from per_test_set import check_per_test_set_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
NEW_EVENT = ("delta_2022", "unseen", "rainfall")


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> dict[str, Path]:
    """1.0.0 and 1.1.0 (one new unseen event); the old sites' patches are byte-identical."""
    from factories import DEFAULT_SITES, make_release

    root = tmp_path_factory.mktemp("new_version")
    return {
        "1.0.0": make_release(root, version="1.0.0", seed=5),
        "1.1.0": make_release(root, version="1.1.0", sites=(*DEFAULT_SITES, NEW_EVENT), seed=5),
    }


def _indices(ds) -> list[int]:
    return sorted(int(ex["index"]) for ex in tfds.as_numpy(ds))


def _code_blocks(card: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", card, flags=re.S)


def test_new_event_version_in_every_ecosystem(hub, two_versions, tmp_path, monkeypatch):
    old, new = two_versions["1.0.0"], two_versions["1.1.0"]
    first = publish(old, REPO, notes="First release.")
    second = publish(new, REPO, notes="New unseen event delta_2022.")
    pulled = {"1.0.0": pull("1.0.0", REPO), "1.1.0": pull("1.1.0", REPO)}
    seen = {v: open_archive(p) for v, p in pulled.items()}
    assert np.array_equal(seen["1.0.0"].read(slice(0, 30))[0], seen["1.1.0"].read(slice(0, 30))[0])

    # -- TFDS: both pulled versions are builder versions, newest by default, notes from the Hub
    data_dir = tmp_path / "tfds"
    builder = tfds.builder("hr_gldd", data_dir=data_dir)
    assert [str(v) for v in builder.versions] == ["1.1.0", "1.0.0"]
    assert builder.release_notes["1.1.0"] == "New unseen event delta_2022."
    new_split = tfds.load("hr_gldd", split="unseen_delta_2022", data_dir=data_dir)
    assert _indices(new_split) == seen["1.1.0"].indices(site="delta_2022").tolist()
    old_splits = tfds.load("hr_gldd:1.0.0", data_dir=data_dir)
    assert "unseen_delta_2022" not in old_splits
    for version in ("1.0.0", "1.1.0"):
        loaded = tfds.load(f"hr_gldd:{version}", split="train", data_dir=data_dir)
        assert _indices(loaded) == seen[version].indices("train").tolist()

    # -- Hugging Face datasets: each tag, every named split, the archive's patches
    for version, release in seen.items():
        splits = datasets.load_dataset(REPO, revision=f"v{version}")
        assert list(splits) == [s.name for s in named_splits(release)]
        for split in named_splits(release):
            rows = splits[split.name]
            assert rows["index"] == split.indices.tolist()
            assert rows["patch_id"] == release.patch_ids(split.indices)
        row = splits["test"].with_format("numpy")[1]
        image, mask = release.read([int(row["index"])])
        assert np.array_equal(row["image"], image[0]) and np.array_equal(row["mask"], mask[0])
    assert "unseen_delta_2022" in datasets.load_dataset(REPO, revision="v1.1.0")

    # -- TorchGeo: per-test-set scores of the stock trainer = the product's evaluator
    scores = check_per_test_set_scores(pulled["1.1.0"])
    assert "c3/delta_2022" in scores
    # download=True honours root: pulled into the cache, linked into root, found there later
    root = tmp_path / "torchgeo_root"
    dataset = tg.HRGLDD(root, "test", download=True, collection=3, version="1.1.0", repo=REPO)
    assert (root / "hr_gldd-1.1.0").resolve() == pulled["1.1.0"].resolve()
    requests = len(hub.state.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = tg.HRGLDD(root, "test", collection=3, sites=["delta_2022"])
    assert again.version == "1.1.0" and len(hub.state.requests) == requests
    assert len(dataset) == len(seen["1.1.0"].indices("unseen"))
    monkeypatch.delenv("HF_HUB_OFFLINE")

    # -- scores reach the card on main as a commit of their own; the tags never move
    results = _score_perfect_submission(new, tmp_path / "results")
    done = CliRunner().invoke(cli, ["publish-leaderboard", str(results), "--repo", REPO])
    assert done.exit_code == 0, done.output
    card = hub.files(REPO, "main")["README.md"].decode()
    assert "leaderboards/1.1.0.md" in hub.files(REPO, "main") and "perfect" in card
    tags = hub.state.repos[f"datasets/{REPO}"].tags
    assert tags == {"v1.0.0": first.commit, "v1.1.0": second.commit}
    assert "perfect" not in hub.files(REPO, "v1.1.0")["README.md"].decode()
    # the Parquet view of the tagged version is untouched by the leaderboard commit
    view = {p: b for p, b in hub.files(REPO, "main").items() if p.startswith("data/")}
    assert view == {p: b for p, b in hub.files(REPO, "v1.1.0").items() if p.startswith("data/")}


def _score_perfect_submission(release: Path, out: Path) -> Path:
    """The results folder of a perfect submission scored by ``python -m baselines.run``."""
    from baselines.run import main
    from baselines.submission import expected_ids

    opened = open_archive(release)
    indices, ids = expected_ids(opened)
    path = out.parent / "perfect.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, ids=np.asarray(ids, dtype=str), masks=opened.read(indices)[1])
    args = ["--release", str(release), "--out", str(out), "--submission", str(path)]
    done = CliRunner().invoke(main, [*args, "--name", "perfect", "--no-plots", "--no-progress"])
    assert done.exit_code == 0, done.output
    return out / f"{opened.name}-{opened.version}"


def test_card_load_instructions_run_as_written(hub, two_versions, tmp_path):
    """The published card's commands and Python snippets, verbatim, in a fresh process.

    The only line not run is `pip install` (no package index here): it installs this checkout,
    whose extras it names must exist.
    """
    publish(two_versions["1.0.0"], REPO)
    card = hub.files(REPO, "v1.0.0")["README.md"].decode()
    bash = _code_blocks(card, "bash")[0].strip().splitlines()
    assert bash[0] == 'pip install -c requirements/constraints.txt ".[all]"'
    assert (ROOT / "requirements" / "constraints.txt").is_file()
    assert "all = " in (ROOT / "pyproject.toml").read_text()
    pull_args = bash[1].split()
    assert pull_args[:2] == ["hrgldd", "pull"]
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(("HF_", "HRGLDD_")) or key in ("PATH", "HOME", "TF_CPP_MIN_LOG_LEVEL")
    }
    env |= {"PYTHONPATH": str(ROOT), "TFDS_DATA_DIR": str(tmp_path / "tfds")}
    env |= {"HF_DATASETS_CACHE": str(tmp_path / "hf_datasets"), "MPLBACKEND": "Agg"}
    cli = [sys.executable, "-c", "from hrgldd_cli import main; main()", *pull_args[2:]]
    done = subprocess.run(cli, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    snippets = _code_blocks(card, "python")
    assert len(snippets) == 4  # hrgldd_data, datasets, TorchGeo, TFDS
    assert all(f'repo="{REPO}"' in s or f'"{REPO}"' in s for s in snippets[:3])
    program = "\n".join(snippets) + "\nprint('loaded', len(release), len(train))\n"
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded 30" in done.stdout
    assert "unseen_gamma_2021" in done.stdout  # print(splits) of the datasets snippet
    assert json.loads(hub.files(REPO, "v1.0.0")["croissant.json"])["version"] == "1.0.0"
