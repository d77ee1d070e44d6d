"""Submissions are size-limited before anything is decompressed: zip bombs, lying headers,
oversized dtypes and huge Zarr arrays are refused with a clear message, and nothing is written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from damage import snapshot

pytest.importorskip("torch")
from baselines import submission as submission_module  # noqa: E402
from baselines.run import main  # noqa: E402
from baselines.submission import (  # noqa: E402
    SubmissionError,
    expected_ids,
    read_submission,
    size_limits,
)
from hrgldd_data.archive import open_archive  # noqa: E402
from hrgldd_data.errors import HrglddError  # noqa: E402


@pytest.fixture
def scored(tiny_release):
    release = open_archive(tiny_release)
    indices, ids = expected_ids(release)
    return release, ids, release.read(indices)[1]


@pytest.fixture
def no_np_load(monkeypatch):
    """Fail the test if the arrays are ever decompressed."""

    def refuse(*args, **kwargs):
        raise AssertionError("np.load was reached: the size check must come first")

    monkeypatch.setattr(submission_module.np, "load", refuse)


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    import io

    buffer = io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _zip_bomb(path: Path, ids: list[str], rows: int) -> Path:
    """A small .npz whose masks inflate to ``rows`` float64 patches of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("ids.npy", _npy_bytes(np.asarray(ids, dtype=str)))
        with zf.open("masks.npy", "w", force_zip64=True) as handle:
            handle.write(_npy_header((rows, 128, 128), "<f8"))
            zeros = bytes(1 << 20)
            for _ in range(rows * 128 * 128 * 8 // len(zeros)):
                handle.write(zeros)
    return path


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_zip_bomb_is_refused_before_decompression(scored, tmp_path, no_np_load):
    release, ids, _ = scored
    path = _zip_bomb(tmp_path / "bomb.npz", ids, rows=1600)  # 210 MB inflated, ~0.2 MB on disk
    assert path.stat().st_size < 2_000_000
    with pytest.raises(
        SubmissionError, match=r"'masks' declares 209,715,\d+ bytes.*refused before"
    ):
        read_submission(path, max_patches=len(ids))


def test_header_that_lies_about_the_shape(scored, tmp_path, no_np_load):
    _, ids, _ = scored
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ids.npy", _npy_bytes(np.asarray(ids, dtype=str)))
        zf.writestr("masks.npy", _npy_header((10**7, 128, 128), "<f4") + bytes(64))
    with pytest.raises(SubmissionError, match=r"'masks' has shape \(10000000, 128, 128\)"):
        read_submission(path, max_patches=len(ids))


def test_ids_with_an_enormous_dtype(scored, tmp_path, no_np_load):
    _, ids, masks = scored
    path = tmp_path / "wide.npz"
    np.savez_compressed(path, ids=np.asarray(ids, dtype="<U100000"), masks=masks)
    with pytest.raises(SubmissionError, match=r"'ids' declares 5,600,\d+ bytes"):
        read_submission(path, max_patches=len(ids))


def test_a_member_named_twice_is_refused(scored, tmp_path, no_np_load):
    _, ids, masks = scored
    path = tmp_path / "twice.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ids.npy", _npy_bytes(np.asarray(ids, dtype=str)))
        zf.writestr("masks.npy", _npy_bytes(masks))
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("masks.npy", _npy_bytes(np.ones_like(masks)))
    with pytest.raises(SubmissionError, match=r"holds \['masks.npy'\] more than once"):
        read_submission(path, max_patches=len(ids))


def test_not_a_zip_is_a_clear_error(scored, tmp_path):
    _, ids, _ = scored
    path = tmp_path / "fake.npz"
    path.write_bytes(b"PK\x03\x04 but not really")
    with pytest.raises(SubmissionError, match="not a readable .npz"):
        read_submission(path, max_patches=len(ids))


def test_huge_zarr_array_is_refused_before_reading(scored, tmp_path):
    import zarr

    _, ids, _ = scored
    group = zarr.open_group(str(tmp_path / "huge.zarr"), mode="w")
    group.create_array("ids", data=np.asarray(ids, dtype=np.dtypes.StringDType()))
    group.create_array("masks", shape=(10**7, 128, 128), dtype="float32", chunks=(1, 128, 128))
    with pytest.raises(SubmissionError, match=r"'masks' has shape \(10000000, 128, 128\)"):
        read_submission(tmp_path / "huge.zarr", max_patches=len(ids))


def test_zarr_with_too_many_rows_of_ids(scored, tmp_path):
    import zarr

    _, ids, masks = scored
    group = zarr.open_group(str(tmp_path / "rows.zarr"), mode="w")
    many = np.asarray([ids[0]] * 10_000, dtype=np.dtypes.StringDType())
    group.create_array("ids", data=many)
    group.create_array("masks", data=masks)
    with pytest.raises(SubmissionError, match=r"'ids' has shape \(10000,\)"):
        read_submission(tmp_path / "rows.zarr", max_patches=len(ids))


def test_zarr_with_too_many_files(scored, tmp_path, monkeypatch):
    import zarr

    _, ids, masks = scored
    group = zarr.open_group(str(tmp_path / "files.zarr"), mode="w")
    group.create_array("ids", data=np.asarray(ids, dtype=np.dtypes.StringDType()))
    group.create_array("masks", data=masks, chunks=(1, 128, 128))
    monkeypatch.setattr(submission_module, "MAX_ZARR_FILES", 5)
    with pytest.raises(SubmissionError, match=r"files; a submission is a Zarr group"):
        read_submission(tmp_path / "files.zarr", max_patches=len(ids))


def test_limits_leave_room_for_honest_mistakes(scored, tmp_path):
    """A few extra rows still reach the precise message ("not scored test patches")."""
    release, ids, masks = scored
    path = tmp_path / "extra.npz"
    more = [*ids, "nowhere_s0_r0_c0"]
    np.savez_compressed(
        path, ids=np.asarray(more, dtype=str), masks=np.concatenate([masks, masks[:1]])
    )
    got_ids, got_masks = read_submission(path, max_patches=len(ids))
    assert len(got_ids) == len(ids) + 1
    assert size_limits(len(ids))["masks"] >= (len(ids) + 1) * 128 * 128 * 8


def test_cli_refuses_a_zip_bomb_in_one_line_and_writes_nothing(scored, tiny_release, tmp_path):
    release, ids, _ = scored
    path = _zip_bomb(tmp_path / "bomb.npz", ids, rows=1600)
    out = tmp_path / "results"
    result = CliRunner().invoke(
        main,
        [
            "--release",
            str(tiny_release),
            "--out",
            str(out),
            "--submission",
            str(path),
            "--name",
            "bomb",
            "--no-progress",
        ],
    )
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert str(path) in lines[0] and "refused before decompressing" in lines[0]
    assert "--list-test-ids" in lines[0]
    assert snapshot(out) == {}


def test_submission_errors_are_product_errors():
    assert issubclass(SubmissionError, HrglddError) and issubclass(SubmissionError, ValueError)
