"""Commands that make and inspect releases: sample, build, import-*, verify, info, stats, card."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hrgldd_data.errors import HrglddError


@click.command(short_help="Check every file of a release against its manifest.")
@click.argument("archive", type=click.Path(path_type=Path))
def verify(archive: Path) -> None:
    """Recompute every checksum of the release ARCHIVE against its manifest."""
    from hrgldd_data.manifest import verify_release

    manifest = verify_release(archive)
    click.echo(
        f"{archive}: OK ({len(manifest['files'])} files, {manifest['counts']['total']} patches)"
    )


@click.command(short_help="Patch counts per site, split and collection.")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(archive: Path, as_json: bool) -> None:
    """Print patch counts of ARCHIVE per site, split and collection."""
    from hrgldd_data.archive import open_archive
    from hrgldd_data.report import release_summary, summary_text

    summary = release_summary(open_archive(archive))
    click.echo(json.dumps(summary, indent=2) if as_json else summary_text(summary))


@click.command(short_help="Build a release from a release file.")
@click.argument("release_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--raw-root",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder below which the event files' scene and inventory paths lie.",
)
@click.option(
    "--out",
    "out_root",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder that receives the release directory <name>-<version>.",
)
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler: threads (default), processes, synchronous, or a dask.distributed "
    "address such as tcp://10.0.0.5:8786 (workers must see --raw-root).",
)
@click.option(
    "--workers", type=int, default=None, help="Local Dask workers (default: one per core)."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(
    release_file: Path,
    raw_root: Path,
    out_root: Path,
    scheduler: str | None,
    workers: int | None,
    quiet: bool,
) -> None:
    """Build the release described by RELEASE_FILE (e.g. builders/releases/sample.toml)."""
    from builders.build import build_release
    from hrgldd_data.archive import open_archive

    path = build_release(
        release_file, raw_root, out_root, scheduler=scheduler, workers=workers, progress=not quiet
    )
    release = open_archive(path)
    splits = release.attrs["counts"]["splits"]
    click.echo(
        f"built {release.name} {release.version}: {len(release)} patches "
        f"({', '.join(f'{k} {v}' for k, v in splits.items())}) -> {path}"
    )


@click.command(short_help="Generate the synthetic sample scenes (and release).")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Raw-data root to write the synthetic scenes and inventories into.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--release-out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also build builders/releases/sample.toml from them into this folder.",
)
def sample(out: Path, seed: int, release_out: Path | None) -> None:
    """Generate the embedded SYNTHETIC sample scenes and inventories of the ten events."""
    from builders.sample import SAMPLE_RELEASE_FILE, generate_sample

    written = generate_sample(out, seed=seed)
    click.echo(f"wrote {len(written)} synthetic scene and inventory files below {out}")
    if release_out is not None:
        from builders.build import build_release

        path = build_release(SAMPLE_RELEASE_FILE, out, release_out)
        click.echo(f"built sample release -> {path}")


@click.command(short_help="Table-1 statistics of a landslide inventory.")
@click.argument("inventory")
@click.option(
    "--scene",
    "scenes",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Scene(s) whose valid footprint is the study area (repeatable).",
)
@click.option("--layer", default=None, help="Layer of a multi-layer vector file.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def stats(inventory: str, scenes: tuple[Path, ...], layer: str | None, as_json: bool) -> None:
    """Table-1 statistics of an INVENTORY (zip members as archive.zip!member.shp)."""
    from builders.build import scene_footprint
    from builders.inventory import read_inventory
    from builders.scenes import open_scenes
    from builders.stats import inventory_stats

    inv = read_inventory(inventory, layer)
    opened = open_scenes(list(scenes), "auto", wanted=None, dtype=None) if scenes else []
    footprints = [scene_footprint(s) for s in opened]
    result = inventory_stats(inv, footprints or None, opened[0].crs if opened else None)
    result = {"inventory": inv.report()} | result
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key != "inventory":
            click.echo(f"{key:<28}{value}")
    click.echo(f"{'features read':<28}{inv.n_read}")


@click.command("import-legacy", short_help="Import the published Zenodo arrays as a release.")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--version", "version", required=True, help="Release version to give the import, e.g. 0.9.0."
)
@click.option("--out", "out_root", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--name", default="hr_gldd", show_default=True)
def import_legacy_cmd(folder: Path, version: str, out_root: Path, name: str) -> None:
    """Import the six published arrays (trainX.npy ... testY.npy) in FOLDER as a release.

    The same as `hrgldd import-patches FOLDER --layout zenodo`.
    """
    from builders.legacy import import_legacy

    try:
        path = import_legacy(folder, version, out_root, name=name)
    except ValueError as err:  # a malformed --version or --name
        if isinstance(err, HrglddError):
            raise
        raise click.BadParameter(str(err)) from err
    click.echo(f"imported {path} (site 'unknown', no coordinates: collection 1 only)")


def _names(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _fractions(text: str) -> dict[str, float]:
    parts = text.split(",")
    if len(parts) != 3:
        raise click.BadParameter(f"{text!r}: give three fractions train,val,test, e.g. 0.6,0.2,0.2")
    try:
        values = [float(p) for p in parts]
    except ValueError as err:
        raise click.BadParameter(f"{text!r}: fractions must be numbers, e.g. 0.6,0.2,0.2") from err
    return dict(zip(("train", "val", "test"), values, strict=True))


@click.command("import-patches", short_help="Import a folder of image/mask patches as a release.")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Release name, e.g. landslide4sense_rgb.")
@click.option("--version", "version", required=True, help="Release version, e.g. 1.0.0.")
@click.option("--out", "out_root", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--layout",
    type=click.Choice(["pairs", "zenodo"]),
    default="pairs",
    show_default=True,
    help="pairs: image/mask files; zenodo: the six published HR-GLDD arrays (= import-legacy).",
)
@click.option(
    "--sensor",
    default=None,
    help="What the imagery is: sentinel-2, planetscope, or any name (e.g. 'UAV RGB + DSM').",
)
@click.option("--resolution", type=float, default=None, help="Ground resolution in metres.")
@click.option("--units", default=None, help="What the values are (e.g. 'surface reflectance').")
@click.option("--bands", default=None, help="Release bands in order, e.g. red,green,blue,nir.")
@click.option(
    "--band-map",
    default="auto",
    show_default=True,
    help="auto (the files' band names) or name=1-based-index pairs, e.g. red=4,green=3,blue=2.",
)
@click.option("--source-bands", default=None, help="Names of the files' bands, in file order.")
@click.option(
    "--split",
    default="auto",
    show_default=True,
    help="folders (train/ val|validation/ test/), seeded, a split file (CSV id,split[,site] or "
    "JSON), or auto (folders if present, else seeded).",
)
@click.option("--fractions", default="0.6,0.2,0.2", show_default=True, help="Seeded split.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--site", default=None, help="Site id of the patches (default: --name).")
@click.option("--skip-unpaired", is_flag=True, help="Leave out files without a partner.")
@click.option("--nodata", type=float, default=None, help="Source value that means no data.")
@click.option("--title", default=None, help="Title of the dataset card.")
@click.option("--description", default=None, help="One paragraph for the card.")
@click.option("--license", "license_", default=None, help="Licence of the source data.")
@click.option("--citation", default=None, help="How to cite the source dataset.")
def import_patches_cmd(
    folder: Path,
    name: str,
    version: str,
    out_root: Path,
    layout: str,
    sensor: str | None,
    resolution: float | None,
    units: str | None,
    bands: str | None,
    band_map: str,
    source_bands: str | None,
    split: str,
    fractions: str,
    seed: int,
    site: str | None,
    skip_unpaired: bool,
    nodata: float | None,
    title: str | None,
    description: str | None,
    license_: str | None,
    citation: str | None,
) -> None:
    """Import FOLDER of 128x128 image/mask patches (GeoTIFF, PNG, HDF5, .npy) as a release.

    Images pair with masks by name (image_12.png <-> mask_12.png, or the same name in images/
    and masks/). See the README's Releases section for the three real sets.
    """
    if layout == "zenodo":
        from builders.legacy import import_legacy

        path = import_legacy(folder, version, out_root, name=name)
        click.echo(f"imported {path} (site 'unknown', no coordinates: collection 1 only)")
        return
    if not sensor:
        raise click.UsageError(
            "--sensor is required: say what the imagery is (sentinel-2, planetscope, or a name "
            "such as 'UAV RGB + DSM')"
        )
    from builders.bands import parse_band_mapping
    from builders.patches import import_patches
    from hrgldd_data.archive import open_archive

    try:
        mapping = parse_band_mapping(band_map)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--band-map") from err
    path, report = import_patches(
        folder,
        out_root,
        name=name,
        version=version,
        sensor=sensor,
        bands=_names(bands),
        band_map=mapping,
        source_bands=_names(source_bands),
        resolution_m=resolution,
        units=units,
        split=split,
        fractions=_fractions(fractions),
        seed=seed,
        site=site,
        skip_unpaired=skip_unpaired,
        nodata=nodata,
        title=title,
        description=description,
        license=license_,
        citation=citation,
    )
    release = open_archive(path)
    splits = release.attrs["counts"]["splits"]
    sensor_info = release.sensor
    resolution_text = f"{sensor_info.resolution_m:g} m" if sensor_info.resolution_m else "?"
    click.echo(
        f"imported {release.name} {release.version}: {len(release)} patches "
        f"({', '.join(f'{k} {v}' for k, v in splits.items() if k != 'unseen')}), "
        f"{sensor_info.name} {resolution_text}, bands {','.join(release.bands)} "
        f"{release.dtype.name} -> {path}"
    )
    for line in report.lines():
        click.echo(f"  {line}")


@click.command(short_help="Rewrite the dataset card of a release.")
@click.argument("archive", type=click.Path(path_type=Path, exists=True, file_okay=False))
def card(archive: Path) -> None:
    """(Re)write the dataset card README.md and croissant.json of the release ARCHIVE."""
    from hrgldd_data.cards import write_card

    path = write_card(archive)
    click.echo(f"wrote {path} and {path.with_name('croissant.json')}")
