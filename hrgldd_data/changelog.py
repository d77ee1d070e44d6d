"""Release notes of published versions.

The Hub's ``CHANGELOG.md`` and the notes each release carries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hrgldd_data.schema import parse_version

if TYPE_CHECKING:
    from hrgldd_data.archive import Release

CHANGELOG = "CHANGELOG.md"
_CHANGELOG_HEAD = re.compile(r"^## (\d+\.\d+\.\d+)(?: [-—] (\S+))?\s*$", re.M)


@dataclass(frozen=True)
class VersionInfo:
    """A published (or pulled) version."""

    version: str
    commit: str
    date: str | None = None
    notes: str = ""


def parse_changelog(text: str) -> dict[str, VersionInfo]:
    """Entries of a Hub ``CHANGELOG.md`` written by :func:`format_changelog` (commit left empty)."""
    entries = {}
    heads = list(_CHANGELOG_HEAD.finditer(text))
    for head, nxt in zip(heads, heads[1:] + [None], strict=True):
        body = text[head.end() : nxt.start() if nxt else len(text)].strip()
        entries[head.group(1)] = VersionInfo(head.group(1), "", head.group(2), body)
    return entries


def format_changelog(name: str, entries: Iterable[VersionInfo]) -> str:
    """The Hub ``CHANGELOG.md``: newest version first, one section per version."""
    lines = [f"# Changelog of {name}", ""]
    for entry in sorted(entries, key=lambda e: parse_version(e.version), reverse=True):
        lines += [
            f"## {entry.version} — {entry.date or 'unknown'}",
            "",
            entry.notes.strip() or "(no notes)",
            "",
        ]
    return "\n".join(lines)


def release_notes(release: Release) -> str:
    """The notes a release carries in its attributes (a string or a list of lines)."""
    notes = release.attrs.get("notes") or ""
    if isinstance(notes, list | tuple):
        notes = "\n".join(f"- {line}" for line in notes)
    return str(notes).strip()


__all__ = ["CHANGELOG", "VersionInfo", "format_changelog", "parse_changelog", "release_notes"]
