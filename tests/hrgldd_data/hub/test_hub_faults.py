"""Hub faults against the local server: a bad transfer is retried and never cached as good, a
moved tag is refused and never re-points the index, a commit with unlisted or escaping files is
refused, and offline opens check the manifest against the index."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hub_server import REPO, Commit

import hrgldd_data
from hrgldd_cli import cli
from hrgldd_data.errors import ArchiveError, HubError, ReleaseNotFoundError
from hrgldd_data.hub import publish, pull
from hrgldd_data.hub.cache import INDEX, read_index, repo_cache
from hrgldd_data.manifest import verify_release

SHARD = "image/c/0/0/0/0"


def retag(server, repo_id: str, tag: str, files: dict[str, bytes]) -> str:
    """Point ``tag`` at a new commit holding ``files``, as a maintainer moving a tag would."""
    repo = server.state.repos[f"datasets/{repo_id}"]
    with server.state.lock:
        sha = server.state.new_sha(repo_id)
        repo.commits[sha] = Commit(sha, repo.tags.get(tag), dict(files), f"moved {tag}")
        repo.tags[tag] = sha
    return sha


def _gets(server, path: str) -> int:
    return sum(
        1
        for method, url, _ in server.state.requests
        if method == "GET" and url.endswith("/" + path)
    )


def _tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _cached(repo: str = REPO) -> dict[str, bytes]:
    """The cache folder of ``repo`` without the huggingface_hub bookkeeping and lock files."""
    return {
        rel: data
        for rel, data in _tree(repo_cache(repo)).items()
        if not rel.startswith((".hf/", ".changelogs/")) and not rel.endswith(".lock")
    }


def _cli_one_line(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), (
        result.output
    )
    return lines[0]


def _modified(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files of a release with one shard changed and its manifest regenerated to match."""
    changed = dict(files)
    shard = bytearray(changed[SHARD])
    shard[len(shard) // 2] ^= 1
    changed[SHARD] = bytes(shard)
    manifest = json.loads(changed["manifest.json"])
    manifest["files"][SHARD] = {
        "sha256": hashlib.sha256(changed[SHARD]).hexdigest(),
        "size": len(changed[SHARD]),
    }
    changed["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return changed


# -- bad transfers ---------------------------------------------------------------------------------
def test_corrupt_manifest_transfer_is_fetched_again(hub, releases):
    publish(releases["1.0.0"], REPO)
    hub.state.faults.corrupt["manifest.json"] = 1
    path = pull("1.0.0", REPO)
    verify_release(path)
    assert _gets(hub, "manifest.json") == 2


def test_twice_corrupt_manifest_never_poisons_the_cache(hub, releases):
    publish(releases["1.0.0"], REPO)
    hub.state.faults.corrupt["manifest.json"] = 2
    line = _cli_one_line(["pull", "--version", "1.0.0", "--repo", REPO])
    assert "manifest.json still fails its checksum" in line and "nothing was cached" in line
    assert read_index(repo_cache(REPO))["versions"] == {}
    assert not any(rel.endswith("manifest.json") for rel in _cached())
    with pytest.raises(ReleaseNotFoundError):
        hrgldd_data.locate_release(repo=REPO)
    path = pull("1.0.0", REPO)  # the next pull works: nothing bad was kept
    verify_release(path)


def test_corrupt_shard_transfer_twice_caches_nothing(hub, releases):
    publish(releases["1.0.0"], REPO)
    hub.state.faults.corrupt[SHARD] = 2
    with pytest.raises(HubError, match=rf"{SHARD} still fail sha256.*nothing was cached"):
        pull("1.0.0", REPO)
    assert read_index(repo_cache(REPO))["versions"] == {}
    assert not any(rel.endswith(SHARD) for rel in _cached())
    verify_release(pull("1.0.0", REPO))


# -- moved tags ------------------------------------------------------------------------------------
def test_moved_tag_is_refused_and_the_index_never_repointed(hub, releases, monkeypatch):
    published = publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    index_before = (repo_cache(REPO) / INDEX).read_bytes()
    cached_before = _tree(path)
    moved = retag(hub, REPO, "v1.0.0", _modified(hub.files(REPO, published.commit)))
    line = _cli_one_line(["pull", "--version", "1.0.0", "--repo", REPO])
    assert f"now points at commit {moved[:12]}" in line
    assert f"pulled from commit {published.commit[:12]}" in line
    assert "never change" in line and str(path) in line
    assert (repo_cache(REPO) / INDEX).read_bytes() == index_before
    assert _tree(path) == cached_before and not (repo_cache(REPO) / moved).exists()
    assert _gets(hub, SHARD) == 1, "nothing of the moved tag was downloaded"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hrgldd_data.open_release(version="1.0.0", repo=REPO).path == path


def test_newest_version_follows_no_moved_tag_either(hub, releases):
    published = publish(releases["1.0.0"], REPO)
    pull(repo=REPO)
    retag(hub, REPO, "v1.0.0", _modified(hub.files(REPO, published.commit)))
    with pytest.raises(HubError, match="now points at commit"):
        pull(repo=REPO)


# -- what a published commit may hold -----------------------------------------------------------
@pytest.mark.parametrize("extra", ["extra.bin", "image/c/9/0/0/0", "data/evil.parquet"])
def test_unlisted_files_in_a_commit_are_refused(hub, releases, extra):
    published = publish(releases["1.0.0"], REPO)
    hub.replace_file(REPO, published.commit, extra, b"not part of the release")
    line = _cli_one_line(["pull", "--version", "1.0.0", "--repo", REPO])
    assert extra in line and "neither manifest.json nor derived.json lists" in line
    assert read_index(repo_cache(REPO))["versions"] == {}
    assert _gets(hub, SHARD) == 0, "refused before the archive was downloaded"


def test_manifest_listing_a_path_out_of_the_cache_is_refused(hub, releases, tmp_path):
    published = publish(releases["1.0.0"], REPO)
    files = dict(hub.files(REPO, published.commit))
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["../../escaped.bin"] = manifest["files"].pop(SHARD)
    files["manifest.json"] = json.dumps(manifest).encode()
    retag(hub, REPO, "v1.0.0", files)
    line = _cli_one_line(["pull", "--version", "1.0.0", "--repo", REPO])
    assert "'../../escaped.bin'" in line and "not a plain path inside the release" in line
    assert not list(tmp_path.rglob("escaped.bin"))
    assert read_index(repo_cache(REPO))["versions"] == {}


def test_derived_listing_of_another_manifest_is_refused(hub, releases):
    published = publish(releases["1.0.0"], REPO)
    files = dict(hub.files(REPO, published.commit))
    derived = json.loads(files["derived.json"])
    derived["manifest_sha256"] = "0" * 64
    files["derived.json"] = json.dumps(derived).encode()
    retag(hub, REPO, "v1.0.0", files)
    with pytest.raises(HubError, match="derived.json was made from another manifest.json"):
        pull("1.0.0", REPO)


def test_tampered_card_on_the_hub_is_refused(hub, releases):
    published = publish(releases["1.0.0"], REPO)
    card = hub.files(REPO, published.commit)["README.md"]
    hub.replace_file(REPO, published.commit, "README.md", card.replace(b"HR-GLDD", b"HR-GLDX"))
    with pytest.raises(HubError, match="README.md still fail sha256"):
        pull("1.0.0", REPO)


def test_listed_file_missing_on_the_hub(hub, releases):
    published = publish(releases["1.0.0"], REPO)
    del hub.files(REPO, published.commit)["mask/c/1/0/0"]
    with pytest.raises(HubError, match=r"missing mask/c/1/0/0.*refusing to pull"):
        pull("1.0.0", REPO)


# -- the cache and its index ---------------------------------------------------------------------
def test_offline_open_checks_the_manifest_against_the_index(hub, releases, monkeypatch):
    publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    for rel, data in _modified(_tree(path)).items():  # a consistent but different release
        (path / rel).write_bytes(data)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ArchiveError, match="differs from the manifest recorded when this version"):
        hrgldd_data.open_release(version="1.0.0", repo=REPO)
    line = _cli_one_line(["verify", str(path)])
    assert "manifest.json: differs from the manifest recorded" in line
    assert f"hrgldd pull --version 1.0.0 --repo {REPO}" in line


def test_online_pull_repairs_a_tampered_cache(hub, releases):
    publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    original = _tree(path)
    for rel, data in _modified(original).items():
        (path / rel).write_bytes(data)
    assert pull("1.0.0", REPO) == path
    assert _tree(path) == original
    verify_release(path)


def test_an_entry_without_a_recorded_manifest_is_pulled_again(hub, releases, monkeypatch):
    publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    folder = repo_cache(REPO)
    index = read_index(folder)
    del index["versions"]["1.0.0"]["manifest_sha256"]  # as an older hrgldd wrote it
    (folder / INDEX).write_text(json.dumps(index))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ReleaseNotFoundError):
        hrgldd_data.locate_release(version="1.0.0", repo=REPO)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert pull("1.0.0", REPO) == path
    assert read_index(folder)["versions"]["1.0.0"]["manifest_sha256"]


@pytest.mark.parametrize("garbage", ["[]", '{"versions": []}', '{"versions": {"1.0.0": 5}}', "{"])
def test_a_garbled_index_is_never_a_crash(hub, releases, garbage):
    publish(releases["1.0.0"], REPO)
    folder = repo_cache(REPO)
    folder.mkdir(parents=True)
    (folder / INDEX).write_text(garbage)
    with pytest.raises(ReleaseNotFoundError):
        hrgldd_data.locate_release(repo=REPO)
    verify_release(pull("1.0.0", REPO))


def test_pulled_release_holds_no_download_bookkeeping(hub, releases):
    publish(releases["1.0.0"], REPO)
    path = pull("1.0.0", REPO)
    assert not (path / ".cache").exists()
    assert not (repo_cache(REPO) / ".staging" / path.name).exists()


def test_an_interrupted_staging_copy_is_never_offered(hub, releases):
    published = publish(releases["1.0.0"], REPO)
    hub.state.faults.corrupt[SHARD] = 2
    with pytest.raises(HubError):
        pull("1.0.0", REPO)
    staging = repo_cache(REPO) / ".staging" / published.commit
    assert staging.is_dir(), "verified files are kept for the next pull"
    with pytest.raises(ReleaseNotFoundError):
        hrgldd_data.open_release(staging.parent.parent, version="1.0.0")
    shutil.rmtree(staging)
    verify_release(pull("1.0.0", REPO))


def _poison_hf_cache(commit: str, files: dict[str, bytes]) -> None:
    """Put wrong files for ``commit`` into huggingface_hub's own cache (a stale or shared one)."""
    from huggingface_hub import constants

    snapshot = Path(constants.HF_HUB_CACHE) / "datasets--test-org--hr-gldd" / "snapshots" / commit
    for rel, data in files.items():
        (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / rel).write_bytes(data)


def test_a_poisoned_huggingface_cache_never_reaches_the_pull(hub, releases):
    published = publish(releases["1.0.0"], REPO)
    _poison_hf_cache(
        published.commit,
        {"manifest.json": b"{}", SHARD: b"\0" * 100, "README.md": b"# poisoned card\n"},
    )
    path = pull("1.0.0", REPO)
    verify_release(path)
    assert (path / "README.md").read_bytes() == hub.files(REPO, published.commit)["README.md"]


def test_a_poisoned_huggingface_cache_never_reaches_a_published_card(hub, releases, tmp_path):
    pytest.importorskip("torch")
    import numpy as np

    from baselines.run import main as run_main
    from baselines.submission import expected_ids
    from hrgldd_data.archive import open_archive

    published = publish(releases["1.0.0"], REPO)
    markers = b"<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n"
    _poison_hf_cache(published.commit, {"README.md": b"# poisoned card\n" + markers})
    opened = open_archive(releases["1.0.0"])
    indices, ids = expected_ids(opened)
    preds = tmp_path / "p.npz"
    np.savez_compressed(preds, ids=np.asarray(ids, dtype=str), masks=opened.read(indices)[1])
    out = tmp_path / "out"
    args = ["--release", str(releases["1.0.0"]), "--out", str(out), "--submission", str(preds)]
    assert CliRunner().invoke(run_main, [*args, "--name", "p", "--no-progress"]).exit_code == 0
    result = CliRunner().invoke(
        cli, ["publish-leaderboard", str(out / "hr_gldd-1.0.0"), "--repo", REPO]
    )
    assert result.exit_code == 0, result.output
    card = hub.files(REPO, "main")["README.md"].decode()
    assert "poisoned" not in card and card.startswith("---\n") and "| p |" in card
