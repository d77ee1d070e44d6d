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


@cli.command()
@click.argument("archive", type=click.Path(path_type=Path))
def verify(archive: Path) -> None:
    """Recompute every checksum of the release ARCHIVE against its manifest."""
    from hrgldd_data.archive import ArchiveError, verify_release

    try:
        manifest = verify_release(archive)
    except ArchiveError as err:
        raise HrglddError(str(err)) from err
    click.echo(f"{archive}: OK ({len(manifest['files'])} files, {manifest['counts']['total']} patches)")


@cli.command()
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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hrgldd")


if __name__ == "__main__":
    sys.exit(main())
