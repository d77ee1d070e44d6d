"""Publish releases to the Hugging Face Hub and pull them back, verified, into the local cache.

A dataset repo on the Hub holds one release at the root of each tagged commit: the Zarr files and
``manifest.json`` of the archive, plus ``README.md`` (the dataset card), ``croissant.json`` and
``CHANGELOG.md``. Version ``X.Y.Z`` is the tag ``vX.Y.Z``; ``main`` is the newest version. Pulled
versions land in the cache of :mod:`hrgldd_data.hub.cache`. The endpoint is the standard
``HF_ENDPOINT``, read at call time; ``huggingface_hub`` is imported only when used.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import re
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
    cached_versions,
    read_index,
    repo_cache,
    resolve_repo,
    write_index,
)
from hrgldd_data.manifest import read_manifest, verify_release
from hrgldd_data.schema import parse_version

log = logging.getLogger(__name__)

#: Files a published commit holds besides the archive's Zarr files and manifest.
CARD_FILES = ("README.md", "croissant.json", CHANGELOG)
_TAG_RE = re.compile(r"^v(\d+\.\d+\.\d+)$")


@dataclass(frozen=True)
class PublishResult:
    repo: str
    version: str
    tag: str
    commit: str
    uploaded: int
    deleted: int
    url: str


def endpoint() -> str:
    """The Hub endpoint: ``HF_ENDPOINT`` as set now (huggingface_hub reads it only at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set now or was set when huggingface_hub was imported."""
    value = os.environ.get("HF_HUB_OFFLINE", "").upper()
    if value in ("1", "ON", "YES", "TRUE"):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _api(token: str | None = None):
    from huggingface_hub import HfApi

    from hrgldd_data._version import __version__

    return HfApi(
        endpoint=endpoint(), token=token, library_name="hrgldd", library_version=__version__
    )


# -- publish ---------------------------------------------------------------------------------------
def git_blob_oid(path: Path) -> str:
    """Git object id of a file, which the Hub reports for regular (non-LFS) files."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _unchanged(local: Path, remote) -> bool:
    """True when the remote file (a ``RepoFile``) already holds the local bytes."""
    if remote is None or remote.size != local.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == sha256_file(local)
    return remote.blob_id == git_blob_oid(local)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exception types of a failed connection in the HTTP library under huggingface_hub."""
    types: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        try:
            types.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(types)


def _needs_hub(func):
    """Turn a failed connection to the Hub into a :class:`HubError` saying where and what to do."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _transport_errors() as err:
            raise HubError(
                f"cannot reach the Hugging Face Hub at {endpoint()} ({err}). Check the network and "
                "HF_ENDPOINT; versions already pulled open offline (HF_HUB_OFFLINE=1)."
            ) from err

    return wrapper


@_needs_hub
def publish(
    archive: str | os.PathLike[str],
    repo: str | None = None,
    *,
    notes: str | None = None,
    private: bool = False,
) -> PublishResult:
    """Upload a verified release to ``repo`` in one commit and tag it ``vX.Y.Z``.

    Refuses a release that fails :func:`~hrgldd_data.archive.verify_release`, a version that is
    already tagged, and a version older than the newest published one (``main`` always holds the
    newest). Files the remote ``main`` already holds byte for byte are not sent again and an
    unchanged ``main`` gets no new commit, so a run that failed part way can simply be repeated.
    The token comes from huggingface_hub (``HF_TOKEN`` or ``hf auth login``) and is never shown.
    """
    from huggingface_hub import (
        CommitOperationAdd,
        CommitOperationDelete,
        RepoFile,
        get_token,
        hf_hub_download,
    )
    from huggingface_hub.errors import HfHubHTTPError

    from hrgldd_data.archive import open_archive
    from hrgldd_data.cards import render_card, render_croissant
    from hrgldd_data.manifest import MANIFEST

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
    token = get_token()
    if not token:
        raise HubError(
            "publishing needs a Hugging Face token with write access to "
            f"{repo}: set HF_TOKEN or run `hf auth login`"
        )
    api = _api(token)
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
        remote = {
            f.path: f
            for f in (
                api.list_repo_tree(repo, repo_type="dataset", revision=head, recursive=True)
                if head
                else ()
            )
            if isinstance(f, RepoFile)
        }
        entries: dict[str, VersionInfo] = {}
        with tempfile.TemporaryDirectory(prefix="hrgldd-publish-") as staging:
            staging = Path(staging)
            if CHANGELOG in remote:
                old = hf_hub_download(
                    repo,
                    CHANGELOG,
                    repo_type="dataset",
                    revision=head,
                    local_dir=staging / "remote",
                    endpoint=endpoint(),
                    token=token,
                )
                entries = parse_changelog(Path(old).read_text())
            previous = entries.get(version)
            today = _dt.datetime.now(_dt.UTC).date().isoformat()
            entries[version] = VersionInfo(
                version,
                "",
                previous.date if previous else today,
                notes if notes is not None else release_notes(release),
            )
            date = entries[version].date
            (staging / "README.md").write_text(
                render_card(release, changelog=list(entries.values()), repo=repo)
            )
            (staging / "croissant.json").write_text(
                json.dumps(render_croissant(release, repo=repo, date_published=date), indent=2)
                + "\n"
            )
            (staging / CHANGELOG).write_text(format_changelog(name, entries.values()))
            files = {rel: archive / rel for rel in manifest["files"]}
            files[MANIFEST] = archive / MANIFEST
            files |= {rel: staging / rel for rel in CARD_FILES}
            # The Parquet view (data/*.parquet) that `datasets` and the dataset viewer read.
            from hrgldd_data.parquet import write_parquet_view

            view = write_parquet_view(release, staging)
            files |= {path.relative_to(staging).as_posix(): path for path in view}
            additions = [
                CommitOperationAdd(rel, str(path))
                for rel, path in sorted(files.items())
                if not _unchanged(path, remote.get(rel))
            ]
            deletions = [
                CommitOperationDelete(rel)
                for rel in sorted(remote)
                if rel not in files and rel != ".gitattributes"
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
            f"publishing {name} {version} to {repo} failed: {_http_reason(err)}. Re-run to finish."
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


def _http_reason(err: Exception) -> str:
    """First line of a huggingface_hub HTTP error (its text never holds the token)."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


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
            f"cannot list versions of {repo} on {endpoint()}: {_http_reason(err)}"
        ) from err
    return {m.group(1): t.target_commit for t in refs.tags if (m := _TAG_RE.match(t.name))}


@_needs_hub
def versions(
    repo: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> list[VersionInfo]:
    """Published versions of ``repo``, oldest first, with their release notes.

    Offline (``HF_HUB_OFFLINE=1``) this lists the versions pulled into the cache.
    """
    repo = resolve_repo(repo)
    if offline():
        index = read_index(repo_cache(repo, cache_dir))["versions"]
        found = [
            VersionInfo(v, e["commit"], e.get("date"), e.get("notes", "")) for v, e in index.items()
        ]
        return sorted(found, key=lambda info: parse_version(info.version))
    api = _api()
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
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    folder = repo_cache(repo, cache_dir) / ".changelogs" / commit
    try:
        path = hf_hub_download(
            repo,
            CHANGELOG,
            repo_type="dataset",
            revision=commit,
            local_dir=folder,
            endpoint=endpoint(),
        )
    except EntryNotFoundError:
        return {}
    return parse_changelog(Path(path).read_text())


def _mismatched(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Manifest files of ``root`` that are missing or do not match their size and sha256."""
    bad = []
    for rel, entry in sorted(manifest["files"].items()):
        path = root / rel
        if (
            not path.is_file()
            or path.stat().st_size != entry["size"]
            or sha256_file(path) != entry["sha256"]
        ):
            bad.append(rel)
    return bad


@_needs_hub
def pull(
    version: str | None = None,
    repo: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Download a published version (default: the newest tag), verify it, return its directory.

    The download resumes after an interruption. A file that fails its sha256 after download is
    fetched once more; if it fails again the pull stops with an error naming the file. Versions
    already pulled are verified and returned without downloading; with ``HF_HUB_OFFLINE=1``
    only the cache is used.
    """
    from huggingface_hub import hf_hub_download, snapshot_download
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
        _verify_or_raise(cached[chosen], repo, chosen)
        return cached[chosen]

    api = _api()
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
    target = folder / commit
    common = dict(repo_type="dataset", revision=commit, local_dir=target, endpoint=endpoint())
    try:
        snapshot_download(repo, cache_dir=folder / ".hf", max_workers=4, **common)
        manifest = read_manifest(target)
        bad = _mismatched(target, manifest)
        if bad:
            log.warning(
                "%d file(s) of %s %s failed sha256; fetching them again: %s",
                len(bad),
                repo,
                version,
                bad,
            )
            for rel in bad:
                hf_hub_download(repo, rel, force_download=True, **common)
            still = _mismatched(target, manifest)
            if still:
                raise HubError(
                    f"{repo} {version} (commit {commit[:12]}): {', '.join(still)} still fail "
                    "sha256 after a second download. The copy on the Hub is corrupt or the "
                    "connection alters data; report it to the dataset maintainers."
                )
    except HfHubHTTPError as err:
        raise HubError(
            f"downloading {repo} {version} failed: {_http_reason(err)}. Re-run to resume."
        ) from err
    except ArchiveError as err:
        raise HubError(
            f"{repo} {version} (commit {commit[:12]}) is not a valid release: {err}"
        ) from err
    if manifest["version"] != version:
        raise HubError(f"tag v{version} of {repo} holds a release of version {manifest['version']}")
    changelog = target / CHANGELOG
    notes = parse_changelog(changelog.read_text()).get(version) if changelog.is_file() else None
    index = read_index(folder)
    index["repo"] = repo
    index["versions"][version] = {
        "commit": commit,
        "name": manifest["name"],
        "date": notes.date if notes else None,
        "notes": notes.notes if notes else "",
    }
    write_index(folder, index)
    return target


def _verify_or_raise(path: Path, repo: str, version: str) -> None:
    try:
        verify_release(path)
    except ArchiveError as err:
        raise HubError(
            f"cached {repo} {version} is corrupt ({err}); pull it again while online"
        ) from err


__all__ = ["CARD_FILES", "PublishResult", "endpoint", "offline", "publish", "pull", "versions"]
