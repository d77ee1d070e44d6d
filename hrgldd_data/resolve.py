"""Which release does a path, name or version mean? One answer for every entry point.

The CLI, ``python -m baselines.run``, the TorchGeo dataset, the TFDS builder and
:func:`hrgldd_data.open_release` all ask :func:`locate_release`, which looks in this order:

1. ``root``, when given: a release directory, or a folder holding releases. It is the only place
   looked at: a ``root`` that does not exist or holds no matching release is an error, never a
   reason to look elsewhere.
2. Otherwise every local place together: ``$HRGLDD_ARCHIVE`` (a release directory or a folder of
   releases), the project's release folder ``./data/releases`` (where ``hrgldd build`` and
   ``make demo`` write), and the cache of versions pulled with ``hrgldd pull``.
3. With ``download=True`` and nothing found locally, a pull of the version from the Hub.

Among the matches, ``version`` keeps that version (default: the newest) and ``name`` keeps that
release name (default: any). Matches of several names are ambiguous and refused with the
candidates named: pass a path or a name. The same name and version found in two places is one
release only when both manifests are byte-identical (otherwise it is ambiguous too).

Finding a release reads manifests only; :func:`open_release` then checks the release against its
manifest (:func:`hrgldd_data.archive.open_archive`, ``verify=True`` by default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hrgldd_data.errors import AmbiguousReleaseError, ArchiveError, ReleaseNotFoundError
from hrgldd_data.fileio import sha256_file
from hrgldd_data.manifest import MANIFEST, read_manifest
from hrgldd_data.schema import parse_version

if TYPE_CHECKING:
    from hrgldd_data.archive import Release

#: Environment variable naming a release directory or a folder of releases.
ARCHIVE_ENV = "HRGLDD_ARCHIVE"
#: The project's own folder of built releases (relative to the working directory).
LOCAL_RELEASES = Path("data/releases")


@dataclass(frozen=True)
class ReleaseRef:
    """A release found on disk, and where it was found (for messages)."""

    name: str
    version: str
    path: Path
    source: str = ""

    @property
    def version_key(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    def __str__(self) -> str:
        return f"{self.name} {self.version} at {self.path}" + (
            f" ({self.source})" if self.source else ""
        )


def is_version(text: str) -> bool:
    """True when ``text`` is a semantic version ``X.Y.Z`` (optionally ``vX.Y.Z``)."""
    try:
        parse_version(text)
    except ValueError:
        return False
    return True


def find_releases(
    folder: str | os.PathLike[str], name: str | None = None, *, source: str = ""
) -> list[ReleaseRef]:
    """Releases in ``folder`` (itself a release directory, or its direct children), oldest first.

    Hidden directories (a build in progress) and folders whose manifest is unreadable are skipped.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return []
    candidates = (
        [folder]
        if (folder / MANIFEST).is_file()
        else sorted(p.parent for p in folder.glob("*/" + MANIFEST))
    )
    refs = []
    for path in candidates:
        if path.name.startswith(".") and path != folder:
            continue
        try:
            manifest = read_manifest(path)
            ref = ReleaseRef(str(manifest["name"]), str(manifest["version"]), path, source)
            parse_version(ref.version)
        except (ArchiveError, KeyError, TypeError, ValueError):
            continue
        if name is None or ref.name == name:
            refs.append(ref)
    return sorted(refs, key=lambda r: (r.version_key, r.name))


def _local_places(repo: str | None) -> list[tuple[str, list[ReleaseRef]]]:
    """Every local place of step 2, with the releases it holds."""
    from hrgldd_data.hub.cache import cached_versions, repo_cache

    places = []
    pinned = os.environ.get(ARCHIVE_ENV)
    if pinned:
        places.append((f"{ARCHIVE_ENV}={pinned}", find_releases(pinned, source=ARCHIVE_ENV)))
    places.append((f"{LOCAL_RELEASES}/", find_releases(LOCAL_RELEASES, source=str(LOCAL_RELEASES))))
    cache = repo_cache(repo)
    pulled = [
        ref
        for path in cached_versions(repo).values()
        for ref in find_releases(path, source=f"pulled into {cache}")
    ]
    places.append((f"the pull cache {cache}", pulled))
    return places


def _describe(refs: list[ReleaseRef]) -> str:
    return ", ".join(f"{r.name} {r.version}" for r in refs) or "no release"


def _choose(refs: list[ReleaseRef], version: str | None) -> list[ReleaseRef]:
    """The matches of ``version`` (default: the newest version among ``refs``)."""
    if not refs:
        return []
    wanted = version or max(refs, key=lambda r: r.version_key).version
    return [r for r in refs if r.version == wanted]


def _single(matches: list[ReleaseRef], wanted: str, name_option: str = "--name") -> ReleaseRef:
    """One release from matches that may repeat the same release in several places."""
    names = sorted({(r.name, r.version) for r in matches})
    if len(names) > 1:
        listed = "; ".join(str(r) for r in matches)
        raise AmbiguousReleaseError(
            f"{wanted} matches several releases: {listed}. Pass the release directory as a path, "
            f"or its name ({name_option} NAME, name=...)."
        )
    first = matches[0]
    digest = sha256_file(first.path / MANIFEST)
    different = [r for r in matches[1:] if sha256_file(r.path / MANIFEST) != digest]
    if different:
        listed = "; ".join(str(r) for r in [first, *different])
        raise AmbiguousReleaseError(
            f"{wanted} exists in several places with different contents: {listed}. "
            "Pass the release directory you mean as a path."
        )
    return first


def locate_release(
    root: str | os.PathLike[str] | None = None,
    *,
    version: str | None = None,
    name: str | None = None,
    repo: str | None = None,
    download: bool = False,
    name_option: str = "--name",
) -> Path:
    """The directory of the release meant by ``root``/``version``/``name`` (see the module doc).

    ``name_option`` is the command-line option that messages suggest for a release name.

    Raises:
        ReleaseNotFoundError: nothing matches; the message says where it looked and how to get one.
        AmbiguousReleaseError: several different releases match.
    """
    version = version.removeprefix("v") if version else None
    if version:
        parse_version(version)
    wanted = f"{name or 'release'} {version}" if version else f"the newest {name or 'release'}"
    if root is not None:
        folder = Path(root).expanduser()
        if not folder.exists():
            raise ReleaseNotFoundError(
                f"{folder}: no such release directory or folder of releases. Check the path, or "
                "give a version X.Y.Z to use a pulled release."
            )
        every = find_releases(folder, source="given path")
        if (folder / MANIFEST).is_file() and not every:
            read_manifest(folder)  # raises ArchiveError naming the damage
            raise ArchiveError(
                f"{folder}: manifest.json names no valid release; run `hrgldd verify`"
            )
        of_name = [r for r in every if name is None or r.name == name]
        matches = _choose(of_name, version)
        if not matches:
            raise ReleaseNotFoundError(
                f"{folder} holds {_describe(every)}, not {wanted}. Pass the folder that holds it"
                + (", or another name" if name and every else "")
                + "."
            )
        return _single(matches, wanted, name_option).path

    places = _local_places(repo)
    every = [ref for _, refs in places for ref in refs]
    matches = _choose([r for r in every if name is None or r.name == name], version)
    if matches:
        return _single(matches, wanted, name_option).path
    if download:
        from hrgldd_data.hub.client import pull

        path = pull(version, repo)
        found = find_releases(path)
        if name is not None and found and found[0].name != name:
            raise ReleaseNotFoundError(
                f"the Hub repo holds {_describe(found)}, not {wanted}; pass --repo for the repo "
                f"of {name}"
            )
        return path
    looked = "; ".join(f"{label}: {_describe(refs)}" for label, refs in places)
    from hrgldd_data.hub.cache import resolve_repo

    raise ReleaseNotFoundError(
        f"no release found for {wanted}. Looked at {looked}. Fix: build one "
        f"(`hrgldd build ... --out {LOCAL_RELEASES}`), pull one (`hrgldd pull"
        f"{' --version ' + version if version else ''} --repo {resolve_repo(repo)}`, or "
        f"download=True), or pass the release directory; {ARCHIVE_ENV} may name a folder of "
        "releases."
    )


def resolve_release_arg(
    spec: str | os.PathLike[str] | None,
    *,
    name: str | None = None,
    repo: str | None = None,
    download: bool = False,
    name_option: str = "--name",
) -> Path:
    """A command-line ``--release PATH|VERSION``: a version when it parses as one and no such
    path exists, else a path (which must exist); ``None`` is the newest release found."""
    options = dict(name=name, repo=repo, download=download, name_option=name_option)
    if spec is not None and not Path(spec).exists() and is_version(str(spec)):
        return locate_release(version=str(spec), **options)
    return locate_release(spec, **options)


def open_release(
    root: str | os.PathLike[str] | None = None,
    *,
    version: str | None = None,
    name: str | None = None,
    repo: str | None = None,
    download: bool = False,
    verify: bool | Literal["full"] = True,
) -> Release:
    """Open the release :func:`locate_release` finds, checked against its manifest.

    ``verify`` as in :func:`hrgldd_data.archive.open_archive`: ``True`` (default) checks sizes,
    presence and unlisted files and the sha256 of each file once; ``"full"`` re-hashes every file;
    ``False`` is the explicit opt-out.
    """
    from hrgldd_data.archive import open_archive

    path = locate_release(root, version=version, name=name, repo=repo, download=download)
    return open_archive(path, verify=verify)


__all__ = [
    "ARCHIVE_ENV",
    "LOCAL_RELEASES",
    "ReleaseRef",
    "find_releases",
    "is_version",
    "locate_release",
    "open_release",
    "resolve_release_arg",
]
