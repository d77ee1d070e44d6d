"""Shared fixtures: tests build their own small releases and never touch the network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_release_places(tmp_path_factory, monkeypatch):
    """No test sees the user's pulled releases, a release folder named by the environment, or
    the project's ``./data/releases`` (``make demo`` writes the sample there): each test starts
    in an empty working directory of its own."""
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path_factory.mktemp("hrgldd-cache")))
    monkeypatch.delenv("HRGLDD_ARCHIVE", raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory) -> Path:
    """A 30-patch release: two dataset sites (6/2/2 each) and one unseen event (10 patches)."""
    from factories import make_release

    return make_release(tmp_path_factory.mktemp("releases"))


@pytest.fixture(scope="session")
def legacy_release(tmp_path_factory) -> Path:
    """A 10-patch release shaped like an import of the published arrays."""
    from factories import make_legacy_release

    return make_legacy_release(tmp_path_factory.mktemp("legacy"))


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the project; tests that need it skip with the reason when absent."""
    if not SHARED.is_dir():
        pytest.skip(
            f"{SHARED} is absent: real-data tests need the team's shared folder beside the project"
        )
    return SHARED
