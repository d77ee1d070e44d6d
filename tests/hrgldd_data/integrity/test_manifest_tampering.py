"""Manifest tampering: listed paths stay inside the release, listings are well formed, and
nothing the listings do not name is accepted (``hrgldd verify`` and every open)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from damage import snapshot

from hrgldd_cli import cli
from hrgldd_data.archive import open_archive
from hrgldd_data.errors import ArchiveError
from hrgldd_data.manifest import DERIVED, MANIFEST, verify_release, write_derived


def _verify_fails(path: Path, *needles: str) -> str:
    """``hrgldd verify`` exits 1 with one line naming every needle; the API agrees."""
    before = snapshot(path)
    result = CliRunner().invoke(cli, ["verify", str(path)])
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]}"
    with pytest.raises(ArchiveError):
        open_archive(path)
    assert snapshot(path) == before, "checking a release never changes it"
    return lines[0]


def _edit_manifest(path: Path, edit) -> None:
    manifest = json.loads((path / MANIFEST).read_text())
    edit(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2))


def _entry(path: Path) -> dict:
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@pytest.mark.parametrize(
    "listed",
    [
        "../outside.bin",
        "image/../../outside.bin",
        "/etc/hostname",
        "image//c/0/0/0/0",
        ".hidden",
        "image/c/.x",
        "a\\b",
        "C:/x",
        "manifest.json",
        "README.md",
        "",
    ],
)
def test_paths_outside_or_odd_are_refused(fresh_release, listed):
    outside = fresh_release.parent / "outside.bin"
    outside.write_bytes(b"the same bytes as listed")  # a real file with a matching checksum
    _edit_manifest(fresh_release, lambda m: m["files"].__setitem__(listed, _entry(outside)))
    message = _verify_fails(fresh_release, "manifest.json", repr(listed), "not a plain path")
    assert "Fix:" in message


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda m: m["files"].__setitem__("zarr.json", "abc"), "'zarr.json' has no valid sha256"),
        (
            lambda m: m["files"]["zarr.json"].__setitem__("sha256", "F" * 64),
            "no valid sha256",
        ),
        (lambda m: m["files"]["zarr.json"].__setitem__("size", -1), "no valid sha256 and size"),
        (lambda m: m["files"]["zarr.json"].__setitem__("size", True), "no valid sha256 and size"),
        (lambda m: m.__setitem__("files", ["zarr.json"]), "'files' must map paths"),
        (lambda m: m.pop("name"), "no release name"),
        (lambda m: m.__setitem__("version", "latest"), "not a semantic version"),
        (lambda m: m.__setitem__("format_version", 99), "newer than this hrgldd reads"),
        (lambda m: m["files"].pop("zarr.json"), "does not list zarr.json"),
    ],
)
def test_malformed_manifests_are_refused(fresh_release, edit, needle):
    _edit_manifest(fresh_release, edit)
    _verify_fails(fresh_release, "manifest.json", needle)


def test_manifest_that_is_not_json(fresh_release):
    (fresh_release / MANIFEST).write_bytes(b"\x00\xff not json")
    _verify_fails(fresh_release, "manifest.json", "not valid JSON")


def test_manifest_that_is_a_fifo_never_blocks(fresh_release):
    (fresh_release / MANIFEST).unlink()
    os.mkfifo(fresh_release / MANIFEST)
    _verify_fails(fresh_release, "manifest.json", "not a regular file")


def test_unlisted_files_anywhere_are_refused(fresh_release):
    (fresh_release / "notes.txt").write_text("added later")
    (fresh_release / "image" / "c" / "extra").write_bytes(b"x")
    _verify_fails(fresh_release, "unlisted file image/c/extra", "unlisted file notes.txt")


def test_a_fifo_in_the_release_never_blocks(fresh_release):
    os.mkfifo(fresh_release / "pipe")
    _verify_fails(fresh_release, "pipe: not a regular file")


def test_a_listed_file_replaced_by_a_fifo(fresh_release):
    rel = "mask/c/0/0/0"
    (fresh_release / rel).unlink()
    os.mkfifo(fresh_release / rel)
    _verify_fails(fresh_release, f"{rel}: not a regular file", f"missing {rel}")


def test_symlink_out_of_the_release_is_refused(fresh_release, tmp_path):
    rel = "image/c/0/0/0/0"
    outside = tmp_path / "elsewhere.bin"
    shutil.move(fresh_release / rel, outside)  # identical bytes, but outside the release
    (fresh_release / rel).symlink_to(outside)
    _verify_fails(fresh_release, f"{rel}: a symlink out of the release")


def test_symlinked_folder_is_refused(fresh_release, tmp_path):
    shutil.move(fresh_release / "mask", tmp_path / "mask")
    (fresh_release / "mask").symlink_to(tmp_path / "mask")
    _verify_fails(fresh_release, "mask: a symlinked folder")


def test_symlink_inside_the_release_is_followed(fresh_release):
    rel = "row/c/0"
    shutil.move(fresh_release / rel, fresh_release / "row" / "c" / "real")
    (fresh_release / rel).symlink_to("real")
    # the target itself is unlisted: refused, but not as a symlink out
    message = _verify_fails(fresh_release, "unlisted file row/c/real")
    assert "symlink out" not in message


def test_presentation_files_are_allowed(fresh_release):
    from hrgldd_data.cards import write_card

    write_card(fresh_release)
    (fresh_release / "CHANGELOG.md").write_text("# Changelog\n")
    assert verify_release(fresh_release)["name"] == "hr_gldd"
    assert len(open_archive(fresh_release)) == 30


def test_derived_listing_is_checked(fresh_release):
    from hrgldd_data.cards import write_card

    write_card(fresh_release)
    write_derived(fresh_release, ["README.md", "croissant.json"])
    verify_release(fresh_release)
    card = fresh_release / "README.md"
    card.write_text(card.read_text().replace("HR-GLDD", "HR-GLDX"))  # same size, other bytes
    assert len(open_archive(fresh_release)) == 30, "readers do not read the card"
    _verify_fails_only_full(fresh_release, "README.md: sha256 mismatch")


def _verify_fails_only_full(path: Path, needle: str) -> None:
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 1 and needle in result.output, result.output


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["files"].__setitem__("../x", d["files"]["README.md"]), "'../x'"),
        (lambda d: d["files"].__setitem__("image/c/0/0/0/0", d["files"]["README.md"]), "repeated"),
        (lambda d: d.__setitem__("manifest_sha256", "0" * 64), "derived from another manifest"),
        (lambda d: d.pop("manifest_sha256"), "no manifest_sha256"),
        (
            lambda d: d["files"].__setitem__("data/extra.parquet", d["files"]["README.md"]),
            "missing",
        ),
    ],
)
def test_tampered_derived_listing(fresh_release, edit, needle):
    from hrgldd_data.cards import write_card

    write_card(fresh_release)
    write_derived(fresh_release, ["README.md"])
    derived = json.loads((fresh_release / DERIVED).read_text())
    edit(derived)
    (fresh_release / DERIVED).write_text(json.dumps(derived))
    _verify_fails(fresh_release, needle)


def test_verify_names_every_problem_on_one_line(fresh_release):
    (fresh_release / "mask/c/0/0/0").unlink()
    (fresh_release / "stray.bin").write_bytes(b"x")
    (fresh_release / "col/c/0").write_bytes(b"short")
    _verify_fails(
        fresh_release, "missing mask/c/0/0/0", "unlisted file stray.bin", "col/c/0: 5 bytes"
    )
