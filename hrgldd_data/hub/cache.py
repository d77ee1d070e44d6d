"""Where pulled versions live on this machine: the repo id, the cache folder and its index.

The local cache is keyed by the commit a version resolved to, not by the tag name, so that a
cache can never serve the wrong bytes for a version::

    $HRGLDD_CACHE/                   default ~/.cache/hrgldd
        <org>--<name>/               one folder per Hub repo
            index.json               version -> commit, sha256 of manifest.json and derived.json,
                                     name, notes (written once the download is verified)
            <commit sha>/            the release directory of that commit
            .staging/<commit sha>/   a download in progress (never read; resumed by the next pull)

A published version is immutable on this machine too: the index never points a version at
another commit, and a pulled release opens only while its ``manifest.json`` still has the sha256
recorded here. Reading the index is all that offline opens need: no network, no
``huggingface_hub`` import.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from hrgldd_data.errors import HubError
from hrgldd_data.fileio import atomic_write
from hrgldd_data.manifest import MANIFEST
from hrgldd_data.schema import parse_version

log = logging.getLogger(__name__)

#: Dataset repo used when neither ``--repo`` nor ``HRGLDD_REPO`` is given.
DEFAULT_REPO = "hr-gldd/hr-gldd"
REPO_ENV = "HRGLDD_REPO"
CACHE_ENV = "HRGLDD_CACHE"
DEFAULT_CACHE = Path("~/.cache/hrgldd")
INDEX = "index.json"
#: Staging folder of downloads in progress, inside a repo's cache folder.
STAGING = ".staging"
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def resolve_repo(repo: str | None = None) -> str:
    """The dataset repo id: the argument, else ``HRGLDD_REPO``, else :data:`DEFAULT_REPO`."""
    repo = repo or os.environ.get(REPO_ENV) or DEFAULT_REPO
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise HubError(f"repo id {repo!r} must look like ORG/NAME (set --repo or {REPO_ENV})")
    return repo


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache of pulled versions: the argument, else ``HRGLDD_CACHE``, else ~/.cache/hrgldd."""
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def repo_cache(repo: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder of one repo inside the cache."""
    return cache_root(cache_dir) / resolve_repo(repo).replace("/", "--")


def read_index(folder: Path) -> dict[str, Any]:
    """The version index of one repo's cache folder (empty when there is none)."""
    path = folder / INDEX
    if not path.is_file():
        return {"versions": {}}
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        index = None
    if not isinstance(index, dict) or not isinstance(index.get("versions"), dict):
        log.warning("%s is unreadable; pulled versions will be fetched again", path)
        return {"versions": {}}
    return index


def write_index(folder: Path, index: dict[str, Any]) -> None:
    """Replace the version index of a cache folder atomically."""
    atomic_write(folder / INDEX, json.dumps(index, indent=2, sort_keys=True) + "\n")


def _entries(index: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The well-formed version entries of an index (a hand-edited index cannot crash a reader)."""
    versions = index.get("versions") if isinstance(index, dict) else None
    if not isinstance(versions, dict):
        return {}
    found = {}
    for version, entry in versions.items():
        try:
            parse_version(version)
        except (ValueError, AttributeError):
            continue
        commit = entry.get("commit") if isinstance(entry, dict) else None
        if isinstance(commit, str) and _COMMIT_RE.match(commit):
            found[version] = entry
    return found


def cached_versions(
    repo: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
) -> dict[str, Path]:
    """Versions pulled from ``repo`` into the cache (verified when pulled), oldest first.

    Entries pulled by an hrgldd that did not record the manifest's sha256 are left out: pull
    them again (online) to record it.
    """
    folder = repo_cache(repo, cache_dir)
    found = {}
    for version, entry in _entries(read_index(folder)).items():
        path = folder / entry["commit"]
        if (
            (path / MANIFEST).is_file()
            and entry.get("manifest_sha256")
            and (name is None or entry.get("name") == name)
        ):
            found[version] = path
    return dict(sorted(found.items(), key=lambda item: parse_version(item[0])))


def index_entry(folder: Path, version: str) -> dict[str, Any] | None:
    """The index entry of ``version`` in a repo's cache folder (None when never pulled)."""
    return _entries(read_index(folder)).get(version)


def pulled_entry(path: Path) -> dict[str, Any] | None:
    """The index entry of a release directory that lies in a pull cache (None otherwise).

    The entry carries ``version`` and ``repo`` besides what :func:`record_pull` stored.
    """
    folder = path.parent
    if not (folder / INDEX).is_file() or not _COMMIT_RE.match(path.name):
        return None
    index = read_index(folder)
    for version, entry in _entries(index).items():
        if entry["commit"] == path.name:
            return {**entry, "version": version, "repo": index.get("repo")}
    return None


def pulled_from(path: Path) -> tuple[str, str] | None:
    """``(repo, version)`` of a release directory in the pull cache, or None."""
    entry = pulled_entry(path)
    if entry is None:
        return None
    return str(entry.get("repo") or path.parent.name.replace("--", "/", 1)), entry["version"]


def in_pull_cache(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` lies inside the cache of pulled versions (which only ``pull`` writes)."""
    where = Path(path).resolve()
    cache = cache_root().resolve()
    return where == cache or cache in where.parents or pulled_entry(where) is not None


def record_pull(folder: Path, repo: str, version: str, entry: dict[str, Any]) -> None:
    """Add a verified version to the index; a version is never pointed at another commit."""
    index = read_index(folder)
    known = _entries(index).get(version)
    if known is not None and known["commit"] != entry["commit"]:
        raise HubError(
            f"{folder / INDEX}: {repo} {version} was pulled from commit {known['commit'][:12]}; "
            f"refusing to record commit {entry['commit'][:12]} for it (published versions are "
            "immutable)"
        )
    index["repo"] = repo
    index.setdefault("versions", {})[version] = entry
    write_index(folder, index)


__all__ = [
    "CACHE_ENV",
    "DEFAULT_REPO",
    "REPO_ENV",
    "cache_root",
    "cached_versions",
    "in_pull_cache",
    "index_entry",
    "pulled_entry",
    "pulled_from",
    "read_index",
    "record_pull",
    "repo_cache",
    "resolve_repo",
    "write_index",
]
