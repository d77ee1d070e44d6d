"""Scores are bound to the bytes they were computed on: a results folder records the sha256 of the
scored release's manifest and never mixes two different copies of one release name and version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from damage import snapshot
from factories import make_release

pytest.importorskip("torch")
from baselines.run import main  # noqa: E402
from baselines.submission import expected_ids  # noqa: E402
from hrgldd_data.archive import open_archive  # noqa: E402
from hrgldd_data.manifest import manifest_digest  # noqa: E402


def _score(release: Path, out: Path, name: str):
    opened = open_archive(release)
    indices, ids = expected_ids(opened)
    path = out.parent / f"{name}.npz"
    np.savez_compressed(path, ids=np.asarray(ids, dtype=str), masks=opened.read(indices)[1])
    return CliRunner().invoke(
        main,
        ["--release", str(release), "--out", str(out), "--submission", str(path)]
        + ["--name", name, "--no-plots", "--no-progress"],
    )


def test_results_record_the_scored_manifest(tmp_path):
    release = make_release(tmp_path / "a", per_site=5)
    result = _score(release, tmp_path / "out", "mine")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "hr_gldd-1.0.0" / "results.json").read_text())
    assert data["release"]["manifest_sha256"] == manifest_digest(release)


def test_another_copy_of_the_same_version_never_joins_the_board(tmp_path):
    first = make_release(tmp_path / "a", per_site=5, seed=1)
    second = make_release(tmp_path / "b", per_site=5, seed=2)  # same name and version, other bytes
    out = tmp_path / "out"
    assert _score(first, out, "first").exit_code == 0
    before = snapshot(out / "hr_gldd-1.0.0")
    result = _score(second, out, "second")
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "another copy of hr_gldd 1.0.0" in lines[0] and "--out" in lines[0]
    assert snapshot(out / "hr_gldd-1.0.0") == before
