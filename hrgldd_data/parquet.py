"""A Parquet view of a release, for Hugging Face ``datasets`` and the Hub's dataset viewer.

The Zarr archive stays the source of truth; this view is derived from it, deterministically (the
same release and library versions give the same bytes), and published beside it so that
``datasets.load_dataset(repo, revision="v1.1.0")`` and the dataset viewer work. Layout, following
the Hub's ``data_files`` naming::

    data/<split>-00000-of-00001.parquet     one file per named split (more above ROWS_PER_FILE)

with the named splits of :mod:`hrgldd_data.views` (``train``, ``validation``, ``test``,
``test_<site>``, ``unseen_<site>``). One row per patch (a patch of a dataset site's test split is
in ``test`` and in ``test_<site>``):

========== ============================================================================
image      Array3D (bands, 128, 128), the release's dtype and band order, values as stored
mask       Array2D (128, 128) uint8: 1 = landslide
preview    Image (PNG, 8-bit): true colour where the release has red, green and blue,
           else false colour (NIR, R, G) or grey, each band stretched 2-98 % per patch
site       event id            split       stored split (train, val, test, unseen)
collection 1, 2 or 3 for a scored test set, else null
patch_id   stable patch id     index       patch index in the release
crs        CRS of the patch's scene (empty when unknown)
bounds     left, bottom, right, top in ``crs`` (null when unknown)
========== ============================================================================

The ``datasets`` features are stored in each file's schema metadata (``huggingface``), as
``datasets`` itself writes them, so no code is needed to decode the columns. ``pyarrow`` and Pillow
are the only libraries used to write it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrgldd_data.errors import InputError
from hrgldd_data.fileio import atomic_path
from hrgldd_data.rendering import display_bands, stretch, to_uint8
from hrgldd_data.schema import SPLITS
from hrgldd_data.views import NamedSplit, named_splits

if TYPE_CHECKING:
    from hrgldd_data.archive import Release

#: Folder of the view inside a Hub commit (or any folder it is written to).
DATA_DIR = "data"
#: At most this many patches per file (~130 KiB each: files stay far below the Hub's limits).
ROWS_PER_FILE = 1000
#: Rows per Parquet row group: what the dataset viewer reads at a time (~13 MiB).
ROWS_PER_GROUP = 100
COMPRESSION = "zstd"


def file_name(split: str, shard: int, n_shards: int) -> str:
    """``data/<split>-<shard>-of-<n>.parquet``, the Hub's naming of split files."""
    return f"{DATA_DIR}/{split}-{shard:05d}-of-{n_shards:05d}.parquet"


def split_pattern(split: str) -> str:
    """The ``data_files`` glob of one split (never matches another split's files)."""
    return f"{DATA_DIR}/{split}-*.parquet"


def data_files(release: Release) -> list[dict[str, str]]:
    """The card's ``configs[0].data_files``: one entry per named split, in loader order."""
    return [{"split": s.name, "path": split_pattern(s.name)} for s in named_splits(release)]


def preview_bands(bands: list[str]) -> list[int]:
    """Indices of the bands the preview shows: R,G,B where present, else the product's picture
    rule (:func:`hrgldd_data.rendering.display_bands`: NIR,R,G, else the first band in grey)."""
    return display_bands(bands, prefer="true")[1]


def features(release: Release) -> dict[str, Any]:
    """The ``datasets.Features`` of the view, as ``Features.to_dict()`` writes them."""
    n_bands = len(release.bands)
    _, _, height, width = release.group["image"].shape
    text = {"dtype": "string", "_type": "Value"}
    return {
        "image": {
            "shape": [n_bands, height, width],
            "dtype": release.dtype.name,
            "_type": "Array3D",
        },
        "mask": {"shape": [height, width], "dtype": "uint8", "_type": "Array2D"},
        "preview": {"_type": "Image"},
        "site": text,
        "split": text,
        "collection": {"dtype": "int8", "_type": "Value"},
        "patch_id": text,
        "index": {"dtype": "int64", "_type": "Value"},
        "crs": text,
        "bounds": {"feature": {"dtype": "float64", "_type": "Value"}, "length": 4, "_type": "List"},
    }


def yaml_features(release: Release) -> list[dict[str, Any]]:
    """:func:`features` as a dataset card's ``dataset_info.features`` (the Hub's YAML form).

    ``datasets`` casts the Parquet columns to these features when it loads the card's configs
    (Parquet alone cannot say that a nested list is an ``Array3D``).
    """
    rows: list[dict[str, Any]] = []
    for name, feature in features(release).items():
        kind = feature["_type"]
        if kind in ("Array2D", "Array3D"):
            key = "array2_d" if kind == "Array2D" else "array3_d"
            rows.append({"name": name, "dtype": {key: {k: feature[k] for k in ("shape", "dtype")}}})
        elif kind == "Image":
            rows.append({"name": name, "dtype": "image"})
        elif kind == "List":
            rows.append(
                {"name": name, "list": feature["feature"]["dtype"], "length": feature["length"]}
            )
        else:
            rows.append({"name": name, "dtype": feature["dtype"]})
    return rows


def render_preview(image: np.ndarray, band_index: list[int]) -> bytes:
    """An 8-bit PNG of three bands of one patch (C, H, W), 2-98 % stretch per band."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(stretch(image, band_index))).save(buffer, format="PNG")
    return buffer.getvalue()


def _nested_list(values: np.ndarray, shape: tuple[int, ...]):
    """A pyarrow nested list array of ``len(values) // prod(shape)`` rows of ``shape``."""
    import pyarrow as pa

    array = pa.array(values.reshape(-1))
    for size in reversed(shape):
        count = len(array) // size
        offsets = pa.array(np.arange(0, (count + 1) * size, size, dtype=np.int32))
        array = pa.ListArray.from_arrays(offsets, array)
    return array


def _table(release: Release, split: NamedSplit, indices: np.ndarray, band_index: list[int]):
    import pyarrow as pa

    from hrgldd_data.shards import read_patches

    images, masks = read_patches(release, indices)
    n = indices.size
    crs, bounds = [], []
    for i in indices.tolist():
        geo = release.bounds(i)
        crs.append(geo[0] if geo else "")
        bounds.append([float(v) for v in geo[1]] if geo else None)
    sites = release.sites
    columns = {
        "image": _nested_list(images, images.shape[1:]),
        "mask": _nested_list(masks, masks.shape[1:]),
        "preview": pa.StructArray.from_arrays(
            [
                pa.array([render_preview(im, band_index) for im in images], pa.binary()),
                pa.array([None] * n, pa.string()),
            ],
            names=["bytes", "path"],
        ),
        "site": pa.array([sites[int(c)] for c in release.table["site"][indices]], pa.string()),
        "split": pa.array([SPLITS[int(c)] for c in release.table["split"][indices]], pa.string()),
        "collection": pa.array([split.collection] * n, pa.int8()),
        "patch_id": pa.array(release.patch_ids(indices), pa.string()),
        "index": pa.array(indices.astype(np.int64), pa.int64()),
        "crs": pa.array(crs, pa.string()),
        "bounds": pa.array(bounds, pa.list_(pa.float64(), 4)),
    }
    meta = {b"huggingface": json.dumps({"info": {"features": features(release)}}).encode()}
    return pa.Table.from_pydict(columns).replace_schema_metadata(meta)


def write_parquet_view(
    release: Release | str | os.PathLike[str], folder: str | os.PathLike[str]
) -> list[Path]:
    """Write the Parquet view of ``release`` under ``folder/data/``; return the files written.

    Each file is written atomically. Files of an earlier view that this one does not write are an
    error (``load_dataset`` would read them too): give an empty folder or remove them.
    """
    import pyarrow.parquet as pq

    from hrgldd_data.archive import Release, open_archive

    if not isinstance(release, Release):
        release = open_archive(release)
    folder = Path(folder)
    splits = named_splits(release)
    planned: list[tuple[str, NamedSplit, np.ndarray]] = []
    for split in splits:
        chunks = [split.indices[i : i + ROWS_PER_FILE] for i in range(0, len(split), ROWS_PER_FILE)]
        planned += [(file_name(split.name, k, len(chunks)), split, c) for k, c in enumerate(chunks)]
    names = {name for name, _, _ in planned}
    stale = sorted(
        str(p.relative_to(folder))
        for p in (folder / DATA_DIR).glob("*.parquet")
        if str(p.relative_to(folder)) not in names
    )
    if stale:
        raise InputError(
            f"{folder / DATA_DIR} already holds Parquet files that are not part of the view of "
            f"{release.name} {release.version}: {', '.join(stale)}. Write the view into an empty "
            "folder, or remove them."
        )
    band_index = preview_bands(release.bands)
    written = []
    for name, split, indices in planned:
        table = _table(release, split, indices, band_index)
        target = folder / name
        with atomic_path(target) as tmp:
            pq.write_table(
                table,
                tmp,
                row_group_size=ROWS_PER_GROUP,
                compression=COMPRESSION,
                use_dictionary=["site", "split", "crs"],
                write_statistics=["site", "split", "collection", "index", "patch_id"],
            )
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m hrgldd_data.parquet RELEASE --out DIR``: a folder ``load_dataset`` reads.

    Writes the Parquet view and the dataset card (``README.md``, whose ``configs`` name the
    splits) into DIR, so that ``datasets.load_dataset("DIR")`` works without the Hub.
    """
    from hrgldd_data.archive import open_archive
    from hrgldd_data.cards import CARD, render_card
    from hrgldd_data.fileio import atomic_write

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("release", type=Path, help="release directory")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (data/, README)")
    args = parser.parse_args(argv)
    release = open_archive(args.release, verify=True)
    files = write_parquet_view(release, args.out)
    atomic_write(args.out / CARD, render_card(release))
    print(f"{len(files)} Parquet files and {CARD} in {args.out}")


__all__ = [
    "DATA_DIR",
    "ROWS_PER_FILE",
    "data_files",
    "features",
    "file_name",
    "preview_bands",
    "render_preview",
    "split_pattern",
    "write_parquet_view",
    "yaml_features",
]

if __name__ == "__main__":
    main()
