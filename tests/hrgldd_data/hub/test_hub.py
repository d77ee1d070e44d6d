"""Publish -> tag -> pull -> verify -> offline open against a Hub-compatible server on 127.0.0.1,
with the real huggingface_hub client, and every fault the issue lists."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hub_server import REPO, TOKEN

import hrgldd_data
from hrgldd_cli import cli
from hrgldd_data.errors import HubError, ReleaseNotFoundError
from hrgldd_data.hub import publish, pull, versions
from hrgldd_data.manifest import read_manifest, verify_release

SHARD = "image/c/0/0/0/0"  # first image shard of every test release
#: The Parquet view of the test releases: one file per named split (hrgldd_data.parquet).
VIEW = [
    f"data/{split}-00000-of-00001.parquet"
    for split in ("train", "validation", "test", "test_alpha_2018", "test_beta_2019")
    + ("unseen_gamma_2021",)
]


def _gets(server, path: str) -> list[dict[str, str]]:
    """Headers of the GET requests the server saw for one file."""
    return [
        h
        for method, url, h in server.state.requests
        if method == "GET" and url.endswith("/" + path)
    ]


def test_publish_tag_pull_verify_offline(hub, releases, monkeypatch, tmp_path):
    result = publish(releases["1.0.0"], REPO)
    assert (result.tag, result.version) == ("v1.0.0", "1.0.0")
    assert hub.state.commit_count(REPO) == 2, (
        "one commit for the whole release (after the repo's initial one)"
    )
    manifest = read_manifest(releases["1.0.0"])
    tagged = hub.files(REPO, "v1.0.0")
    assert set(tagged) == set(manifest["files"]) | {
        "manifest.json",
        "README.md",
        "croissant.json",
        "CHANGELOG.md",
        "derived.json",
        ".gitattributes",
    } | set(VIEW)
    derived = json.loads(tagged["derived.json"])
    assert set(derived["files"]) == {"README.md", "croissant.json", "CHANGELOG.md", *VIEW}
    assert derived["manifest_sha256"] == hashlib.sha256(tagged["manifest.json"]).hexdigest()
    card = tagged["README.md"].decode()
    front = yaml.safe_load(card.split("---")[1])
    assert front["license"] == "cc-by-4.0" and front["task_categories"] == ["image-segmentation"]
    assert "## 1.0.0" in tagged["CHANGELOG.md"].decode()
    assert json.loads(tagged["croissant.json"])["version"] == "1.0.0"

    path = pull("1.0.0", REPO)
    assert path.parent == tmp_path / "cache" / "test-org--hr-gldd" and path.name == result.commit
    assert verify_release(path)["files"] == manifest["files"]
    assert (path / "README.md").read_text() == card

    # Offline: the pulled version opens from the cache index alone, with no request to the server.
    seen = len(hub.state.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    release = hrgldd_data.open_release(version="1.0.0", repo=REPO)
    assert (release.version, release.path, len(release)) == ("1.0.0", path, 30)
    assert hrgldd_data.locate_release(repo=REPO) == path
    assert pull(repo=REPO) == path
    assert [v.version for v in versions(REPO)] == ["1.0.0"]
    assert len(hub.state.requests) == seen


def test_two_versions_side_by_side(hub, releases, monkeypatch):
    publish(releases["1.0.0"], REPO, notes="First release.")
    second = publish(releases["1.1.0"], REPO, notes="Fewer patches.")
    # main holds exactly the newest release: the shards 1.1.0 no longer has are deleted.
    newest = read_manifest(releases["1.1.0"])["files"]
    assert {p for p in hub.files(REPO, "v1.1.0") if p.startswith("image/")} == {
        p for p in newest if p.startswith("image/")
    }
    assert hub.files(REPO, "main") == hub.files(REPO, second.commit)

    listed = versions(REPO)
    assert [(v.version, v.notes) for v in listed] == [
        ("1.0.0", "First release."),
        ("1.1.0", "Fewer patches."),
    ]
    old, new = pull("1.0.0", REPO), pull(repo=REPO)
    assert old != new and new.name == second.commit
    assert read_manifest(old)["version"] == "1.0.0" and read_manifest(new)["version"] == "1.1.0"
    verify_release(old)
    verify_release(new)
    assert hrgldd_data.open_release(repo=REPO).version == "1.1.0"
    assert hrgldd_data.open_release(version="1.0.0", repo=REPO).version == "1.0.0"
    assert "1.0.0" in hub.files(REPO, "v1.1.0")["README.md"].decode().split("## Changelog")[1]


def test_publish_refuses_existing_tag(hub, releases):
    publish(releases["1.0.0"], REPO)
    with pytest.raises(HubError, match="already has v1.0.0.*immutable"):
        publish(releases["1.0.0"], REPO)
    assert hub.state.commit_count(REPO) == 2


def test_publish_refuses_older_than_published(hub, releases):
    publish(releases["1.1.0"], REPO)
    with pytest.raises(HubError, match="newer version"):
        publish(releases["1.0.0"], REPO)


def test_failed_commit_then_rerun_completes(hub, releases):
    hub.state.faults.fail_commit = 1
    with pytest.raises(HubError, match="Re-run"):
        publish(releases["1.0.0"], REPO)
    assert hub.state.commit_count(REPO) == 1 and not hub.state.repos[f"datasets/{REPO}"].tags
    result = publish(releases["1.0.0"], REPO)
    assert hub.state.commit_count(REPO) == 2
    assert hub.state.repos[f"datasets/{REPO}"].tags == {"v1.0.0": result.commit}


def test_failed_tag_then_rerun_tags_without_new_commit(hub, releases):
    hub.state.faults.fail_tag = 1
    with pytest.raises(HubError, match="Re-run"):
        publish(releases["1.0.0"], REPO)
    assert hub.state.commit_count(REPO) == 2
    head = hub.state.repos[f"datasets/{REPO}"].branches["main"]
    result = publish(releases["1.0.0"], REPO)
    assert hub.state.commit_count(REPO) == 2, "the re-run must not commit the same files again"
    assert (result.commit, result.uploaded, result.deleted) == (head, 0, 0)
    assert hub.state.repos[f"datasets/{REPO}"].tags == {"v1.0.0": head}


def test_publish_refuses_manifest_mismatch(hub, releases, tmp_path):
    broken = tmp_path / releases["1.0.0"].name
    shutil.copytree(releases["1.0.0"], broken)
    shard = broken / SHARD
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(HubError, match=r"refusing to publish.*sha256 mismatch"):
        publish(broken, REPO)
    assert not hub.state.repos, "nothing may be created for a release that fails verification"


def test_publish_without_token(hub, releases, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match="HF_TOKEN"):
        publish(releases["1.0.0"], REPO)
    assert not hub.state.repos


def test_token_is_never_shown(hub, releases, monkeypatch, caplog, capsys):
    secret = "hf_secret_that_must_not_leak"
    monkeypatch.setenv("HF_TOKEN", secret)
    with pytest.raises(HubError) as err:
        publish(releases["1.0.0"], REPO)
    shown = str(err.value) + caplog.text + "".join(capsys.readouterr())
    assert "401" in str(err.value) or "credentials" in str(err.value).lower()
    assert secret not in shown


def test_unknown_version_lists_available(hub, releases):
    publish(releases["1.0.0"], REPO)
    publish(releases["1.1.0"], REPO)
    with pytest.raises(
        HubError, match=r"version 2\.0\.0 is not published.*available versions: 1\.0\.0, 1\.1\.0"
    ):
        pull("2.0.0", REPO)


def test_unknown_repo(hub):
    with pytest.raises(HubError, match="test-org/missing not found.*HRGLDD_REPO"):
        pull(repo="test-org/missing")


def test_unreachable_hub_is_a_clear_error(hub, monkeypatch):
    import socket

    from huggingface_hub import constants

    with socket.socket() as probe:  # a port on 127.0.0.1 where nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    monkeypatch.setattr(constants, "ENDPOINT", closed)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        closed + "/{repo_id}/resolve/{revision}/{filename}",
    )
    with pytest.raises(
        HubError, match=f"cannot reach the Hugging Face Hub at {closed}.*HF_ENDPOINT"
    ):
        pull(repo=REPO)
    with pytest.raises(HubError, match="cannot reach"):
        versions(REPO)


def test_corrupted_download_is_fetched_again(hub, releases):
    publish(releases["1.0.0"], REPO)
    hub.state.faults.corrupt[SHARD] = 1
    path = pull("1.0.0", REPO)
    verify_release(path)
    assert len(_gets(hub, SHARD)) == 2


def test_corrupt_on_server_fails_clearly(hub, releases):
    result = publish(releases["1.0.0"], REPO)
    good = hub.files(REPO, result.commit)[SHARD]
    hub.replace_file(REPO, result.commit, SHARD, bytes([good[0] ^ 0xFF]) + good[1:])
    with pytest.raises(HubError, match=rf"{SHARD} still fail sha256 after a second download"):
        pull("1.0.0", REPO)
    assert len(_gets(hub, SHARD)) == 2, "re-fetched exactly once"
    with pytest.raises(ReleaseNotFoundError):
        hrgldd_data.locate_release(repo=REPO)  # an unverified pull is not offered to readers


def test_corrupted_cache_file_is_fetched_again(hub, releases):
    publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    (path / SHARD).write_bytes(b"\0" * (path / SHARD).stat().st_size)
    assert pull("1.0.0", REPO) == path
    verify_release(path)


def test_interrupted_download_resumes(hub, releases, monkeypatch):
    from huggingface_hub import constants

    publish(releases["1.0.0"], REPO)
    # Small read chunks so that the bytes received before the drop reach the file (default 10 MB).
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64)
    hub.state.faults.drop_after[SHARD] = 128
    path = pull("1.0.0", REPO)
    verify_release(path)
    ranges = [h.get("Range") for h in _gets(hub, SHARD)]
    assert ranges == [None, "bytes=128-"], "the second request resumes where the connection dropped"


def test_release_not_found_explains(hub, monkeypatch):
    with pytest.raises(ReleaseNotFoundError) as err:
        hrgldd_data.open_release(version="1.0.0", repo=REPO)
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert (
        "data/releases/: no release" in message
        and "the pull cache" in message
        and "hrgldd pull --version 1.0.0" in message
    )
    assert hub.state.requests == [], (
        "locating a release never touches the network without download=True"
    )


def test_locate_release_download_pulls(hub, releases):
    publish(releases["1.0.0"], REPO)
    release = hrgldd_data.open_release(repo=REPO, download=True, verify=True)
    assert release.version == "1.0.0"


def test_locate_release_in_root_and_env(hub, releases, monkeypatch):
    root = releases["1.0.0"].parent
    assert hrgldd_data.locate_release(root) == releases["1.1.0"]
    assert hrgldd_data.locate_release(root, version="1.0.0") == releases["1.0.0"]
    assert hrgldd_data.locate_release(releases["1.0.0"]) == releases["1.0.0"]
    monkeypatch.setenv("HRGLDD_ARCHIVE", str(root))
    assert hrgldd_data.open_release(version="1.0.0").path == releases["1.0.0"]
    with pytest.raises(
        ReleaseNotFoundError, match=r"HRGLDD_ARCHIVE=.*: hr_gldd 1\.0\.0, hr_gldd 1\.1\.0"
    ):
        hrgldd_data.locate_release(version="3.0.0")


def test_cli_publish_versions_pull(hub, releases, tmp_path):
    runner = CliRunner()
    out = runner.invoke(
        cli, ["publish", str(releases["1.0.0"]), "--repo", REPO, "--notes", "CLI release."]
    )
    assert out.exit_code == 0, out.output
    assert "v1.0.0" in out.output and TOKEN not in out.output
    out = runner.invoke(cli, ["publish", str(releases["1.0.0"]), "--repo", REPO])
    assert out.exit_code == 1 and "immutable" in out.output
    out = runner.invoke(cli, ["versions", "--repo", REPO])
    assert out.exit_code == 0 and "1.0.0" in out.output and "CLI release." in out.output
    out = runner.invoke(cli, ["pull", "--version", "1.0.0", "--repo", REPO])
    assert out.exit_code == 0, out.output
    verify_release(Path(out.stdout.strip().splitlines()[-1]))
    out = runner.invoke(cli, ["pull", "--version", "9.9.9", "--repo", REPO])
    assert out.exit_code == 1 and "available versions: 1.0.0" in out.output


def test_locate_release_directory_of_another_name(hub, tmp_path):
    from factories import make_release

    sample = make_release(tmp_path, name="hr_gldd_sample", version="1.0.0")
    assert hrgldd_data.locate_release(sample) == sample, "without a name, any release is taken"
    assert hrgldd_data.locate_release(tmp_path) == sample
    with pytest.raises(
        ReleaseNotFoundError, match=r"holds hr_gldd_sample 1\.0\.0, not the newest hr_gldd"
    ):
        hrgldd_data.locate_release(sample, name="hr_gldd")
    assert hrgldd_data.locate_release(tmp_path, name="hr_gldd_sample") == sample


def test_failed_pull_rerun_downloads_only_what_is_missing(hub, releases):
    result = publish(releases["1.0.0"], REPO)
    good = hub.files(REPO, result.commit)[SHARD]
    hub.replace_file(REPO, result.commit, SHARD, bytes([good[0] ^ 0xFF]) + good[1:])
    with pytest.raises(HubError):
        pull("1.0.0", REPO)
    hub.replace_file(REPO, result.commit, SHARD, good)  # the Hub copy is repaired
    path = pull("1.0.0", REPO)
    verify_release(path)
    assert len(_gets(hub, "mask/c/0/0/0")) == 1, "files already verified are not downloaded again"
    assert len(_gets(hub, SHARD)) == 3
