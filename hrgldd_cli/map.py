"""Rapid mapping commands: ``hrgldd map`` (scenes -> landslide maps), ``hrgldd publish-model``."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command(short_help="Map landslides in post-event scenes with a trained model.")
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    required=True,
    help="A trained run folder (model.safetensors + config.json) or a Hub model "
    "ORG/NAME[@revision] (pulled, verified, cached; offline once pulled).",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Output folder (created)."
)
@click.option(
    "--bands",
    default="auto",
    show_default=True,
    help="Which raster band is which model band: auto (band descriptions, else PlanetScope "
    "order) or name=index pairs, e.g. red=3,green=2,blue=1,nir=4.",
)
@click.option(
    "--scale",
    type=float,
    default=None,
    help="Multiply scene values by this to reach the model's units (default: detect float "
    "reflectance in 0-1 and take integers as delivered).",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Landslide where the probability is above this, in (0, 1) (default: the model's, 0.5).",
)
@click.option(
    "--stride",
    type=int,
    default=64,
    show_default=True,
    help="Pixels between 128-px windows (128: no overlap).",
)
@click.option("--batch-size", type=int, default=32, show_default=True, help="Windows per pass.")
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="cpu, cuda, cuda:N or auto (CUDA when visible).",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16-mixed"]),
    default="auto",
    show_default=True,
    help="auto: bfloat16 only where the device computes it natively.",
)
@click.option("--min-area", type=float, default=0.0, help="Leave out polygons below this (m²).")
@click.option(
    "--simplify", type=float, default=0.0, help="Simplify polygons by this tolerance (m)."
)
@click.option(
    "--inventory",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference inventory (any OGR vector) to score the map against.",
)
@click.option("--inventory-layer", default=None, help="Layer of the inventory file.")
@click.option(
    "--match",
    default="iou=0.5",
    show_default=True,
    help="Object matching rule: iou=T or fraction=T (overlap / smaller polygon's area).",
)
@click.option("--name", default="mosaic", show_default=True, help="Name of the mosaic outputs.")
@click.option("--overwrite", is_flag=True, help="Replace outputs already in --out.")
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler: threads (default), processes, synchronous, or a dask.distributed "
    "address (workers must see the scenes, the model folder and --out).",
)
@click.option("--workers", type=int, default=None, help="Local Dask workers (default: cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def map_cmd(
    scenes: tuple[Path, ...],
    model: str,
    out: Path,
    bands: str,
    scale: float | None,
    threshold: float | None,
    stride: int,
    batch_size: int,
    device: str,
    precision: str,
    min_area: float,
    simplify: float,
    inventory: Path | None,
    inventory_layer: str | None,
    match: str,
    name: str,
    overwrite: bool,
    scheduler: str | None,
    workers: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Map the landslides of SCENES (one event; several are mosaicked) into --out.

    Writes, per scene and for the mosaic: a probability COG and a mask COG on the input grid, and
    the landslide polygons (GeoPackage); then summary.json and summary.md (written last).
    """
    from mapping import map_scenes

    result = map_scenes(
        list(scenes),
        model,
        out,
        bands=bands,
        scale=scale,
        threshold=threshold,
        stride=stride,
        batch_size=batch_size,
        device=device,
        precision=precision,
        min_area_m2=min_area,
        simplify_m=simplify,
        inventory=inventory,
        inventory_layer=inventory_layer,
        match=match,
        name=name,
        overwrite=overwrite,
        scheduler=scheduler,
        workers=workers,
        progress=not quiet,
    )
    summary = result.summary
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(
        f"mapped {summary['area_mapped_km2']:.2f} km²: {summary['landslides']} landslide(s), "
        f"{summary['landslide_area_km2']:.4f} km² in {summary['seconds']:.1f} s -> {out}"
    )
    if summary["scores"]:
        pixel, objects = summary["scores"]["pixel"], summary["scores"]["object"]
        click.echo(
            f"pixel F1 {pixel['f1']:.3f} (all-landslide {pixel['all_landslide_f1']:.3f}), "
            f"IoU {pixel['iou']:.3f}; object F1 {objects['f1']:.3f}"
        )


@click.command(short_help="Publish a trained run to a Hugging Face model repo.")
@click.argument("run", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", required=True, help="Model repo ORG/NAME on the Hub.")
@click.option("--tag", default=None, help="Also tag the commit (e.g. v1); tags never move.")
@click.option("--private", is_flag=True, help="Create the repo as private if it does not exist.")
@click.option("--message", default=None, help="Commit message.")
def publish_model(
    run: Path, repo: str, tag: str | None, private: bool, message: str | None
) -> None:
    """Upload the trained RUN folder (weights, config, checksums, model card) to --repo.

    The weights are loaded first, so a folder that cannot be mapped with is never published.
    Pull it back with `hrgldd map SCENE --model ORG/NAME[@tag]`.
    """
    from hrgldd_data.hub.models import publish_model as publish
    from mapping.model import load_folder

    load_folder(run)
    result = publish(run, repo, tag=tag, private=private, message=message)
    click.echo(
        f"published {run} to {result.repo} (commit {result.commit[:12]}"
        f"{', tag ' + result.tag if result.tag else ''}, {result.uploaded} file(s) uploaded): "
        f"{result.url}"
    )
