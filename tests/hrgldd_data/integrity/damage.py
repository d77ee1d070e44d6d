"""Ways to damage a release, and tree snapshots, for the integrity tests."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path


def flip_byte(root: Path) -> str:
    """One flipped byte in the middle of an image shard (decodes into different pixels)."""
    rel = "image/c/1/0/0/0"
    data = bytearray((root / rel).read_bytes())
    data[len(data) // 3] ^= 0x01
    (root / rel).write_bytes(bytes(data))
    return rel


def delete_shard(root: Path) -> str:
    """A deleted mask shard (Zarr would read it as zeros: no landslide at all)."""
    rel = "mask/c/1/0/0"
    (root / rel).unlink()
    return rel


def truncate_file(root: Path) -> str:
    """An image shard cut in half (an interrupted copy)."""
    rel = "image/c/2/0/0/0"
    data = (root / rel).read_bytes()
    (root / rel).write_bytes(data[: len(data) // 2])
    return rel


def extra_shard(root: Path) -> str:
    """A file the manifest does not list, where Zarr would find a shard."""
    rel = "mask/c/4/0/0"
    (root / rel).parent.mkdir(parents=True)
    shutil.copyfile(root / "mask/c/3/0/0", root / rel)
    return rel


def tamper_attributes(root: Path) -> str:
    """The unseen event relabelled as a dataset site in ``zarr.json`` (valid JSON)."""
    rel = "zarr.json"
    meta = json.loads((root / rel).read_text())
    for site in meta["attributes"]["sites"]:
        site["role"] = "train"
    (root / rel).write_text(json.dumps(meta, indent=2))
    return rel


def corrupt_split_codes(root: Path) -> str:
    """Split codes rewritten (validly encoded): two test patches moved into train."""
    import zarr

    array = zarr.open_array(root / "split", mode="r+")
    codes = array[:]
    codes[codes == 2] = 0
    array[:] = codes
    return "split/c/0"


DAMAGES: dict[str, Callable[[Path], str]] = {
    "flipped_byte": flip_byte,
    "deleted_shard": delete_shard,
    "truncated_file": truncate_file,
    "extra_file": extra_shard,
    "tampered_attributes": tamper_attributes,
    "corrupted_split_codes": corrupt_split_codes,
}


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file below ``root`` with its sha256 and modification time (proves nothing changed)."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
