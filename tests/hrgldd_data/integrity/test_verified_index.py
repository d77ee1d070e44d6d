"""Verification is cheap after the first open: each file is hashed once and remembered (under the
user cache, never in the release) while its size, times, inode and device stay the same."""

from __future__ import annotations

import os
import shutil

import pytest
from damage import snapshot

import hrgldd_data.manifest as manifest_module
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import ArchiveError
from hrgldd_data.manifest import VERIFIED_DIR, read_manifest


@pytest.fixture
def hashed(monkeypatch):
    """The files hashed by the manifest checks, in order."""
    seen: list[str] = []
    real = manifest_module.sha256_file

    def counting(path, *args, **kwargs):
        seen.append(os.path.basename(os.path.dirname(path)) + "/" + os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(manifest_module, "sha256_file", counting)
    return seen


def test_second_open_hashes_nothing(fresh_release, hashed):
    n_files = len(read_manifest(fresh_release)["files"])
    open_archive(fresh_release)
    assert len(hashed) == n_files, "the first open hashes every archive file once"
    hashed.clear()
    for _ in range(3):
        open_archive(fresh_release)
    assert hashed == [], "later opens only compare sizes and times"


def test_full_verification_ignores_what_was_remembered(fresh_release, hashed):
    open_archive(fresh_release)
    hashed.clear()
    open_archive(fresh_release, verify="full")
    assert len(hashed) == len(read_manifest(fresh_release)["files"])


def test_a_changed_file_is_hashed_again_even_with_its_old_times(fresh_release, hashed):
    open_archive(fresh_release)
    rel = "image/c/1/0/0/0"
    path = fresh_release / rel
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # same size and mtime as before
    hashed.clear()
    with pytest.raises(ArchiveError, match=f"{rel}: sha256 mismatch"):
        open_archive(fresh_release)
    assert hashed == ["0/0"], "only the changed file is hashed again (its change time moved)"


def test_a_replaced_file_is_hashed_again(fresh_release, tiny_release, hashed):
    open_archive(fresh_release)
    rel = "mask/c/0/0/0"
    (fresh_release / rel).unlink()
    shutil.copyfile(tiny_release / rel, fresh_release / rel)  # same bytes, new inode
    hashed.clear()
    open_archive(fresh_release)
    assert len(hashed) == 1


def test_remembered_hashes_live_in_the_user_cache(fresh_release, tmp_path, monkeypatch):
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("HRGLDD_CACHE", str(cache))
    before = snapshot(fresh_release)
    open_archive(fresh_release)
    assert snapshot(fresh_release) == before, "a reader never writes into a release"
    assert [p.parent.name for p in cache.rglob("*.json")] == [VERIFIED_DIR]


def test_an_unwritable_cache_costs_a_rehash_not_an_error(fresh_release, tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")  # unwritable, even for root
    monkeypatch.setenv("HRGLDD_CACHE", str(blocked))
    assert len(open_archive(fresh_release)) == 30
    assert len(open_archive(fresh_release)) == 30
    assert blocked.read_text().startswith("a file")


def test_a_cache_inside_the_release_is_never_written(fresh_release, monkeypatch, hashed):
    monkeypatch.setenv("HRGLDD_CACHE", str(fresh_release / "cache"))
    before = snapshot(fresh_release)
    open_archive(fresh_release)
    open_archive(fresh_release)
    assert snapshot(fresh_release) == before and not (fresh_release / "cache").exists()


def test_a_copy_elsewhere_is_verified_on_its_own(fresh_release, tmp_path, hashed):
    open_archive(fresh_release)
    copy = tmp_path / "copy" / fresh_release.name
    shutil.copytree(fresh_release, copy)
    hashed.clear()
    open_archive(copy)
    assert len(hashed) == len(read_manifest(copy)["files"])
