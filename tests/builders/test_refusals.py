"""`hrgldd build` refuses bad specs, inputs and faults with one line naming the file and the fix.

Every case runs the command as a user does and asserts the exit status, that the message names
the offending file (or option) and what to do, that no traceback is shown, and that neither a
release nor a temporary directory is left in the output folder.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scene_files import default_polygons, write_inventory, write_scene

from hrgldd_cli import cli

ROOT = Path(__file__).resolve().parents[2]


def build_args(project, release: Path | None = None, *extra: str) -> list[str]:
    release = release or project.release()
    return [
        "build",
        str(release),
        "--raw-root",
        str(project.raw),
        "--out",
        str(project.out),
        "--quiet",
        "--scheduler",
        "synchronous",
        *extra,
    ]


def refused(result_output: str, exit_code: int, *needles: str, expected_code: int = 1) -> None:
    """One ``Error:`` line holding every needle; no traceback."""
    assert exit_code == expected_code, result_output
    assert "Traceback" not in result_output, result_output
    errors = [line for line in result_output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result_output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


def nothing_left(project) -> None:
    left = list(project.out.iterdir()) if project.out.exists() else []
    assert left == [], left


def run(project, release: Path | None = None, *extra: str):
    return CliRunner().invoke(cli, build_args(project, release, *extra))


def test_duplicate_event_by_path(project):
    project.valid()
    release = project.release(events=["testsite.toml", "./testsite.toml"])
    result = run(project, release)
    refused(
        result.output, result.exit_code, str(release), "same event file", "list each event once"
    )
    nothing_left(project)


def test_duplicate_event_by_id(project):
    project.valid()
    other = project.specs / "copy"
    other.mkdir(parents=True)
    (other / "testsite.toml").write_text((project.specs / "testsite.toml").read_text())
    release = project.release(events=["testsite.toml", "copy/testsite.toml"])
    result = run(project, release)
    refused(result.output, result.exit_code, str(release), "both have id 'testsite'", "listed once")
    nothing_left(project)


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_scene_path_outside_raw_root(project, tmp_path, kind):
    project.valid()
    outside = write_scene(tmp_path / "elsewhere" / "scene.tif")
    pattern = "../elsewhere/*.tif" if kind == "relative" else str(outside.parent / "*.tif")
    event = project.event(scenes=pattern)
    result = run(project)
    refused(
        result.output,
        result.exit_code,
        str(event),
        f"scene path '{pattern}' leaves --raw-root",
        "allow_outside_raw_root = true",
    )
    nothing_left(project)
    # The spec may opt in explicitly.
    event.write_text("allow_outside_raw_root = true\n" + event.read_text())
    assert run(project).exit_code == 0


def test_inventory_path_outside_raw_root(project, tmp_path):
    project.valid()
    write_inventory(tmp_path / "inventory.gpkg", default_polygons())
    event = project.event(inventory="../inventory.gpkg")
    result = run(project)
    refused(result.output, result.exit_code, str(event), "inventory path '../inventory.gpkg'")
    nothing_left(project)


def test_signed_integer_scene(project):
    project.valid()
    scene = write_scene(project.raw / "testsite" / "scene.tif", dtype="int16")
    result = run(project)
    refused(result.output, result.exit_code, str(scene), "int16 (signed", "imagery.scale = 1")
    nothing_left(project)


def test_float_scene_of_unclear_range(project):
    import rasterio

    project.valid()
    path = project.raw / "testsite" / "scene.tif"
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    profile.update(dtype="float32", nodata=None)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32) / 20)  # 5..27: neither 0–1 nor 0–10 000
    result = run(project)
    refused(
        result.output,
        result.exit_code,
        str(path),
        "neither 0–1 nor 0–10 000 reflectance",
        "set imagery.scale",
    )
    nothing_left(project)


def test_band_mapping_that_repeats_a_band(project):
    project.valid()
    event = project.event(extra_imagery="bands = { red = 1, green = 1, blue = 1, nir = 1 }")
    result = run(project)
    refused(result.output, result.exit_code, str(event), "gives band 1 to both 'red' and 'green'")
    nothing_left(project)


def test_fifo_scene_does_not_hang(project):
    project.valid()
    os.mkfifo(project.raw / "testsite" / "stuck.tif")
    proc = subprocess.run(
        [sys.executable, "-m", "hrgldd_cli", *build_args(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    refused(
        proc.stderr,
        proc.returncode,
        str(project.raw / "testsite" / "stuck.tif"),
        "not a regular file",
        "remove it or narrow the pattern",
    )
    nothing_left(project)


def test_fifo_inventory_does_not_hang(project):
    project.valid()
    (project.raw / "testsite" / "inventory.gpkg").unlink()
    os.mkfifo(project.raw / "testsite" / "inventory.gpkg")
    proc = subprocess.run(
        [sys.executable, "-m", "hrgldd_cli", *build_args(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    refused(
        proc.stderr, proc.returncode, "inventory.gpkg: not a regular file", "give the inventory"
    )
    nothing_left(project)


def test_truncated_geotiff(project):
    project.valid()
    scene = write_scene(project.raw / "testsite" / "scene.tif", size=512)
    data = scene.read_bytes()
    scene.write_bytes(data[: len(data) * 2 // 3])
    write_inventory(
        project.raw / "testsite" / "inventory.gpkg",
        default_polygons() + [shapely_box_far_down()],
    )
    result = run(project)
    refused(result.output, result.exit_code, str(scene), "truncated or damaged", "re-download")
    nothing_left(project)


def shapely_box_far_down():
    import shapely
    from scene_files import ORIGIN

    x0, y0 = ORIGIN
    return shapely.box(x0 + 1200, y0 - 1500, x0 + 1300, y0 - 1400)  # in the truncated part


def test_unknown_epsg_code(project):
    project.valid()
    event = project.event(extra_imagery='crs = "EPSG:999999"')
    result = run(project)
    refused(result.output, result.exit_code, str(event), "'EPSG:999999' is not a CRS", "EPSG:32645")
    nothing_left(project)


def test_bogus_scheduler(project):
    project.valid()
    result = CliRunner().invoke(cli, build_args(project)[:-2] + ["--scheduler", "bogus"])
    refused(result.output, result.exit_code, "--scheduler 'bogus'", "threads, processes")
    nothing_left(project)


def test_unreachable_scheduler(project, monkeypatch):
    from builders import build

    monkeypatch.setattr(build, "SCHEDULER_TIMEOUT", "1s")
    project.valid()
    result = CliRunner().invoke(
        cli, build_args(project)[:-2] + ["--scheduler", "tcp://127.0.0.1:9"]
    )
    refused(result.output, result.exit_code, "tcp://127.0.0.1:9", "--scheduler threads")
    nothing_left(project)


@pytest.mark.parametrize(
    ("line", "needles"),
    [
        ("seed = -1", ("'seed' must be a non-negative integer",)),
        ("[split]\ntrain = nan\nval = 0.5\ntest = 0.5", ("must be finite", "train = 0.6")),
        ("[split]\ntrain = inf\nval = 0.0\ntest = 0.0", ("must be finite",)),
        ("nodata_threshold = nan", ("'nodata_threshold' must be in [0, 1)",)),
    ],
)
def test_bad_numbers_in_the_release_file(project, line, needles):
    project.valid()
    release = project.release()
    text = release.read_text().replace("seed = 7\n", "")
    release.write_text(text + line + "\n")
    result = run(project, release)
    refused(result.output, result.exit_code, str(release), *needles)
    nothing_left(project)


def test_disk_full(project, monkeypatch):
    from zarr.storage import LocalStore

    async def full(self, key, value):
        raise OSError(errno.ENOSPC, "No space left on device")

    project.valid()
    monkeypatch.setattr(LocalStore, "set", full)
    result = run(project)
    refused(
        result.output,
        result.exit_code,
        str(project.out),
        "no space left on the device",
        "free space there or choose another --out",
    )
    nothing_left(project)


def test_read_only_output_folder(project, monkeypatch):
    """As root a chmod is not enough to make a folder read-only, so the OS answer is simulated."""
    project.valid()
    project.out.mkdir()
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.is_relative_to(project.out) and self != project.out:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    result = run(project)
    refused(
        result.output,
        result.exit_code,
        str(project.out),
        "the folder is not writable",
        "choose a writable --out",
    )
    nothing_left(project)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_end_with_one_line(project, sig, code):
    """A build stopped while Zarr's event loop is busy: one line, no asyncio dump, nothing left."""
    release = project.valid()
    script = (
        "import asyncio, sys\n"
        "from zarr.core.sync import sync\n"
        "from hrgldd_data import writer as archive\n"
        "orig = archive.ReleaseWriter.append\n"
        "def slow(self, *a, **k):\n"
        "    orig(self, *a, **k); print('appended', flush=True); sync(asyncio.sleep(60))\n"
        "archive.ReleaseWriter.append = slow\n"
        "from hrgldd_cli import main\n"
        f"sys.argv = ['hrgldd', *{build_args(project, release)!r}]\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout.readline().strip() == "appended"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    refused(
        stderr,
        proc.returncode,
        f"stopped by {sig.name}",
        "Run the command again",
        expected_code=code,
    )
    assert "Task was destroyed" not in stderr and "asyncio" not in stderr
    assert stderr.strip().count("\n") == 0, stderr
    nothing_left(project)
