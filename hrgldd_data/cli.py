"""The ``hrgldd`` command: build, verify and inspect releases, and move them to and from the Hub.

Each subcommand imports what it needs when it runs, so ``hrgldd --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hrgldd_data import __version__


class HrglddError(click.ClickException):
    """An error shown to the user as ``Error: ...`` with exit status 1 (no traceback)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hrgldd")
def cli() -> None:
    """HR-GLDD: landslide-detection release builder, verifier and Hub client."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


@cli.command(short_help="Check every file of a release against its manifest.")
@click.argument("archive", type=click.Path(path_type=Path))
def verify(archive: Path) -> None:
    """Recompute every checksum of the release ARCHIVE against its manifest."""
    from hrgldd_data.archive import ArchiveError, verify_release

    try:
        manifest = verify_release(archive)
    except ArchiveError as err:
        raise HrglddError(str(err)) from err
    click.echo(f"{archive}: OK ({len(manifest['files'])} files, {manifest['counts']['total']} patches)")


@cli.command(short_help="Patch counts per site, split and collection.")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(archive: Path, as_json: bool) -> None:
    """Print patch counts of ARCHIVE per site, split and collection."""
    from hrgldd_data.archive import ArchiveError, open_archive
    from hrgldd_data.report import release_summary, summary_text

    try:
        release = open_archive(archive)
    except ArchiveError as err:
        raise HrglddError(str(err)) from err
    summary = release_summary(release)
    click.echo(json.dumps(summary, indent=2) if as_json else summary_text(summary))



def _terminate_as_exit() -> None:
    """Turn SIGTERM into SystemExit so that a killed build removes its temporary output."""
    import signal

    def handler(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@cli.command(short_help="Build a release from a release file.")
@click.argument("release_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--raw-root", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder below which the event files' scene and inventory paths lie.")
@click.option("--out", "out_root", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder that receives the release directory <name>-<version>.")
@click.option("--scheduler", default=None,
              help="Dask scheduler: threads (default), processes, synchronous, or a dask.distributed "
                   "address such as tcp://10.0.0.5:8786 (workers must see --raw-root).")
@click.option("--workers", type=int, default=None, help="Local Dask workers (default: one per core).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(release_file: Path, raw_root: Path, out_root: Path, scheduler: str | None, workers: int | None, quiet: bool) -> None:
    """Build the release described by RELEASE_FILE (e.g. builders/releases/sample.toml)."""
    from builders.build import build_release
    from builders.errors import InputError
    from hrgldd_data.archive import ArchiveError, open_archive

    _terminate_as_exit()
    try:
        path = build_release(release_file, raw_root, out_root, scheduler=scheduler, workers=workers, progress=not quiet)
    except (InputError, ArchiveError) as err:
        raise HrglddError(str(err)) from err
    release = open_archive(path)
    splits = release.attrs["counts"]["splits"]
    click.echo(f"built {release.name} {release.version}: {len(release)} patches "
               f"({', '.join(f'{k} {v}' for k, v in splits.items())}) -> {path}")


@cli.command(short_help="Generate the synthetic sample scenes (and release).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Raw-data root to write the synthetic scenes and inventories into.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--release-out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also build builders/releases/sample.toml from them into this folder.")
def sample(out: Path, seed: int, release_out: Path | None) -> None:
    """Generate the embedded SYNTHETIC sample scenes and inventories of the ten events."""
    from builders.sample import SAMPLE_RELEASE_FILE, generate_sample

    written = generate_sample(out, seed=seed)
    click.echo(f"wrote {len(written)} synthetic scene and inventory files below {out}")
    if release_out is not None:
        from builders.build import build_release
        from builders.errors import InputError
        from hrgldd_data.archive import ArchiveError

        _terminate_as_exit()
        try:
            path = build_release(SAMPLE_RELEASE_FILE, out, release_out)
        except (InputError, ArchiveError) as err:
            raise HrglddError(str(err)) from err
        click.echo(f"built sample release -> {path}")


@cli.command(short_help="Table-1 statistics of a landslide inventory.")
@click.argument("inventory")
@click.option("--scene", "scenes", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Scene(s) whose valid footprint is the study area (repeatable).")
@click.option("--layer", default=None, help="Layer of a multi-layer vector file.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def stats(inventory: str, scenes: tuple[Path, ...], layer: str | None, as_json: bool) -> None:
    """Table-1 statistics of an INVENTORY (zip members as archive.zip!member.shp)."""
    from builders.errors import InputError
    from builders.inventory import read_inventory
    from builders.build import scene_footprint
    from builders.scenes import open_scenes
    from builders.stats import inventory_stats

    try:
        inv = read_inventory(inventory, layer)
        opened = open_scenes(list(scenes), "auto") if scenes else []
        footprints = [scene_footprint(s) for s in opened]
        result = inventory_stats(inv, footprints or None, opened[0].crs if opened else None)
    except InputError as err:
        raise HrglddError(str(err)) from err
    result = {"inventory": inv.report()} | result
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key != "inventory":
            click.echo(f"{key:<28}{value}")
    click.echo(f"{'features read':<28}{inv.n_read}")


@cli.command("import-legacy", short_help="Import the published Zenodo arrays as a release.")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--version", "version", required=True, help="Release version to give the import, e.g. 0.9.0.")
@click.option("--out", "out_root", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--name", default="hr_gldd", show_default=True)
def import_legacy_cmd(folder: Path, version: str, out_root: Path, name: str) -> None:
    """Import the six published arrays (trainX.npy ... testY.npy) in FOLDER as a release."""
    from hrgldd_data.archive import ArchiveError
    from hrgldd_data.legacy import import_legacy

    _terminate_as_exit()
    try:
        path = import_legacy(folder, version, out_root, name=name)
    except (ArchiveError, ValueError) as err:
        raise HrglddError(str(err)) from err
    click.echo(f"imported {path} (site 'unknown', no coordinates: collection 1 only)")

# -- Hub: publish, pull, versions, card (hrgldd_data.hub, hrgldd_data.cards) ----------------------
_REPO_HELP = "Dataset repo ORG/NAME on the Hub (default: $HRGLDD_REPO, else hr-gldd/hr-gldd)."


@cli.command(short_help="Publish a release to the Hub as a tagged version.")
@click.argument("archive", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", default=None, help=_REPO_HELP)
@click.option("--notes", default=None, help="Release notes (default: those stored in the release).")
@click.option("--private", is_flag=True, help="Create the repo as private if it does not exist.")
def publish(archive: Path, repo: str | None, notes: str | None, private: bool) -> None:
    """Upload the release ARCHIVE to the Hub in one commit and tag it vX.Y.Z.

    The token comes from HF_TOKEN or `hf auth login`; the endpoint from HF_ENDPOINT.
    """
    from hrgldd_data.hub import HubError
    from hrgldd_data.hub import publish as publish_release

    try:
        result = publish_release(archive, repo, notes=notes, private=private)
    except HubError as err:
        raise HrglddError(str(err)) from err
    click.echo(
        f"published {result.repo} {result.tag} (commit {result.commit[:12]}, "
        f"{result.uploaded} file(s) uploaded, {result.deleted} removed): {result.url}"
    )


@cli.command(short_help="Download and verify a published version.")
@click.option("--version", "version", default=None, help="Version X.Y.Z (default: the newest tag).")
@click.option("--repo", default=None, help=_REPO_HELP)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Cache folder (default: $HRGLDD_CACHE, else ~/.cache/hrgldd).",
)
def pull(version: str | None, repo: str | None, cache_dir: Path | None) -> None:
    """Download a published version, verify every file, and print its directory."""
    from hrgldd_data.hub import HubError, ReleaseNotFoundError
    from hrgldd_data.hub import pull as pull_release

    try:
        path = pull_release(version, repo, cache_dir)
    except (HubError, ReleaseNotFoundError, ValueError) as err:
        raise HrglddError(str(err)) from err
    click.echo(str(path))


@cli.command(short_help="List published versions and their notes.")
@click.option("--repo", default=None, help=_REPO_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def versions(repo: str | None, as_json: bool) -> None:
    """List the published versions with their release notes (offline: the pulled ones)."""
    from dataclasses import asdict

    from hrgldd_data.hub import HubError
    from hrgldd_data.hub import versions as list_versions

    try:
        found = list_versions(repo)
    except HubError as err:
        raise HrglddError(str(err)) from err
    if as_json:
        click.echo(json.dumps([asdict(v) for v in found], indent=2))
        return
    if not found:
        click.echo("no published versions")
    for info in reversed(found):
        click.echo(f"{info.version}  {info.date or ''}  {info.commit[:12]}")
        for line in (info.notes or "(no notes)").splitlines():
            click.echo(f"    {line}")


@cli.command(short_help="Rewrite the dataset card of a release.")
@click.argument("archive", type=click.Path(path_type=Path, exists=True, file_okay=False))
def card(archive: Path) -> None:
    """(Re)write the dataset card README.md and croissant.json of the release ARCHIVE."""
    from hrgldd_data.archive import ArchiveError
    from hrgldd_data.cards import write_card

    try:
        path = write_card(archive)
    except ArchiveError as err:
        raise HrglddError(str(err)) from err
    click.echo(f"wrote {path} and {path.with_name('croissant.json')}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hrgldd")


if __name__ == "__main__":
    sys.exit(main())
