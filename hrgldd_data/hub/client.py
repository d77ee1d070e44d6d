"""Publish releases to the Hugging Face Hub and pull them back, verified, into the local cache.

A dataset repo on the Hub holds one release at the root of each tagged commit:

- the archive: the Zarr files listed in ``manifest.json``, and ``manifest.json`` itself;
- derived files made by :func:`publish` for presentation: ``README.md`` (the dataset card),
  ``croissant.json``, ``CHANGELOG.md`` (and a Parquet view under ``data/``), listed with sha256
  and size in ``derived.json``, which also records the sha256 of ``manifest.json``;
- ``leaderboards/<version>.md`` and ``.json`` exist only on ``main`` (:func:`publish_leaderboard`)
  and are never part of a pulled release.

Any other file in a tagged commit makes :func:`pull` refuse it. Version ``X.Y.Z`` is the tag
``vX.Y.Z``; ``main`` holds the newest version plus the leaderboards. Pulled versions land in the
cache of :mod:`hrgldd_data.hub.cache`: downloaded into a staging folder, verified, retried once
when bad, and only then moved into place and recorded in the version index. The endpoint is the
standard ``HF_ENDPOINT``, read at call time; ``huggingface_hub`` is imported only when used.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrgldd_data.changelog import (
    CHANGELOG,
    VersionInfo,
    format_changelog,
    parse_changelog,
    release_notes,
)
from hrgldd_data.errors import ArchiveError, HubError, ReleaseNotFoundError
from hrgldd_data.fileio import sha256_file
from hrgldd_data.hub.cache import (
    DEFAULT_REPO,
    REPO_ENV,
    STAGING,
    cached_versions,
    index_entry,
    read_index,
    record_pull,
    repo_cache,
    resolve_repo,
)
from hrgldd_data.hub.connection import (
    endpoint,
    git_blob_oid,
    http_reason,
    hub_api,
    needs_hub,
    offline,
    token_for,
    unchanged,
)
from hrgldd_data.manifest import (
    DERIVED,
    MANIFEST,
    PRESENTATION,
    VerifiedIndex,
    check_release,
    read_derived,
    read_manifest,
    remember_moved,
    verify_release,
    write_derived,
)
from hrgldd_data.schema import parse_version

log = logging.getLogger(__name__)

#: Files a published commit holds besides the archive's Zarr files and manifest.
CARD_FILES = ("README.md", "croissant.json", CHANGELOG)
#: Folder of main that holds the published leaderboards (never part of a pulled release).
LEADERBOARDS = "leaderboards"
#: Files of a commit that are not the release's and are never downloaded.
IGNORED = (".gitattributes",)
_TAG_RE = re.compile(r"^v(\d+\.\d+\.\d+)$")
_BOARD_RE = re.compile(rf"^{LEADERBOARDS}/(\d+\.\d+\.\d+)\.(md|json)$")


@dataclass(frozen=True)
class PublishResult:
    repo: str
    version: str
    tag: str
    commit: str
    uploaded: int
    deleted: int
    url: str


def _remote_tree(api, repo: str, revision: str, folder: str | None = None) -> dict[str, Any]:
    """path -> ``RepoFile`` of every file of ``repo`` at ``revision`` (below ``folder``)."""
    from huggingface_hub import RepoFile
    from huggingface_hub.errors import EntryNotFoundError

    try:
        entries = api.list_repo_tree(
            repo, path_in_repo=folder, repo_type="dataset", revision=revision, recursive=True
        )
        return {f.path: f for f in entries if isinstance(f, RepoFile)}
    except EntryNotFoundError:
        return {}


def _download(api, repo: str, revision: str, rel: str, folder: Path, *, force: bool = False):
    from huggingface_hub import hf_hub_download

    return Path(
        hf_hub_download(
            repo,
            rel,
            repo_type="dataset",
            revision=revision,
            local_dir=folder,
            endpoint=endpoint(),
            token=api.token,
            force_download=force,
        )
    )


# -- publish ---------------------------------------------------------------------------------------
def _remote_leaderboards(api, repo: str, head: str | None, remote: dict[str, Any], folder: Path):
    """version -> Markdown of the leaderboards published on ``main`` (read from its files)."""
    boards = {}
    for rel in sorted(remote):
        match = _BOARD_RE.match(rel)
        if match and match.group(2) == "md":
            boards[match.group(1)] = _fetch_verified(
                api, repo, head, rel, remote, folder
            ).read_text()
    return boards


@needs_hub
def publish(
    archive: str | os.PathLike[str],
    repo: str | None = None,
    *,
    notes: str | None = None,
    private: bool = False,
) -> PublishResult:
    """Upload a verified release to ``repo`` in one commit and tag it ``vX.Y.Z``.

    Refuses a release that fails :func:`~hrgldd_data.manifest.verify_release`, a version that is
    already tagged, and a version older than the newest published one (``main`` always holds the
    newest). The card shows the leaderboards already on ``main``, which stay there. Files the
    remote ``main`` already holds byte for byte are not sent again and an unchanged ``main`` gets
    no new commit, so a run that failed part way can simply be repeated. The token comes from
    huggingface_hub (``HF_TOKEN`` or ``hf auth login``) and is never shown.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import HfHubHTTPError

    from hrgldd_data.archive import open_archive
    from hrgldd_data.cards import render_card, render_croissant

    archive = Path(archive)
    repo = resolve_repo(repo)
    try:
        manifest = verify_release(archive)
        release = open_archive(archive)
    except ArchiveError as err:
        raise HubError(f"refusing to publish: {err}") from err
    name, version = manifest["name"], manifest["version"]
    if (release.name, release.version) != (name, version):
        raise HubError(
            f"refusing to publish {archive}: manifest says {name} {version} but the archive says "
            f"{release.name} {release.version}; rebuild the release"
        )
    token = token_for(repo)
    api = hub_api(token)
    tag = f"v{version}"
    try:
        api.create_repo(repo, repo_type="dataset", exist_ok=True, private=private)
        refs = api.list_repo_refs(repo, repo_type="dataset")
        published = {m.group(1): t.target_commit for t in refs.tags if (m := _TAG_RE.match(t.name))}
        if version in published:
            raise HubError(
                f"{repo} already has {tag} (commit {published[version][:12]}): published versions "
                "are immutable. Bump the version in the release file and rebuild."
            )
        newer = [v for v in published if parse_version(v) > parse_version(version)]
        if newer:
            raise HubError(
                f"{repo} already has the newer version(s) {sorted(newer, key=parse_version)}; "
                f"main must hold the newest release, so {version} cannot be published after them"
            )
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        remote = _remote_tree(api, repo, head) if head else {}
        entries: dict[str, VersionInfo] = {}
        with tempfile.TemporaryDirectory(prefix="hrgldd-publish-") as staging:
            staging = Path(staging)
            if CHANGELOG in remote:
                old = _fetch_verified(api, repo, head, CHANGELOG, remote, staging / "remote")
                entries = parse_changelog(old.read_text())
            boards = _remote_leaderboards(api, repo, head, remote, staging / "remote")
            previous = entries.get(version)
            today = _dt.datetime.now(_dt.UTC).date().isoformat()
            entries[version] = VersionInfo(
                version,
                "",
                previous.date if previous else today,
                notes if notes is not None else release_notes(release),
            )
            date = entries[version].date
            card = staging / "card"
            card.mkdir()
            (card / "README.md").write_text(
                render_card(
                    release, changelog=list(entries.values()), repo=repo, leaderboards=boards
                )
            )
            (card / "croissant.json").write_text(
                json.dumps(render_croissant(release, repo=repo, date_published=date), indent=2)
                + "\n"
            )
            (card / CHANGELOG).write_text(format_changelog(name, entries.values()))
            shutil.copyfile(archive / MANIFEST, card / MANIFEST)
            # The Parquet view (data/*.parquet) that `datasets` and the dataset viewer read.
            from hrgldd_data.parquet import write_parquet_view

            view = [p.relative_to(card).as_posix() for p in write_parquet_view(release, card)]
            write_derived(card, (*CARD_FILES, *view))
            files = {rel: archive / rel for rel in manifest["files"]}
            files[MANIFEST] = archive / MANIFEST
            files |= {rel: card / rel for rel in (*CARD_FILES, *view, DERIVED)}
            additions = [
                CommitOperationAdd(rel, str(path))
                for rel, path in sorted(files.items())
                if not unchanged(path, remote.get(rel))
            ]
            deletions = [
                CommitOperationDelete(rel)
                for rel in sorted(remote)
                if rel not in files and rel not in IGNORED and not _BOARD_RE.match(rel)
            ]
            if additions or deletions:
                info = api.create_commit(
                    repo,
                    [*additions, *deletions],
                    commit_message=f"Release {name} {version}",
                    commit_description=entries[version].notes,
                    repo_type="dataset",
                    revision="main",
                    parent_commit=head,
                )
                commit = info.oid
            else:
                log.info("main of %s already holds %s %s; only tagging it", repo, name, version)
                commit = head
        api.create_tag(
            repo, tag=tag, revision=commit, tag_message=entries[version].notes, repo_type="dataset"
        )
    except HfHubHTTPError as err:
        raise HubError(
            f"publishing {name} {version} to {repo} failed: {http_reason(err)}. Re-run to finish."
        ) from err
    return PublishResult(
        repo,
        version,
        tag,
        commit,
        len(additions),
        len(deletions),
        f"{endpoint()}/datasets/{repo}/tree/{tag}",
    )


# -- leaderboards ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedManifest:
    """The manifest of a published version, read from its tag."""

    repo: str
    version: str
    commit: str
    manifest: dict[str, Any]
    sha256: str


@needs_hub
def published_manifest(version: str, repo: str | None = None) -> PublishedManifest:
    """The ``manifest.json`` of a published version, checked against the Hub's tree."""
    from huggingface_hub.errors import HfHubHTTPError

    repo = resolve_repo(repo)
    version = version.removeprefix("v")
    api = hub_api()
    published = _published(api, repo)
    if version not in published:
        raise HubError(
            f"version {version} is not published in {repo} (published: "
            f"{', '.join(sorted(published, key=parse_version)) or 'none'}); publish the release "
            "first (`hrgldd publish`)"
        )
    commit = published[version]
    try:
        tree = _remote_tree(api, repo, commit)
        with tempfile.TemporaryDirectory(prefix="hrgldd-manifest-") as tmp:
            path = _fetch_verified(api, repo, commit, MANIFEST, tree, Path(tmp), None)
            manifest = read_manifest(path.parent)
            digest = sha256_file(path)
    except HfHubHTTPError as err:
        raise HubError(f"reading {repo} {version} failed: {http_reason(err)}") from err
    except ArchiveError as err:
        raise HubError(f"{repo} {version} (commit {commit[:12]}): {err}") from err
    return PublishedManifest(repo, version, commit, manifest, digest)


@needs_hub
def leaderboards(repo: str | None = None) -> dict[str, str]:
    """Versions with a leaderboard on ``main`` -> the path of its Markdown file."""
    repo = resolve_repo(repo)
    api = hub_api()
    refs = api.list_repo_refs(repo, repo_type="dataset")
    head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
    if head is None:
        return {}
    found = {}
    for rel in _remote_tree(api, repo, head, LEADERBOARDS):
        match = _BOARD_RE.match(rel)
        if match and match.group(2) == "md":
            found[match.group(1)] = rel
    return dict(sorted(found.items(), key=lambda item: parse_version(item[0])))


@needs_hub
def publish_leaderboard(
    version: str,
    *,
    markdown: str,
    results: bytes,
    manifest_sha256: str,
    repo: str | None = None,
) -> PublishResult:
    """Commit ``leaderboards/<version>.md`` and ``.json`` to ``main`` and show them in its card.

    The scores must come from the published bytes: ``manifest_sha256`` (what the results
    recorded) must be the sha256 of the ``manifest.json`` tagged ``v<version>``. One commit on
    ``main``, whose card (``README.md``) and ``derived.json`` are updated; no tag is created or
    moved, so every published version stays byte for byte what it was. Publishing the same
    leaderboard again makes no commit.
    """
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    from hrgldd_data.cards import leaderboard_section, replace_leaderboard

    repo = resolve_repo(repo)
    version = version.removeprefix("v")
    parse_version(version)
    token = token_for(repo)
    published = published_manifest(version, repo)
    if published.sha256 != manifest_sha256:
        raise HubError(
            f"these scores were computed on a release whose manifest.json has sha256 "
            f"{manifest_sha256[:12]}..., not the one tagged v{version} in {repo} "
            f"({published.sha256[:12]}...): scores of other bytes are not published. Pull the "
            f"version (`hrgldd pull --version {version} --repo {repo}`), score it "
            f"(`python -m baselines.run --release {version}`) and publish those results"
        )
    api = hub_api(token)
    try:
        refs = api.list_repo_refs(repo, repo_type="dataset")
        head = next(b.target_commit for b in refs.branches if b.name == "main")
        remote = _remote_tree(api, repo, head)
        if "README.md" not in remote:
            raise HubError(f"main of {repo} has no README.md (dataset card); publish a release")
        with tempfile.TemporaryDirectory(prefix="hrgldd-leaderboard-") as tmp:
            staging = Path(tmp)
            boards = _remote_leaderboards(api, repo, head, remote, staging / "remote")
            boards[version] = markdown
            card = _fetch_verified(api, repo, head, "README.md", remote, staging / "remote")
            card_text = card.read_text()
            try:
                card_text = replace_leaderboard(card_text, leaderboard_section(boards))
            except ValueError as err:
                raise HubError(f"main of {repo}: {err}") from err
            out = staging / "out"
            (out / LEADERBOARDS).mkdir(parents=True)
            files = {
                f"{LEADERBOARDS}/{version}.md": markdown,
                f"{LEADERBOARDS}/{version}.json": results,
                "README.md": card_text,
            }
            for rel, data in files.items():
                target = out / rel
                target.write_bytes(data.encode() if isinstance(data, str) else data)
            if DERIVED in remote:
                remote_derived = _fetch_verified(
                    api, repo, head, DERIVED, remote, staging / "remote"
                )
                derived = json.loads(remote_derived.read_text())
                derived["files"]["README.md"] = {
                    "sha256": sha256_file(out / "README.md"),
                    "size": (out / "README.md").stat().st_size,
                }
                (out / DERIVED).write_text(json.dumps(derived, indent=2, sort_keys=True) + "\n")
                files[DERIVED] = ""
            additions = [
                CommitOperationAdd(rel, str(out / rel))
                for rel in sorted(files)
                if not unchanged(out / rel, remote.get(rel))
            ]
            commit = head
            if additions:
                info = api.create_commit(
                    repo,
                    additions,
                    commit_message=f"Leaderboard of {version}",
                    commit_description=f"Scores of v{version} (manifest sha256 {manifest_sha256})",
                    repo_type="dataset",
                    revision="main",
                    parent_commit=head,
                )
                commit = info.oid
    except HfHubHTTPError as err:
        raise HubError(
            f"publishing the leaderboard of {version} to {repo} failed: {http_reason(err)}. "
            "Re-run to finish."
        ) from err
    return PublishResult(
        repo,
        version,
        f"v{version}",
        commit,
        len(additions),
        0,
        f"{endpoint()}/datasets/{repo}/blob/main/{LEADERBOARDS}/{version}.md",
    )


# -- versions and pull -----------------------------------------------------------------------------
def _published(api, repo: str) -> dict[str, str]:
    """version -> commit of every ``vX.Y.Z`` tag of ``repo``."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        refs = api.list_repo_refs(repo, repo_type="dataset")
    except RepositoryNotFoundError as err:
        raise HubError(
            f"dataset repo {repo} not found on {endpoint()}: check --repo or {REPO_ENV} "
            f"(default {DEFAULT_REPO}); a private repo also needs HF_TOKEN"
        ) from err
    except HfHubHTTPError as err:
        raise HubError(
            f"cannot list versions of {repo} on {endpoint()}: {http_reason(err)}"
        ) from err
    return {m.group(1): t.target_commit for t in refs.tags if (m := _TAG_RE.match(t.name))}


@needs_hub
def versions(
    repo: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> list[VersionInfo]:
    """Published versions of ``repo``, oldest first, with their release notes.

    Offline (``HF_HUB_OFFLINE=1``) this lists the versions pulled into the cache.
    """
    repo = resolve_repo(repo)
    if offline():
        folder = repo_cache(repo, cache_dir)
        index = read_index(folder)["versions"]
        found = [
            VersionInfo(v, index[v]["commit"], index[v].get("date"), index[v].get("notes", ""))
            for v in cached_versions(repo, cache_dir)
        ]
        return sorted(found, key=lambda info: parse_version(info.version))
    api = hub_api()
    published = _published(api, repo)
    if not published:
        return []
    newest = max(published, key=parse_version)
    notes = _remote_changelog(repo, published[newest], cache_dir)
    return [
        VersionInfo(
            v,
            published[v],
            notes[v].date if v in notes else None,
            notes[v].notes if v in notes else "",
        )
        for v in sorted(published, key=parse_version)
    ]


def _remote_changelog(repo: str, commit: str, cache_dir) -> dict[str, VersionInfo]:
    api = hub_api()
    tree = _remote_tree(api, repo, commit)
    if CHANGELOG not in tree:
        return {}
    folder = repo_cache(repo, cache_dir) / ".changelogs" / commit
    path = _fetch_verified(api, repo, commit, CHANGELOG, tree, folder)
    return parse_changelog(path.read_text())


def _matches_remote(path: Path, remote) -> bool:
    """True when a downloaded file has the size and object id the Hub's tree lists for it."""
    if not path.is_file() or path.stat().st_size != remote.size:
        return False
    if remote.lfs is not None:
        return sha256_file(path) == remote.lfs.sha256
    return git_blob_oid(path) == remote.blob_id


def _fetch_verified(
    api,
    repo: str,
    commit: str,
    rel: str,
    tree: dict[str, Any],
    folder: Path,
    sha256: str | None = None,
) -> Path:
    """Download one file and check it against the Hub's tree (and ``sha256``); a bad transfer
    (or a stale copy that huggingface_hub took from its own cache) is fetched once more, then
    refused and removed. Used for every file read from the Hub outside the archive's download."""
    if rel not in tree:
        raise HubError(f"{repo} commit {commit[:12]} has no {rel}: it is not an HR-GLDD release")

    def good(path: Path) -> bool:
        return _matches_remote(path, tree[rel]) and (sha256 is None or sha256_file(path) == sha256)

    path = folder / rel
    if good(path):
        return path
    path.unlink(missing_ok=True)
    for attempt in (1, 2):
        path = _download(api, repo, commit, rel, folder, force=attempt == 2)
        if good(path):
            return path
        path.unlink(missing_ok=True)
        if attempt == 1:
            log.warning("%s of %s %s failed its checksum; fetching it again", rel, repo, commit)
    recorded = " or the sha256 recorded when it was pulled before" if sha256 else ""
    raise HubError(
        f"{repo} (commit {commit[:12]}): {rel} still fails its checksum (the Hub's object id"
        f"{recorded}) after a second download. The copy on the Hub is corrupt or the connection "
        "alters data; nothing was cached. Re-run later, or report it to the dataset maintainers."
    )


def _release_layout(
    repo: str, commit: str, tree: dict[str, Any], manifest: dict, derived: dict | None
) -> dict[str, Any]:
    """rel -> expected sha256 (None: only the Hub's object id) of every file to download.

    Refuses a commit with files no listing names (leaderboards and ``.gitattributes`` aside) and
    listed files the commit lacks or holds with another size.
    """
    wanted: dict[str, str | None] = {rel: e["sha256"] for rel, e in manifest["files"].items()}
    if derived is not None:
        wanted |= {rel: e["sha256"] for rel, e in derived["files"].items()}
    else:  # published before derived.json existed: presentation files checked by object id only
        wanted |= {rel: None for rel in PRESENTATION if rel in tree}
    sizes = {rel: e["size"] for rel, e in manifest["files"].items()}
    sizes |= {rel: e["size"] for rel, e in (derived or {"files": {}})["files"].items()}
    listings = {MANIFEST, DERIVED}
    unlisted = sorted(
        rel
        for rel in tree
        if rel not in wanted
        and rel not in listings
        and rel not in IGNORED
        and not rel.startswith(LEADERBOARDS + "/")
    )
    if unlisted:
        shown = ", ".join(unlisted[:5]) + (f" and {len(unlisted) - 5} more" if unlisted[5:] else "")
        raise HubError(
            f"{repo} commit {commit[:12]} holds files that neither manifest.json nor derived.json "
            f"lists: {shown}. A published release holds only those; refusing to pull it. Report "
            "it to the dataset maintainers"
        )
    missing = sorted(rel for rel in wanted if rel not in tree)
    resized = sorted(
        rel for rel in wanted if rel in tree and rel in sizes and tree[rel].size != sizes[rel]
    )
    if missing or resized:
        shown = [f"missing {rel}" for rel in missing[:5]] + [
            f"{rel}: {tree[rel].size} bytes on the Hub, listed as {sizes[rel]}"
            for rel in resized[:5]
        ]
        raise HubError(
            f"{repo} commit {commit[:12]} does not hold the release its manifest lists "
            f"({'; '.join(shown)}); refusing to pull it. Report it to the dataset maintainers"
        )
    return wanted


def _file_ok(
    staging: Path, rel: str, expected: str | None, remote, memo: VerifiedIndex, listed: dict
) -> bool:
    path = staging / rel
    if expected is None:
        return _matches_remote(path, remote)
    if not path.is_file():
        return False
    return memo.matches(path, rel, listed[rel])


def _download_release(
    api, repo: str, version: str, commit: str, folder: Path, known: dict[str, Any] | None
) -> tuple[Path, dict[str, Any], str, str | None]:
    """Download a commit into staging, verify it, retry bad files once, move it into place.

    Returns the release directory, its manifest and the sha256 of manifest.json and derived.json.
    """
    from huggingface_hub import snapshot_download

    target = folder / commit
    staging = folder / STAGING / commit
    staging.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # an unrecorded or damaged copy: keep what verifies, fetch the rest
        shutil.rmtree(staging, ignore_errors=True)
        os.rename(target, staging)
        remember_moved(target, staging)
    tree = _remote_tree(api, repo, commit)
    recorded = known.get("manifest_sha256") if known else None
    manifest_path = _fetch_verified(api, repo, commit, MANIFEST, tree, staging, recorded)
    manifest_sha = sha256_file(manifest_path)
    derived_sha = None
    try:
        manifest = read_manifest(staging)
        if DERIVED in tree:
            derived_path = _fetch_verified(api, repo, commit, DERIVED, tree, staging, None)
            derived_sha = sha256_file(derived_path)
        else:
            (staging / DERIVED).unlink(missing_ok=True)
        derived = read_derived(staging, manifest)
    except ArchiveError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise HubError(
            f"{repo} {version} (commit {commit[:12]}) is not a valid release: {err}"
        ) from err
    if manifest["version"] != version:
        shutil.rmtree(staging, ignore_errors=True)
        raise HubError(f"tag v{version} of {repo} holds a release of version {manifest['version']}")
    if derived is not None and derived["manifest_sha256"] != manifest_sha:
        shutil.rmtree(staging, ignore_errors=True)
        raise HubError(
            f"{repo} {version} (commit {commit[:12]}): derived.json was made from another "
            "manifest.json; refusing to pull it. Report it to the dataset maintainers"
        )
    try:
        wanted = _release_layout(repo, commit, tree, manifest, derived)
    except HubError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    listed = manifest["files"] | (derived["files"] if derived else {})
    memo = VerifiedIndex(staging)

    def bad_files() -> list[str]:
        return [
            rel
            for rel, expected in sorted(wanted.items())
            if not _file_ok(staging, rel, expected, tree[rel], memo, listed)
        ]

    todo = bad_files()
    for rel in todo:
        (staging / rel).unlink(missing_ok=True)
    if todo:
        snapshot_download(
            repo,
            repo_type="dataset",
            revision=commit,
            local_dir=staging,
            cache_dir=folder / ".hf",
            allow_patterns=todo,
            max_workers=4,
            endpoint=endpoint(),
            token=api.token,
        )
    bad = bad_files()
    if bad:
        log.warning(
            "%d file(s) of %s %s failed sha256; fetching them again: %s",
            len(bad),
            repo,
            version,
            bad,
        )
        for rel in bad:
            (staging / rel).unlink(missing_ok=True)
            _download(api, repo, commit, rel, staging, force=True)
        still = bad_files()
        if still:
            for rel in still:
                (staging / rel).unlink(missing_ok=True)
            memo.save()
            raise HubError(
                f"{repo} {version} (commit {commit[:12]}): {', '.join(still)} still fail sha256 "
                "after a second download. The copy on the Hub is corrupt or the connection alters "
                "data; nothing was cached. Re-run later, or report it to the dataset maintainers."
            )
    memo.save()
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    try:
        check_release(staging, hashing="memo", manifest_sha256=manifest_sha)
    except ArchiveError as err:
        raise HubError(f"{repo} {version} (commit {commit[:12]}): {err}") from err
    os.rename(staging, target)
    remember_moved(staging, target)
    return target, manifest, manifest_sha, derived_sha


@needs_hub
def pull(
    version: str | None = None,
    repo: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Download a published version (default: the newest tag), verify it, return its directory.

    Files go to a staging folder first, are checked against the Hub's tree, ``manifest.json`` and
    ``derived.json``, are fetched once more when bad, and only a release that verifies completely
    is moved into the cache and recorded in its index (commit and the sha256 of ``manifest.json``
    and ``derived.json``). A failed pull caches nothing and the next one resumes. A version
    already pulled is checked and returned without downloading; one whose tag now points at
    another commit than the one recorded is refused (published versions are immutable). With
    ``HF_HUB_OFFLINE=1`` only the cache is used.
    """
    from filelock import FileLock
    from huggingface_hub.errors import HfHubHTTPError

    repo = resolve_repo(repo)
    version = version.removeprefix("v") if version else None
    if version:
        parse_version(version)
    folder = repo_cache(repo, cache_dir)
    if offline():
        cached = cached_versions(repo, cache_dir)
        chosen = version or (list(cached)[-1] if cached else None)
        if chosen not in cached:
            raise ReleaseNotFoundError(
                f"version {version or '(newest)'} of {repo} is not in the cache {folder} and "
                f"HF_HUB_OFFLINE is set; cached versions: {list(cached) or 'none'}. "
                "Pull it while online: `hrgldd pull --version X.Y.Z`"
            )
        _check_cached(cached[chosen], repo, chosen)
        return cached[chosen]

    api = hub_api()
    published = _published(api, repo)
    if not published:
        raise HubError(f"{repo} has no published versions (no vX.Y.Z tags)")
    if version is None:
        version = max(published, key=parse_version)
    elif version not in published:
        available = sorted(published, key=parse_version)
        raise HubError(
            f"version {version} is not published in {repo}; "
            f"available versions: {', '.join(available)}"
        )
    commit = published[version]
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f".{commit}.lock")):
        known = index_entry(folder, version)
        if known is not None and known["commit"] != commit:
            where = folder / known["commit"]
            raise HubError(
                f"tag v{version} of {repo} now points at commit {commit[:12]}, but {version} was "
                f"pulled from commit {known['commit'][:12]}: a published version must never "
                "change, so the moved tag is not followed. The copy pulled before stays in use "
                f"({where}; offline: HF_HUB_OFFLINE=1). Ask the maintainers to restore the tag "
                "or publish the new data as a new version"
            )
        target = folder / commit
        if known is not None and known.get("manifest_sha256") and target.is_dir():
            try:
                check_release(target, hashing="memo", manifest_sha256=known["manifest_sha256"])
                return target
            except ArchiveError as err:
                log.warning("the cached copy is damaged (%s); fetching the bad files again", err)
        try:
            target, manifest, manifest_sha, derived_sha = _download_release(
                api, repo, version, commit, folder, known
            )
        except HfHubHTTPError as err:
            raise HubError(
                f"downloading {repo} {version} failed: {http_reason(err)}. Re-run to resume."
            ) from err
        changelog = target / CHANGELOG
        notes = parse_changelog(changelog.read_text()).get(version) if changelog.is_file() else None
        record_pull(
            folder,
            repo,
            version,
            {
                "commit": commit,
                "name": manifest["name"],
                "manifest_sha256": manifest_sha,
                "derived_sha256": derived_sha,
                "date": notes.date if notes else None,
                "notes": notes.notes if notes else "",
            },
        )
    return target


def _check_cached(path: Path, repo: str, version: str) -> None:
    try:
        check_release(path, hashing="memo", manifest_sha256=_recorded(path))
    except ArchiveError as err:
        raise HubError(
            f"cached {repo} {version} is damaged ({err}); pull it again while online"
        ) from err


def _recorded(path: Path) -> str | None:
    from hrgldd_data.manifest import recorded_manifest_sha256

    return recorded_manifest_sha256(path)


__all__ = [
    "CARD_FILES",
    "LEADERBOARDS",
    "PublishResult",
    "PublishedManifest",
    "endpoint",
    "leaderboards",
    "offline",
    "publish",
    "publish_leaderboard",
    "published_manifest",
    "pull",
    "versions",
]
