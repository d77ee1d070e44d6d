"""Commands that move releases and scores to and from the Hugging Face Hub: publish, pull,
versions, publish-leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import click

_REPO_HELP = "Dataset repo ORG/NAME on the Hub (default: $HRGLDD_REPO, else hr-gldd/hr-gldd)."


@click.command(short_help="Publish a release to the Hub as a tagged version.")
@click.argument("archive", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", default=None, help=_REPO_HELP)
@click.option("--notes", default=None, help="Release notes (default: those stored in the release).")
@click.option("--private", is_flag=True, help="Create the repo as private if it does not exist.")
def publish(archive: Path, repo: str | None, notes: str | None, private: bool) -> None:
    """Upload the release ARCHIVE to the Hub in one commit and tag it vX.Y.Z.

    The token comes from HF_TOKEN or `hf auth login`; the endpoint from HF_ENDPOINT.
    """
    from hrgldd_data.hub import publish as publish_release

    result = publish_release(archive, repo, notes=notes, private=private)
    click.echo(
        f"published {result.repo} {result.tag} (commit {result.commit[:12]}, "
        f"{result.uploaded} file(s) uploaded, {result.deleted} removed): {result.url}"
    )


@click.command(short_help="Download and verify a published version.")
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
    from hrgldd_data.hub import pull as pull_release

    try:
        path = pull_release(version, repo, cache_dir)
    except ValueError as err:  # a malformed --version
        raise click.BadParameter(str(err), param_hint="--version") from err
    click.echo(str(path))


@click.command(short_help="List published versions and their notes.")
@click.option("--repo", default=None, help=_REPO_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def versions(repo: str | None, as_json: bool) -> None:
    """List the published versions with their release notes (offline: the pulled ones)."""
    from dataclasses import asdict

    from hrgldd_data.hub import leaderboards, offline
    from hrgldd_data.hub import versions as list_versions

    found = list_versions(repo)
    scored = {} if offline() or not found else leaderboards(repo)
    if as_json:
        click.echo(
            json.dumps(
                [asdict(v) | {"leaderboard": scored.get(v.version)} for v in found], indent=2
            )
        )
        return
    if not found:
        click.echo("no published versions")
    for info in reversed(found):
        board = f"  scores: {scored[info.version]}" if info.version in scored else ""
        click.echo(f"{info.version}  {info.date or ''}  {info.commit[:12]}{board}")
        for line in (info.notes or "(no notes)").splitlines():
            click.echo(f"    {line}")


@click.command("publish-leaderboard", short_help="Publish a version's scores to the Hub.")
@click.argument("results_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", default=None, help=_REPO_HELP)
def publish_leaderboard(results_dir: Path, repo: str | None) -> None:
    """Publish the leaderboard in RESULTS_DIR (results.json, from `python -m baselines.run`).

    One commit on main with leaderboards/<version>.md and .json and the card showing them; no
    version tag is created or moved. The scores must come from the published bytes of that
    version (its manifest.json sha256), and every row must be consistent.
    """
    from baselines.publishable import check_counts, load_publishable
    from hrgldd_data.hub import publish_leaderboard as publish_board
    from hrgldd_data.hub import published_manifest

    results = load_publishable(results_dir)
    published = published_manifest(results.version, repo)
    if published.manifest["name"] != results.name:
        from hrgldd_data.errors import HubError

        raise HubError(
            f"{results_dir} holds scores of {results.name} {results.version}, but "
            f"{published.repo} publishes {published.manifest['name']}; pass the --repo of "
            f"{results.name}"
        )
    check_counts(results, published.manifest.get("counts") or {})
    result = publish_board(
        results.version,
        markdown=results.markdown,
        results=results.results,
        manifest_sha256=results.manifest_sha256,
        repo=repo,
    )
    click.echo(
        f"published the leaderboard of {result.repo} {result.version} on main "
        f"(commit {result.commit[:12]}, {result.uploaded} file(s) changed; tags untouched): "
        f"{result.url}"
    )
