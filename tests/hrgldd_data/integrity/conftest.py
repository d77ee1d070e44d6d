"""Fixtures of the integrity tests: damaged copies of a small release."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from damage import DAMAGES  # noqa: E402


@pytest.fixture
def fresh_release(tiny_release, tmp_path) -> Path:
    """A private copy of the 30-patch release, in its own folder (safe to damage)."""
    copy = tmp_path / "releases" / tiny_release.name
    shutil.copytree(tiny_release, copy)
    return copy


@pytest.fixture(params=sorted(DAMAGES))
def damaged(request, fresh_release) -> tuple[Path, str, str]:
    """``(release, damaged file, kind)``: a copy of the release with one kind of damage."""
    rel = DAMAGES[request.param](fresh_release)
    return fresh_release, rel, request.param
