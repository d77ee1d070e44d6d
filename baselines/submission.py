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

Size limits are checked before anything is decompressed: the sizes a ``.npz`` declares in its zip
directory and in each array's ``.npy`` header, and the shape and dtype of each Zarr array, may not
exceed what the release's scored patches need (:func:`size_limits`: float64 masks and ids of up to
256 characters, with room for a few extra rows so that a wrong count still gets its own message).
A zip bomb is refused without inflating it.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
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
#: Longest patch id accepted (ids are about 30 characters).
MAX_ID_CHARS = 256
#: Rows accepted beyond the scored patches before a submission counts as oversized.
SPARE_ROWS = 64
#: Most files a Zarr submission may hold (a real one holds a handful).
MAX_ZARR_FILES = 10_000


class SubmissionError(HrglddError, ValueError):
    """A submission was refused; the message names the file, the problem and the fix."""


def size_limits(n_patches: int) -> dict[str, int]:
    """Most bytes ``ids`` and ``masks`` may take decompressed, for ``n_patches`` scored patches."""
    rows = n_patches + SPARE_ROWS
    return {"ids": rows * MAX_ID_CHARS * 4, "masks": rows * PATCH_SIZE * PATCH_SIZE * 8}


def _too_large(path: Path, key: str, size: int, limit: int, how: str) -> SubmissionError:
    return SubmissionError(
        f"{path}: '{key}' {how} {size:,} bytes, more than the {limit:,} that this release's "
        "scored patches can need (float64 masks, ids up to "
        f"{MAX_ID_CHARS} characters); refused before decompressing it. Submit one row per id of "
        "`python -m baselines.run --list-test-ids`"
    )


def _check_npz_sizes(path: Path, limits: dict[str, int]) -> None:
    """Check the zip directory and the .npy headers of ``ids`` and ``masks`` against ``limits``."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise SubmissionError(
                    f"{path}: the zip holds {repeated} more than once; save it again with "
                    "np.savez_compressed"
                )
            for key, limit in limits.items():
                info = next((i for i in infos if i.filename == f"{key}.npy"), None)
                if info is None:
                    continue
                if info.file_size > limit + 4096:
                    raise _too_large(path, key, info.file_size, limit, "declares")
                with archive.open(info) as handle:
                    major, _ = np.lib.format.read_magic(handle)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(handle)
                if dtype.hasobject:
                    continue  # np.load refuses it without pickle, with its own message
                size = math.prod(shape) * dtype.itemsize
                if size > limit:
                    raise _too_large(path, key, size, limit, f"has shape {shape} {dtype}:")
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as err:
        if isinstance(err, SubmissionError):
            raise
        raise SubmissionError(f"{path}: not a readable .npz file ({err})") from err


def _check_zarr_sizes(path: Path, group, limits: dict[str, int], max_rows: int) -> None:
    """Check the shapes and dtypes of a Zarr submission's arrays, and its file count."""
    count = sum(len(files) for _, _, files in os.walk(path))
    if count > MAX_ZARR_FILES:
        raise SubmissionError(
            f"{path}: {count} files; a submission is a Zarr group with two arrays (chunk them "
            "in larger pieces)"
        )
    for key, limit in limits.items():
        if key not in group:
            continue
        array = group[key]
        codecs = json.dumps(getattr(array.metadata, "to_dict", dict)(), default=str)
        if "pickle" in codecs.lower():
            raise SubmissionError(
                f"{path}/{key}: stored with a pickle codec, which is never loaded; store ids "
                "as strings (np.dtypes.StringDType() or a 'U' dtype)"
            )
        rows = array.shape[0] if array.shape else 0
        itemsize = array.dtype.itemsize if array.dtype.kind in "biufUS" else MAX_ID_CHARS * 4
        size = math.prod(array.shape) * max(itemsize, 1)
        if size > limit or rows > max_rows:
            raise _too_large(path, key, size, limit, f"has shape {array.shape} {array.dtype}:")


def expected_ids(release: Release) -> tuple[np.ndarray, list[str]]:
    """Indices and patch ids a submission must cover, in release order."""
    indices = scored_indices(release.test_sets())
    return indices, release.patch_ids(indices)


def read_submission(
    path: str | os.PathLike[str], *, max_patches: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, masks)`` from a ``.npz`` file or a Zarr group; checks that both arrays exist and,
    with ``max_patches`` (the scored patches of the release), the size limits before reading."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or directory")
    limits = size_limits(max_patches) if max_patches is not None else None
    if path.is_file() and path.suffix == ".npz":
        if limits is not None:
            _check_npz_sizes(path, limits)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files if key in ("ids", "masks")}
        except ValueError as err:
            raise SubmissionError(
                f"{path}: cannot read without pickle ({err}); save ids as a str array, e.g. "
                "np.array(ids, dtype=str)"
            ) from err
        except (OSError, EOFError, zipfile.BadZipFile) as err:
            raise SubmissionError(f"{path}: not a readable .npz file ({err})") from err
    elif path.is_dir():
        import zarr

        try:
            group = zarr.open_group(str(path), mode="r")
            if limits is not None:
                _check_zarr_sizes(path, group, limits, max_patches + SPARE_ROWS)
            arrays = {key: np.asarray(group[key][:]) for key in ("ids", "masks") if key in group}
        except SubmissionError:
            raise
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
            f"{path}: 'masks' has shape {masks.shape}; expected "
            f"({len(ids_list)}, {PATCH_SIZE}, {PATCH_SIZE}), "
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
                f"{path}: 'masks' values span [{low}, {high}]; expected masks 0/1 or "
                "probabilities in [0, 1]"
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
            f"--name {name!r}: use 1-64 letters, digits, '_', '.', '+' or '-', starting with a "
            "letter or digit"
        )
    board = Leaderboard.open(folder, release)
    if name in board.entries:
        raise SubmissionError(
            f"--name {name!r} is already on the leaderboard in {board.folder} "
            f"({board.kind_of(name)}); choose another name"
        )
    ids, masks = read_submission(path, max_patches=len(expected_ids(release)[1]))
    probs = validate(path, ids, masks, release)
    indices = scored_indices(release.test_sets())
    rows = score_test_sets(release, release.test_sets(), indices, probs)
    board.add_submission(name, rows, {"source": str(Path(path).resolve())})
    board.save()
    return board, rows


__all__ = [
    "SubmissionError",
    "expected_ids",
    "read_submission",
    "score_submission",
    "size_limits",
    "validate",
]
