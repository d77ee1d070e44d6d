"""``python -m baselines.run`` never guesses which release it scores.

An explicit path that does not exist is an error (never the sample built there); a version that
matches several releases names them and asks for a path or ``--release-name``; the synthetic
sample is built only when nothing at all was asked for.
"""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from damage import snapshot
from factories import make_release

from hrgldd_data.hub.cache import record_pull, repo_cache
from hrgldd_data.manifest import manifest_digest

pytest.importorskip("torch")
from baselines.run import main  # noqa: E402

COMMIT = "c0ffee" + "0" * 34


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty project folder (./data/releases is looked at), offline, no sample builder."""
    built: list[Path] = []

    def ensure_sample_release(where, progress=False):  # stand-in: the real one builds ten scenes
        built.append(Path(where))
        return make_release(Path(where), name="hr_gldd_sample", per_site=5)

    monkeypatch.setitem(
        sys.modules,
        "builders.sample",
        types.SimpleNamespace(ensure_sample_release=ensure_sample_release),
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path / "cache"))
    return types.SimpleNamespace(path=tmp_path, built=built)


def _pulled(release: Path, repo: str = "hr-gldd/hr-gldd") -> Path:
    """Put a copy of ``release`` into the pull cache as if `hrgldd pull` had fetched it."""
    folder = repo_cache(repo)
    target = folder / COMMIT
    shutil.copytree(release, target)
    entry = {"commit": COMMIT, "name": "hr_gldd", "manifest_sha256": manifest_digest(target)}
    record_pull(folder, repo, "1.0.0", entry)
    return target


def _run(*args: str):
    return CliRunner().invoke(main, [*args, "--list-test-ids"])


def _one_line_error(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("Error:"), (
        result.output
    )
    return lines[0]


def test_explicit_missing_path_is_an_error_and_builds_nothing(workdir):
    missing = workdir.path / "data" / "relaeses" / "hr_gldd-1.0.0"  # a typo
    line = _one_line_error(_run("--release", str(missing)))
    assert str(missing) in line and "no such release directory" in line
    assert workdir.built == [] and not missing.exists()


def test_folder_without_manifest_is_an_error_and_stays_empty(workdir):
    folder = workdir.path / "not-a-release"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    line = _one_line_error(_run("--release", str(folder)))
    assert str(folder) in line and "holds no release" in line
    assert workdir.built == [] and [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_version_matching_the_sample_and_a_pulled_release_asks(workdir):
    sample = make_release(workdir.path / "data" / "releases", name="hr_gldd_sample", per_site=5)
    pulled = _pulled(make_release(workdir.path / "src", per_site=5))
    line = _one_line_error(_run("--release", "1.0.0"))
    assert f"data/releases/{sample.name}" in line and str(pulled) in line
    assert "--release-name" in line and "path" in line
    ok = _run("--release", "1.0.0", "--release-name", "hr_gldd")
    assert ok.exit_code == 0, ok.output
    assert workdir.built == []


def test_same_version_with_different_bytes_in_two_places_asks(workdir):
    local = make_release(workdir.path / "data" / "releases", per_site=5, seed=1)
    pulled = _pulled(make_release(workdir.path / "src", per_site=5, seed=2))
    line = _one_line_error(_run("--release", "1.0.0"))
    assert "different contents" in line and str(pulled) in line
    assert f"data/releases/{local.name}" in line


def test_same_release_in_two_places_is_one_release(workdir):
    local = make_release(workdir.path / "data" / "releases", per_site=5)
    _pulled(local)
    assert _run("--release", "1.0.0").exit_code == 0


def test_version_found_nowhere_is_an_error_not_the_sample(workdir):
    line = _one_line_error(_run("--release", "2.0.0"))
    assert "2.0.0" in line and "hrgldd pull" in line
    line = _one_line_error(_run("--release-name", "hr_gldd"))
    assert "no release found" in line
    assert workdir.built == []


def test_the_sample_only_when_nothing_was_asked(workdir):
    result = _run()
    assert result.exit_code == 0, result.output
    assert workdir.built == [Path("data/releases")]


def test_a_damaged_pulled_release_is_refused_not_replaced(workdir):
    pulled = _pulled(make_release(workdir.path / "src", per_site=5))
    (pulled / "mask/c/0/0/0").unlink()
    before = snapshot(workdir.path / "cache")
    line = _one_line_error(_run("--release", "1.0.0"))
    assert "missing mask/c/0/0/0" in line and "hrgldd pull --version 1.0.0" in line
    assert snapshot(workdir.path / "cache") == before and workdir.built == []
