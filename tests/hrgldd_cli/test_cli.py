"""The `hrgldd` command as a user runs it: sample, build, info, verify, stats, import-legacy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from hrgldd_cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_sample_build_info_verify(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["sample", "--out", str(tmp_path / "raw"), "--release-out", str(tmp_path / "rel")]
    )
    assert result.exit_code == 0, result.output
    release = tmp_path / "rel" / "hr_gldd_sample-1.0.0"
    info = runner.invoke(cli, ["info", str(release), "--json"])
    summary = json.loads(info.output)
    assert summary["patches"] == sum(summary["splits"].values())
    assert {c["test_set"] for c in summary["collections"] if c["collection"] == 3} == {
        "haiti_2021",
        "sumatra_2022",
    }
    text = runner.invoke(cli, ["info", str(release)]).output
    assert "collection 2 (test split of each dataset site)" in text and "kodagu_2018" in text
    assert "OK" in runner.invoke(cli, ["verify", str(release)]).output
    again = runner.invoke(
        cli,
        [
            "build",
            str(ROOT / "builders/releases/sample.toml"),
            "--raw-root",
            str(tmp_path / "raw"),
            "--out",
            str(tmp_path / "rel"),
        ],
    )
    assert again.exit_code == 1 and "immutable" in again.output
    stats = runner.invoke(
        cli,
        [
            "stats",
            str(tmp_path / "raw" / "kodagu_2018" / "inventory.gpkg"),
            "--scene",
            str(tmp_path / "raw" / "kodagu_2018" / "scenes" / "kodagu_2018_1.tif"),
            "--json",
        ],
    )
    values = json.loads(stats.output)
    assert values["n_landslides"] == 28 and 4 < values["study_area_km2"] < 5.31


def test_errors_are_one_line_without_traceback(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["verify", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "nothing" in result.output
    bad = tmp_path / "zenodo"
    bad.mkdir()
    np.save(bad / "trainX.npy", np.zeros((2, 128, 128, 4)))
    result = runner.invoke(
        cli, ["import-legacy", str(bad), "--version", "0.9.0", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1 and "trainY.npy: missing" in result.output
