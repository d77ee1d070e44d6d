"""Where pulled versions live on this machine: the repo id, the cache folder and its index.

The local cache is keyed by the commit a version resolved to, not by the tag name, so that a
cache can never serve the wrong bytes for a version::

    $HRGLDD_CACHE/                   default ~/.cache/hrgldd
        <org>--<name>/               one folder per Hub repo
            index.json               version -> commit, name, notes (written once verified)
            <commit sha>/            the release directory of that commit

Reading the index is all that offline opens need: no network, no ``huggingface_hub`` import.
"""

from __future__ import annotations

import json
import logging
import os
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
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("%s is unreadable; pulled versions will be fetched again", path)
        return {"versions": {}}


def write_index(folder: Path, index: dict[str, Any]) -> None:
    """Replace the version index of a cache folder atomically."""
    atomic_write(folder / INDEX, json.dumps(index, indent=2, sort_keys=True) + "\n")


def cached_versions(
    repo: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
) -> dict[str, Path]:
    """Versions pulled from ``repo`` into the cache (verified when pulled), oldest first."""
    folder = repo_cache(repo, cache_dir)
    found = {}
    for version, entry in read_index(folder)["versions"].items():
        path = folder / entry["commit"]
        if (path / MANIFEST).is_file() and (name is None or entry.get("name") == name):
            found[version] = path
    return dict(sorted(found.items(), key=lambda item: parse_version(item[0])))


__all__ = [
    "CACHE_ENV",
    "DEFAULT_REPO",
    "REPO_ENV",
    "cache_root",
    "cached_versions",
    "read_index",
    "repo_cache",
    "resolve_repo",
    "write_index",
]
