"""The embedded sample: synthetic scenes for the ten events and the release built from them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from builders.sample.generate import generate_sample

SAMPLE_RELEASE_FILE = Path(__file__).parents[1] / "releases" / "sample.toml"


def ensure_sample_release(root: str | Path, *, progress: bool = False) -> Path:
    """The sample release under ``root``, generated and built first if it is not there yet."""
    from builders.build import build_release
    from builders.spec import load_release
    from hrgldd_data.resolve import find_releases

    spec = load_release(SAMPLE_RELEASE_FILE)
    for ref in find_releases(root, name=spec.name):
        if ref.version == spec.version:
            return ref.path
    with tempfile.TemporaryDirectory(prefix="hrgldd-sample-") as raw:
        generate_sample(raw)
        return build_release(SAMPLE_RELEASE_FILE, raw, root, progress=progress)


__all__ = ["SAMPLE_RELEASE_FILE", "ensure_sample_release", "generate_sample"]
