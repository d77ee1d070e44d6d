"""A decoded copy of a release's images and masks on disk, so that a new loader starts at the
speed of a memory-mapped array instead of paying for decompression again.

Decompressing the shards costs about 0.3-0.6 ms per patch on a small CPU (see
:mod:`hrgldd_data.shards`), several times what reading raw arrays costs, and a training run pays
it in every new process. The first TorchGeo dataset that reads a release decodes all of it once,
a few hundred patches at a time (bounded memory), into uncompressed ``.npy`` files in hrgldd's
cache; later datasets memory-map them and copy out their selection in one pass::

    $HRGLDD_CACHE/decoded/<sha256 of the release's manifest.json>/
        image.npy  mask.npy      (N, bands, 128, 128) and (N, 128, 128), the release's dtypes
        decoded.json             written last: release, sizes, sha256 and file identity

The copy is derived data: it is keyed by the release's manifest, so another release (or another
version) never shares it. On every open its files must have the recorded size, shape and dtype,
and the same file identity (size, mtime, inode) as when their sha256 was computed; otherwise their
sha256 is checked again, and a copy that fails is rebuilt. Set ``HRGLDD_DECODED_CACHE=0`` to never
write it (loaders then decode into memory each time); a copy may be deleted at any time. It costs
the release's uncompressed size on disk (about 230 MB for HR-GLDD) and is skipped, with a log
line, when the disk has less free space than twice that.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrgldd_data.fileio import atomic_path, atomic_write, sha256_file
from hrgldd_data.manifest import MANIFEST

if TYPE_CHECKING:
    from hrgldd_data.archive import Release

log = logging.getLogger(__name__)

ENV = "HRGLDD_DECODED_CACHE"
RECORD = "decoded.json"
ARRAYS = ("image", "mask")
#: Patches decoded per step while writing the copy (~130 MB of uint16 images).
STEP = 1024


def enabled() -> bool:
    """False when ``HRGLDD_DECODED_CACHE`` is ``0``/``false``/``off``/``no``."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def cache_folder(release: Release) -> Path:
    """Where the decoded copy of ``release`` lives (keyed by its manifest's sha256)."""
    from hrgldd_data.hub.cache import cache_root

    return cache_root() / "decoded" / sha256_file(release.path / MANIFEST)


def _identity(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _expected(release: Release, name: str) -> tuple[tuple[int, ...], np.dtype]:
    array = release.group[name]
    return tuple(array.shape), np.dtype(array.dtype)


def _open(release: Release, folder: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The memory-mapped copy if it is complete and intact, else None."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    arrays = []
    for name in ARRAYS:
        path = folder / f"{name}.npy"
        entry = record.get("files", {}).get(path.name, {})
        try:
            if _identity(path)[0] != entry.get("size"):
                return None
            if _identity(path) != entry.get("identity") and sha256_file(path) != entry.get(
                "sha256"
            ):
                log.warning("%s fails its sha256; decoding the release again", path)
                return None
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            return None
        shape, dtype = _expected(release, name)
        if array.shape != shape or array.dtype != dtype:
            return None
        arrays.append(array)
    return arrays[0], arrays[1]


def _write(release: Release, folder: Path) -> None:
    """Decode the release into ``folder`` (each file atomically, the record last)."""
    from hrgldd_data.shards import read_span

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for name in ARRAYS:
        array = release.group[name]
        target = folder / f"{name}.npy"
        with atomic_path(target) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=array.dtype, shape=array.shape)
            for start in range(0, array.shape[0], STEP):
                stop = min(start + STEP, array.shape[0])
                out[start:stop] = read_span(array, release.path, start, stop)
            out.flush()
            del out
            digest = sha256_file(tmp)
        files[target.name] = {"size": target.stat().st_size, "sha256": digest}
    for name, entry in files.items():
        entry["identity"] = _identity(folder / name)
    record = {
        "release": release.name,
        "version": release.version,
        "manifest_sha256": folder.name,
        "files": files,
    }
    atomic_write(folder / RECORD, json.dumps(record, indent=2) + "\n")


def decoded_arrays(release: Release) -> tuple[np.ndarray, np.ndarray] | None:
    """Memory-mapped images and masks of every patch of ``release``, or None when not cached.

    Decodes and writes the copy on first use; returns None (the caller decodes into memory)
    when the cache is switched off, the disk is short of space, or writing fails.
    """
    if not enabled():
        return None
    folder = cache_folder(release)
    arrays = _open(release, folder)
    if arrays is not None:
        return arrays
    needed = sum(int(np.prod(s)) * d.itemsize for s, d in (_expected(release, a) for a in ARRAYS))
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(parent).free < 2 * needed:
        log.info("not caching the decoded %s %s: %s is short of space", release.name,
                 release.version, parent)  # fmt: skip
        return None
    try:
        _write(release, folder)
    except OSError as err:
        log.warning("could not write the decoded copy of %s to %s: %s", release.path, folder, err)
        return None
    return _open(release, folder)


__all__ = ["ENV", "cache_folder", "decoded_arrays", "enabled"]
