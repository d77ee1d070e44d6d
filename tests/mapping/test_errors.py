"""Bad input to ``hrgldd map`` gets one clear error naming the file and the fix, and nothing that
looks like a finished map is left behind (killed, disk full, or refused)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from scenes import make_scene

from hrgldd_cli.main import cli
from hrgldd_data.errors import InputError
from mapping import map_scene

ROOT = Path(__file__).resolve().parents[2]


def _outputs(folder: Path) -> list[str]:
    """Files in an output folder that look like results (hidden temporaries excluded)."""
    return (
        sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        if folder.exists()
        else []
    )


def _run_cli(*args: str):
    return CliRunner().invoke(cli, ["map", *args, "--quiet"])


def test_scene_without_crs_or_transform(trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif")
    with rasterio.open(scene) as src:
        data, profile = src.read(), src.profile
    no_crs = tmp_path / "no_crs.tif"
    with rasterio.open(no_crs, "w", **(profile | {"crs": None})) as dst:
        dst.write(data)
    with pytest.raises(InputError, match=r"no_crs\.tif: scene has no CRS; assign one.*gdal_edit"):
        map_scene(no_crs, trained_run, tmp_path / "out", progress=False)
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", **(profile | {"transform": rasterio.Affine.identity()})) as dst:
        dst.write(data)
    with pytest.raises(InputError, match=r"plain\.tif: scene has no geotransform"):
        map_scene(plain, trained_run, tmp_path / "out", progress=False)
    assert _outputs(tmp_path / "out") == []


def test_bands_the_model_cannot_use(trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif", described=False)
    with rasterio.open(scene) as src:
        data, profile = src.read(), src.profile
    three = tmp_path / "rgb.tif"
    with rasterio.open(three, "w", **(profile | {"count": 3})) as dst:
        dst.write(data[:3])
    with pytest.raises(
        InputError,
        match=r"rgb\.tif: cannot map its 3 undescribed band.*\['red', 'green', 'blue', 'nir'\]",
    ):
        map_scene(three, trained_run, tmp_path / "out", progress=False)
    dsm = tmp_path / "rgb_dsm.tif"
    with rasterio.open(dsm, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("blue", "green", "red", "dsm")
    with pytest.raises(
        InputError,
        match=r"do not name \['nir'\].*trained on bands \['red', 'green', 'blue', 'nir'\]",
    ):
        map_scene(dsm, trained_run, tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="asks for"):
        map_scene(
            scene, trained_run, tmp_path / "out", bands="red=3,green=2,blue=1,nir=9", progress=False
        )


def _copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def test_incomplete_or_mismatched_model_folders(trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif")
    missing = _copy_run(trained_run, tmp_path / "missing")
    (missing / "model.safetensors").unlink()
    with pytest.raises(
        InputError, match=r"missing: incomplete model folder \(missing model.safetensors\)"
    ):
        map_scene(scene, missing, tmp_path / "out", progress=False)

    old = _copy_run(trained_run, tmp_path / "old_run")
    config = json.loads((old / "config.json").read_text())
    del config["data"]
    (old / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        InputError,
        match=r"old_run: the model does not record its training data.*re-run the same training",
    ):
        map_scene(scene, old, tmp_path / "out", progress=False)

    # config.json of a 16-filter U-Net beside the weights of an 8-filter one
    mixed = _copy_run(trained_run, tmp_path / "mixed")
    config = json.loads((mixed / "config.json").read_text())
    config["model"]["filters"] = 16
    (mixed / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        InputError,
        match=r"mixed: config.json .* does not match the config saved inside model.safetensors",
    ):
        map_scene(scene, mixed, tmp_path / "out", progress=False)

    truncated = _copy_run(trained_run, tmp_path / "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(InputError, match=r"truncated: model.safetensors is unreadable"):
        map_scene(scene, truncated, tmp_path / "out", progress=False)

    with pytest.raises(InputError, match="no such model folder"):
        map_scene(scene, tmp_path / "nowhere" / "x" / "y", tmp_path / "out", progress=False)
    assert _outputs(tmp_path / "out") == []


def test_old_run_is_relabelled_by_rerunning_its_training(tmp_path, tiny_release):
    """The fix the refusal names works: re-running a finished run's training adds the data."""
    from baselines.train import TrainConfig, train_model
    from hrgldd_data.archive import open_archive
    from mapping.model import load_folder

    release = open_archive(tiny_release)
    config = TrainConfig(model="unet", filters=8, epochs=1, steps_per_epoch=1, device="cpu")
    train_model(release, config, workdir=tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    del saved["data"]
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    with pytest.raises(InputError, match="does not record its training data"):
        load_folder(tmp_path / "run")
    weights = (tmp_path / "run" / "model.safetensors").read_bytes()
    train_model(release, config, workdir=tmp_path / "run", progress=False)
    model = load_folder(tmp_path / "run")
    assert model.bands == ("red", "green", "blue", "nir")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() != b"" and weights


def test_inventory_that_does_not_overlap(trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif")
    far = tmp_path / "far.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 100, 100)], crs="EPSG:32643").to_file(far)
    with pytest.raises(
        InputError, match=r"far.gpkg: no landslide polygon overlaps the scenes \['s.tif'\]"
    ):
        map_scene(scene, trained_run, tmp_path / "out", inventory=far, progress=False)
    assert _outputs(tmp_path / "out") == []


def test_all_nodata_scene(trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "empty.tif", nodata_edge=10_000)
    with pytest.raises(InputError, match=r"empty.tif: scene holds no valid pixel \(all nodata\)"):
        map_scene(scene, trained_run, tmp_path / "out", progress=False)
    assert _outputs(tmp_path / "out") == []
    assert list((tmp_path / "out").iterdir()) == []  # temporaries removed too


@pytest.mark.parametrize("threshold", ["0", "1", "1.5", "-0.2", "nan"])
def test_threshold_outside_zero_one(threshold, trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif", shape=(40, 40))
    result = _run_cli(
        str(scene),
        "--model",
        str(trained_run),
        "--out",
        str(tmp_path / "o"),
        "--threshold",
        threshold,
    )
    assert result.exit_code == 1
    assert f"--threshold {float(threshold)}: must lie strictly between 0 and 1" in result.output
    assert not (tmp_path / "o").exists()


def test_unknown_scheduler(trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif", shape=(40, 40))
    out = tmp_path / "o"
    result = _run_cli(
        str(scene), "--model", str(trained_run), "--out", str(out), "--scheduler", "bogus"
    )
    assert result.exit_code == 1 and "--scheduler 'bogus'" in result.output
    assert not out.exists()


def test_output_folder_not_writable(trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "s.tif", shape=(40, 40))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = _run_cli(str(scene), "--model", str(trained_run), "--out", str(blocker / "maps"))
    assert result.exit_code == 1
    assert f"{blocker / 'maps'}: output folder is not writable" in result.output


def _map_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hrgldd_cli", "map", *args, "--quiet"]


def _env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_disk_full_mid_write_leaves_nothing_complete(trained_run, tmp_path):
    """A real write failure (file size limit, as a full disk) while writing the map."""
    scene, _, _ = make_scene(tmp_path / "s.tif", shape=(600, 600))
    out = tmp_path / "out"
    limit = 400_000  # bytes: the 1.4 MB probability stage file cannot be written whole
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "from hrgldd_cli.main import main; sys.argv[0] = 'hrgldd'; main()"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "map",
            str(scene),
            "--model",
            str(trained_run),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    assert "writing the map failed" in proc.stderr
    assert "the disk is probably full or a file size limit was reached" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_leaves_no_complete_looking_output(sig, trained_run, tmp_path):
    scene, _, _ = make_scene(tmp_path / "big.tif", shape=(1100, 1100))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _map_command(str(scene), "--model", str(trained_run), "--out", str(out)),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while not list(out.glob(".*stage*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    time.sleep(0.5)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    assert _outputs(out) == []  # no probability, mask, polygons or summary
    leftovers = list(out.iterdir())
    if sig == signal.SIGTERM:
        assert leftovers == [], leftovers  # cleaned up on the way out
    # the next run removes the stage files of the dead run and completes
    result = subprocess.run(
        _map_command(str(scene), "--model", str(trained_run), "--out", str(out), "--stride", "128"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert not list(out.glob(".*stage*"))
    assert "summary.json" in _outputs(out)
