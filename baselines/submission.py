"""Score predictions made elsewhere against a release's test sets and add them to its leaderboard.

Submission format
-----------------
One file holding two arrays:

- ``ids``: 1-D unicode strings, the patch ids of ``Release.patch_ids()``
  (e.g. ``kodagu_2018_s0_r384_c512``; ``legacy_000123`` for a legacy import);
- ``masks``: ``(k, 128, 128)``, row ``i`` for ``ids[i]``: either masks (bool, or integers 0/1) or
  landslide probabilities (float in [0, 1]); both are thresholded at 0.5 like the baselines.

As NumPy: ``np.savez_compressed("preds.npz", ids=np.array(ids), masks=masks)`` (a plain ``str``
array, not ``dtype=object``: files are read without pickle). As Zarr: a group (directory, v2 or v3)
with arrays ``ids`` (any string dtype; ``np.dtypes.StringDType()`` is the one Zarr v3 specifies)
and ``masks``.

The ids must be exactly the patches scored on this release: the mixed test split (collection 1),
which contains each site's test split (collection 2), and every patch of each unseen event
(collection 3); ``python -m baselines.run --list-test-ids`` prints them. Missing or extra ids,
duplicates, a wrong shape, NaNs, values outside [0, 1] or a name already on the leaderboard are
refused with a message, and then nothing is written.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from baselines.evaluate import score_test_sets, scored_indices
from baselines.leaderboard import Leaderboard
from hrgldd_data.archive import Release
from hrgldd_data.errors import HrglddError
from hrgldd_data.schema import PATCH_SIZE

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


class SubmissionError(HrglddError, ValueError):
    """A submission was refused; the message names the file, the problem and the fix."""


def expected_ids(release: Release) -> tuple[np.ndarray, list[str]]:
    """Indices and patch ids a submission must cover, in release order."""
    indices = scored_indices(release.test_sets())
    return indices, release.patch_ids(indices)


def read_submission(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, masks)`` from a ``.npz`` file or a Zarr group; checks only that both arrays exist."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or directory")
    if path.is_file() and path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files if key in ("ids", "masks")}
        except ValueError as err:
            raise SubmissionError(
                f"{path}: cannot read without pickle ({err}); save ids as a str array, e.g. np.array(ids, dtype=str)"
            ) from err
        except (OSError, EOFError) as err:
            raise SubmissionError(f"{path}: not a readable .npz file ({err})") from err
    elif path.is_dir():
        import zarr

        try:
            group = zarr.open_group(str(path), mode="r")
            arrays = {key: np.asarray(group[key][:]) for key in ("ids", "masks") if key in group}
        except Exception as err:  # zarr raises several types for a folder that is no group
            raise SubmissionError(f"{path}: not a readable Zarr group ({err})") from err
    else:
        raise SubmissionError(f"{path}: expected a .npz file or a Zarr group directory")
    missing = [key for key in ("ids", "masks") if key not in arrays]
    if missing:
        raise SubmissionError(
            f"{path}: array(s) {missing} missing; a submission holds 'ids' and 'masks'"
        )
    return arrays["ids"], arrays["masks"]


def validate(
    path: str | os.PathLike[str], ids: np.ndarray, masks: np.ndarray, release: Release
) -> np.ndarray:
    """Check a submission against the release; return its values as float32 in release order."""
    indices, wanted = expected_ids(release)
    strings = ids.dtype.kind in "UST" or (
        ids.dtype.kind == "O" and all(isinstance(i, str) for i in ids.tolist())
    )
    if ids.ndim != 1 or not strings:
        raise SubmissionError(
            f"{path}: 'ids' must be a 1-D array of strings, got {ids.dtype} with shape {ids.shape}"
        )
    ids_list = [str(i) for i in ids.tolist()]
    if masks.shape != (len(ids_list), PATCH_SIZE, PATCH_SIZE):
        raise SubmissionError(
            f"{path}: 'masks' has shape {masks.shape}; expected ({len(ids_list)}, {PATCH_SIZE}, {PATCH_SIZE}), "
            "one patch per id"
        )
    counts = Counter(ids_list)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        raise SubmissionError(
            f"{path}: {len(duplicates)} id(s) appear more than once, e.g. {duplicates[:3]}"
        )
    missing = [i for i in wanted if i not in counts]
    extra = sorted(set(counts) - set(wanted))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} test patch id(s) missing, e.g. {missing[:3]}")
        if extra:
            parts.append(f"{len(extra)} id(s) that are not scored test patches, e.g. {extra[:3]}")
        raise SubmissionError(
            f"{path}: {'; '.join(parts)}. Submit exactly the {len(wanted)} ids of "
            f"`python -m baselines.run --list-test-ids` for {release.name} {release.version}"
        )
    if masks.dtype.kind == "b":
        values = masks.astype(np.float32)
    elif masks.dtype.kind in "iuf":
        values = masks.astype(np.float32)
        if masks.dtype.kind == "f" and np.isnan(masks).any():
            where = np.flatnonzero(np.isnan(masks).reshape(len(ids_list), -1).any(1))
            raise SubmissionError(
                f"{path}: NaN in 'masks' of {where.size} patch(es), e.g. {ids_list[where[0]]}"
            )
        low, high = float(masks.min()), float(masks.max())
        if low < 0 or high > 1:
            raise SubmissionError(
                f"{path}: 'masks' values span [{low}, {high}]; expected masks 0/1 or probabilities in [0, 1]"
            )
    else:
        raise SubmissionError(f"{path}: 'masks' dtype {masks.dtype} is not bool, integer or float")
    order = {pid: n for n, pid in enumerate(ids_list)}
    return values[[order[pid] for pid in wanted]]


def score_submission(
    release: Release, folder: str | os.PathLike[str], path: str | os.PathLike[str], name: str
) -> tuple[Leaderboard, list[dict[str, Any]]]:
    """Validate, score with the baselines' evaluator, add the rows and save the leaderboard.

    Every check runs before anything is written, so a refused submission changes nothing.
    """
    if not NAME_RE.match(name or ""):
        raise SubmissionError(
            f"--name {name!r}: use 1-64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit"
        )
    board = Leaderboard.open(folder, release)
    if name in board.entries:
        raise SubmissionError(
            f"--name {name!r} is already on the leaderboard in {board.folder} ({board.kind_of(name)}); choose another name"
        )
    ids, masks = read_submission(path)
    probs = validate(path, ids, masks, release)
    indices = scored_indices(release.test_sets())
    rows = score_test_sets(release, release.test_sets(), indices, probs)
    board.add_submission(name, rows, {"source": str(Path(path).resolve())})
    board.save()
    return board, rows


__all__ = ["SubmissionError", "expected_ids", "read_submission", "score_submission", "validate"]
