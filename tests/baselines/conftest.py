"""Fixtures of the training, run and submission tests: small releases and a trained leaderboard."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    """One thread: on a shared machine tiny models lose more to contention than they gain."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def scored_board(tmp_path_factory, tiny_release) -> Path:
    """A leaderboard folder for ``tiny_release``: two baselines (one tiny epoch each, seed 0)."""
    from click.testing import CliRunner

    from baselines.run import main

    out = tmp_path_factory.mktemp("results")
    result = CliRunner().invoke(
        main,
        [
            "--release",
            str(tiny_release),
            "--out",
            str(out),
            "--models",
            "unet,attn_unet",
            "--seeds",
            "0",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "1",
            "--filters",
            "8",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return out / "hr_gldd-1.0.0"
