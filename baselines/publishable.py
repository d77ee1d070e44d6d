"""Check a leaderboard folder before its scores go public (``hrgldd publish-leaderboard``).

A published leaderboard must say exactly what was scored and nothing else, so the folder that
``python -m baselines.run`` wrote (``results.json``, ``leaderboard.md``) is refused when:

- ``results.json`` does not record which bytes were scored (the sha256 of the release's
  ``manifest.json``; :func:`hrgldd_data.hub.client.publish_leaderboard` compares it with the
  manifest tagged on the Hub), or is malformed;
- a row belongs to another release, names an entry that is not on the board, has a score outside
  [0, 1], pixel counts that do not add up to its patches, or pooled scores, a landslide fraction
  or an all-landslide F1 that its own TP/FP/FN do not give (a hand-edited F1 or floor), or an F1
  outside its own bootstrap interval;
- a test set's patch count differs from what the published release holds (:func:`check_counts`);
- ``leaderboard.md`` differs from the tables rendered from ``results.json`` (edited or stale).

What is published is rendered from ``results.json`` alone.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baselines.leaderboard import (
    COLLECTIONS_PROTOCOL,
    LEADERBOARD_MD,
    LOEO,
    PROTOCOLS,
    RESULTS_JSON,
    Leaderboard,
)
from baselines.submission import NAME_RE
from hrgldd_data.errors import InputError
from hrgldd_data.schema import PATCH_SIZE, parse_version

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: Pooled scores are computed in float32: allowed difference to the ratio of the counts.
TOLERANCE = 1e-5


class ResultsError(InputError):
    """A results folder cannot be published; the message names the file, problem and fix."""


@dataclass(frozen=True)
class Publishable:
    """A checked leaderboard folder: what ``publish_leaderboard`` sends."""

    folder: Path
    name: str
    version: str
    manifest_sha256: str
    markdown: str
    results: bytes
    rows: list[dict[str, Any]]


def _pooled(tp: int, fp: int, fn: int) -> dict[str, float]:
    def ratio(a: int, b: int) -> float:
        return a / b if b else 0.0

    return {
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "iou": ratio(tp, tp + fp + fn),
    }


def _check_row(path: Path, n: int, row: Any, release: dict, entries: dict) -> None:
    def bad(problem: str) -> ResultsError:
        return ResultsError(
            f"{path}: row {n} {problem}; the file was edited or damaged. Score again with "
            "`python -m baselines.run` into a fresh --out folder"
        )

    if not isinstance(row, dict):
        raise bad("is not an object")
    if (row.get("release_name"), row.get("release_version")) != (
        release["name"],
        release["version"],
    ):
        raise bad(f"belongs to {row.get('release_name')} {row.get('release_version')}")
    if row.get("entry") not in entries:
        raise bad(f"names entry {row.get('entry')!r}, which is not on the board")
    protocol = row.get("protocol") or COLLECTIONS_PROTOCOL
    if protocol not in PROTOCOLS:
        raise bad(f"has protocol {protocol!r}, not one of {list(PROTOCOLS)}")
    collections = (None,) if protocol == LOEO else (1, 2, 3)
    if row.get("collection") not in collections or not isinstance(row.get("test_set"), str):
        raise bad("has no valid collection and test set")
    counts = [row.get(k) for k in ("n_patches", "tp", "fp", "fn", "tn")]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        raise bad("has no valid patch and pixel counts")
    n_patches, tp, fp, fn, tn = counts
    if tp + fp + fn + tn != n_patches * PATCH_SIZE * PATCH_SIZE:
        raise bad(f"counts {tp + fp + fn + tn} pixels for {n_patches} patches")
    for metric, expected in _pooled(tp, fp, fn).items():
        value = row.get(metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise bad(f"has no valid {metric}")
        if abs(value - expected) > TOLERANCE:
            raise bad(f"says {metric} {value:.6f}, but its TP/FP/FN give {expected:.6f}")
    pixels = n_patches * PATCH_SIZE * PATCH_SIZE
    fraction = (tp + fn) / pixels if pixels else 0.0
    derived = {"landslide_fraction": fraction, "trivial_f1": 2 * fraction / (1 + fraction)}
    for metric, expected in derived.items():
        value = row.get(metric)
        if value is not None and (
            not isinstance(value, int | float) or abs(value - expected) > TOLERANCE
        ):
            raise bad(f"says {metric} {value!r}, but its pixel counts give {expected:.6f}")
    bounded = ("pb_precision", "pb_recall", "pb_f1", "pb_iou", "auroc", "auprc", "f1_low")
    for metric in (*bounded, "f1_high", "predicted_fraction", "prob_mean", "prob_std"):
        value = row.get(metric)
        if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
            raise bad(f"has {metric} {value!r} outside [0, 1]")
    low, high = row.get("f1_low"), row.get("f1_high")
    if low is not None and high is not None and not low - TOLERANCE <= high + TOLERANCE:
        raise bad(f"has a bootstrap interval {low}-{high} that is empty")


def load_publishable(folder: str | os.PathLike[str]) -> Publishable:
    """Read and check a leaderboard folder (see the module doc).

    Raises:
        ResultsError: naming the file, the problem and the fix.
    """
    folder = Path(folder)
    path = folder / RESULTS_JSON
    if not path.is_file():
        raise ResultsError(
            f"{folder}: no {RESULTS_JSON}; pass the folder `python -m baselines.run` wrote "
            "(<out>/<name>-<version>/)"
        )
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err}); score again") from err
    release = data.get("release") if isinstance(data, dict) else None
    entries = data.get("entries") if isinstance(data, dict) else None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(release, dict) or not isinstance(entries, dict) or not isinstance(rows, list):
        raise ResultsError(f"{path}: no release, entries and rows; score again")
    name, version = release.get("name"), release.get("version")
    try:
        parse_version(str(version))
    except ValueError as err:
        raise ResultsError(f"{path}: release version {version!r} is not X.Y.Z") from err
    if not isinstance(name, str) or not name:
        raise ResultsError(f"{path}: no release name; score again")
    digest = release.get("manifest_sha256")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise ResultsError(
            f"{path}: does not record which release bytes were scored (the sha256 of its "
            "manifest.json; results from an older hrgldd). Score the published version again "
            f"(`python -m baselines.run --release {version}`) into a fresh --out folder"
        )
    bad_names = [e for e in entries if not NAME_RE.match(str(e))]
    kinds = {e: (v or {}).get("kind") if isinstance(v, dict) else None for e, v in entries.items()}
    if bad_names or any(k not in ("baseline", "submission") for k in kinds.values()):
        raise ResultsError(f"{path}: entries {bad_names or list(entries)} are malformed")
    if not rows:
        raise ResultsError(f"{path}: no scores yet; run `python -m baselines.run` first")
    for n, row in enumerate(rows):
        _check_row(path, n, row, release, entries)
    board = Leaderboard(folder, release, dict(entries), list(rows))
    markdown = board.markdown()
    written = folder / LEADERBOARD_MD
    if written.is_file() and written.read_text() != markdown:
        raise ResultsError(
            f"{written}: differs from the tables rendered from {RESULTS_JSON} (edited or "
            f"written by another hrgldd). Only what {RESULTS_JSON} holds is published: delete "
            f"{LEADERBOARD_MD} to publish the tables rendered from it"
        )
    return Publishable(folder, name, str(version), digest, markdown, raw, rows)


def check_counts(results: Publishable, counts: dict[str, Any]) -> None:
    """Refuse rows whose test-set sizes differ from the published release's ``counts``."""
    splits = counts.get("splits") or {}
    sites = counts.get("sites") or {}
    for row in results.rows:
        collection, test_set = row["collection"], row["test_set"]
        if (row.get("protocol") or COLLECTIONS_PROTOCOL) == LOEO:
            per_site = sites.get(test_set) or {}
            expected = sum(int(per_site.get(split) or 0) for split in ("train", "val", "test"))
        elif collection == 1:
            expected = splits.get("test")
        else:
            per_site = sites.get(test_set) or {}
            expected = per_site.get("test" if collection == 2 else "unseen")
        if expected != row["n_patches"]:
            raise ResultsError(
                f"{results.folder / RESULTS_JSON}: {row['entry']} on c{collection}/{test_set} "
                f"scored {row['n_patches']} patches, but {results.name} {results.version} as "
                f"published has {expected}; score the published version again"
            )


__all__ = ["Publishable", "ResultsError", "check_counts", "load_publishable"]
