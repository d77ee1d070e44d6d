"""The manifest of a release: sha256 and size of every file of its Zarr hierarchy, and counts.

``manifest.json`` is written last when a release is built and is the contract every reader checks
against (:func:`verify_release`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hrgldd_data.errors import ArchiveError
from hrgldd_data.fileio import sha256_file
from hrgldd_data.schema import FORMAT_VERSION

MANIFEST = "manifest.json"


def zarr_files(root: Path) -> list[Path]:
    """Every file of the Zarr hierarchy below ``root`` (not the manifest or cards)."""
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root)
            if rel.parts[0] == "zarr.json" or (root / rel.parts[0] / "zarr.json").exists():
                files.append(path)
    return files


def write_manifest(root: Path, name: str, version: str, counts: dict[str, Any]) -> None:
    files = {
        path.relative_to(root).as_posix(): {
            "sha256": sha256_file(path),
            "size": path.stat().st_size,
        }
        for path in zarr_files(root)
    }
    manifest = {
        "name": name,
        "version": version,
        "format_version": FORMAT_VERSION,
        "counts": counts,
        "files": files,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a release directory, with a clear error when missing or unreadable."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise ArchiveError(f"{path}: no {MANIFEST}; this is not an HR-GLDD release directory")
    try:
        return json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchiveError(
            f"{manifest_path}: not valid JSON ({err}); re-download the release"
        ) from err


def verify_release(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Recompute every checksum of a release; raise :class:`ArchiveError` listing each mismatch.

    Returns the manifest when everything matches. Files of the Zarr hierarchy that the manifest
    does not list are reported too (something was added after the release was written).
    """
    root = Path(path)
    manifest = read_manifest(root)
    problems = []
    for rel, entry in sorted(manifest["files"].items()):
        file = root / rel
        if not file.is_file():
            problems.append(f"missing {rel}")
        elif file.stat().st_size != entry["size"]:
            problems.append(f"{rel}: size {file.stat().st_size} != {entry['size']}")
        elif sha256_file(file) != entry["sha256"]:
            problems.append(f"{rel}: sha256 mismatch")
    listed = set(manifest["files"])
    for file in zarr_files(root):
        rel = file.relative_to(root).as_posix()
        if rel not in listed:
            problems.append(f"unexpected file {rel}")
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise ArchiveError(f"{root}: release is corrupt ({shown}). Re-download or rebuild it.")
    return manifest


__all__ = ["MANIFEST", "read_manifest", "verify_release", "write_manifest", "zarr_files"]
