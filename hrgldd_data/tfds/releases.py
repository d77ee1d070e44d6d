"""The releases the ``hr_gldd`` TFDS builder can serve, found where the resolver looks.

TFDS wants a builder's versions (and their release notes) when the builder is created, before
anything is prepared; HR-GLDD versions are releases, so they are read from the releases on this
machine instead of being written into the builder: ``$HRGLDD_ARCHIVE``, ``./data/releases`` and
every repo's pull cache (:mod:`hrgldd_data.hub.cache`), with the notes each release carries or
that its pull recorded from the Hub's ``CHANGELOG.md``. A new version needs no code change: pull
or build it and ``tfds.load("hr_gldd")`` serves it.

This module is not the builder module, so it may touch files (TFDS forbids ``os`` and ``open``
in builder modules).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hrgldd_data.errors import AmbiguousReleaseError, ArchiveError, ReleaseNotFoundError
from hrgldd_data.fileio import sha256_file
from hrgldd_data.manifest import MANIFEST
from hrgldd_data.resolve import ARCHIVE_ENV, LOCAL_RELEASES, find_releases, locate_release
from hrgldd_data.schema import parse_version


@dataclass
class FoundVersion:
    """One release version of a name, and every place it was found."""

    version: str
    paths: list[Path] = field(default_factory=list)
    notes: str = ""


def _cached(name: str) -> list[tuple[str, Path, str]]:
    """``(version, path, notes)`` of ``name`` pulled from any repo into the cache."""
    from hrgldd_data.hub.cache import INDEX, cache_root, read_index

    root = cache_root()
    if not root.is_dir():
        return []
    found = []
    for index_path in sorted(root.glob(f"*/{INDEX}")):
        folder = index_path.parent
        for version, entry in read_index(folder).get("versions", {}).items():
            path = folder / str(entry.get("commit", ""))
            if entry.get("name") == name and (path / MANIFEST).is_file():
                found.append((version, path, str(entry.get("notes") or "")))
    return found


def _local_notes(path: Path) -> str:
    from hrgldd_data.archive import open_archive
    from hrgldd_data.changelog import release_notes

    try:
        return release_notes(open_archive(path))
    except (ArchiveError, OSError, KeyError, ValueError):
        return ""


def available(name: str) -> dict[str, FoundVersion]:
    """Versions of release ``name`` on this machine, newest first, with their notes."""
    found: dict[str, FoundVersion] = {}
    places = [os.environ.get(ARCHIVE_ENV), LOCAL_RELEASES]
    for place in places:
        if place:
            for ref in find_releases(place, name):
                entry = found.setdefault(ref.version, FoundVersion(ref.version))
                entry.paths.append(ref.path)
                entry.notes = entry.notes or _local_notes(ref.path)
    for version, path, notes in _cached(name):
        entry = found.setdefault(version, FoundVersion(version))
        entry.paths.append(path)
        entry.notes = entry.notes or notes
    return dict(sorted(found.items(), key=lambda item: parse_version(item[0]), reverse=True))


def locate(name: str, version: str, manual_dir: Path | None) -> Path:
    """The release directory of ``name`` ``version`` for the builder to read.

    ``manual_dir`` (a release or a folder of releases) is the only place looked at when given.
    Otherwise the resolver's places are asked first (:func:`~hrgldd_data.resolve.locate_release`:
    ``$HRGLDD_ARCHIVE``, ``./data/releases``, the pull cache of ``$HRGLDD_REPO``), then the pull
    caches of other repos. Copies of one version whose manifests differ are refused.
    """
    if manual_dir is not None:
        return locate_release(manual_dir, version=version, name=name)
    try:
        return locate_release(version=version, name=name)
    except ReleaseNotFoundError:
        entry = available(name).get(version)
        if entry is None:
            raise
    paths = sorted(set(entry.paths))
    digests = {sha256_file(p / MANIFEST) for p in paths}
    if len(digests) > 1:
        raise AmbiguousReleaseError(
            f"{name} {version} exists in several places with different contents: "
            f"{', '.join(map(str, paths))}. Pass the one you mean as manual_dir."
        )
    return locate_release(paths[0], version=version, name=name)


__all__ = ["FoundVersion", "available", "locate"]
