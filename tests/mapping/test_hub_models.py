"""Models shared through a Hugging Face model repo: ``hrgldd publish-model`` and
``--model ORG/NAME[@revision]``, with the real huggingface_hub client against the local Hub."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from scenes import make_scene

from hrgldd_cli.main import cli
from hrgldd_data.errors import HubError
from hrgldd_data.hub.models import model_cache, publish_model, pull_model
from mapping import map_scene

REPO = "test-org/unet-sample"


def _publish(run, *extra):
    result = CliRunner().invoke(cli, ["publish-model", str(run), "--repo", REPO, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_publish_pull_and_map_from_the_hub(hub, trained_run, tmp_path, monkeypatch):
    out = _publish(trained_run, "--tag", "v1")
    assert f"published {trained_run} to {REPO}" in out and "tag v1" in out
    files = hub.files(REPO, "main", kind="models")
    assert set(files) == {
        ".gitattributes",
        "model.safetensors",
        "config.json",
        "manifest.json",
        "README.md",
    }
    card = files["README.md"].decode()
    assert card.startswith("---\nlibrary_name: hrgldd") and f"--model {REPO}" in card
    assert "hr_gldd 1.0.0" in card and "| nir |" in card
    assert files["model.safetensors"] == (trained_run / "model.safetensors").read_bytes()

    scene, truth, _ = make_scene(tmp_path / "s.tif")
    result = map_scene(scene, f"{REPO}@v1", tmp_path / "out", progress=False)
    commit = hub.state.repos[f"models/{REPO}"].tags["v1"]
    assert result.summary["model"]["source"] == f"{REPO}@{commit}"
    assert result.summary["landslides"] == 1
    folder = model_cache(REPO) / commit
    assert (folder / "model.safetensors").is_file()

    # republishing the same run changes nothing; offline, the pulled revision still maps
    _publish(trained_run)
    assert len(hub.state.repos[f"models/{REPO}"].commits) == 2
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = map_scene(scene, REPO, tmp_path / "offline", progress=False)  # the pulled v1
    assert again.summary["landslides"] == 1
    assert again.summary["model"]["source"] == f"{REPO}@{commit}"
    with pytest.raises(HubError, match=r"@v2 is not in the cache .* HF_HUB_OFFLINE is set"):
        pull_model(f"{REPO}@v2")


def test_unknown_model_name_or_revision(hub, trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif", shape=(40, 40))
    result = CliRunner().invoke(
        cli, ["map", str(scene), "--model", "test-org/nothing", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "model repo test-org/nothing not found on http://127.0.0.1" in result.output
    assert "no local folder 'test-org/nothing' either" in result.output
    publish_model(trained_run, REPO, tag="v1")
    with pytest.raises(HubError, match=r"has no revision 'v9'; branches \['main'\], tags \['v1'\]"):
        pull_model(f"{REPO}@v9")
    with pytest.raises(HubError, match="tags are never moved"):
        publish_model(trained_run, REPO, tag="v1")
    assert not (tmp_path / "o").exists()


def test_corrupt_download_is_refused(hub, trained_run):
    publish_model(trained_run, REPO)
    weights = hub.files(REPO, "main", kind="models")["model.safetensors"]
    hub.state.repos[f"models/{REPO}"].resolve("main").files["model.safetensors"] = (
        bytes([weights[0] ^ 1]) + weights[1:]
    )
    with pytest.raises(HubError, match=r"model.safetensors fail their sha256 in manifest.json"):
        pull_model(REPO)


def test_runs_without_training_data_are_not_published(hub, trained_run, tmp_path):
    old = shutil.copytree(trained_run, tmp_path / "old")
    config = json.loads((old / "config.json").read_text())
    del config["data"]
    (old / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["publish-model", str(old), "--repo", REPO])
    assert result.exit_code == 1
    assert "does not record its training data" in result.output
    with pytest.raises(HubError, match="does not record the training data"):
        publish_model(old, REPO)
    assert f"models/{REPO}" not in hub.state.repos
