"""``python -m baselines.run``: train and score the five baselines on a release; score submissions.

Examples::

    python -m baselines.run --quick                       # newest local release, or the sample
    python -m baselines.run --release data/releases/hr_gldd-1.0.0 --seeds 0,1,2
    python -m baselines.run --release 1.1.0               # a version pulled or on the Hub
    python -m baselines.run --models unet,res_unet --batch-size 8 --batch-size 16 --lr 1e-4
    python -m baselines.run --submission preds.npz --name my-model

Results go to ``<out>/<release name>-<version>/`` (see ``baselines.leaderboard``); runs are
resumable
from their checkpoints in ``runs/`` there. More than one batch size, learning rate or filter count
makes a grid: each model's combination is chosen on validation F1 (first seed), written to
``grid.csv``, and then trained for every seed.
"""

from __future__ import annotations

import csv
import itertools
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from hrgldd_data.archive import Release, open_archive
from hrgldd_data.errors import HrglddError, ReleaseNotFoundError
from hrgldd_data.resolve import LOCAL_RELEASES, resolve_release_arg

DEFAULT_OUT = Path("data/results")
#: The paper's search: batch 8-64, learning rate 5e-4 ... 1e-5, first-layer filters 8-64.
PAPER_GRID = {
    "batch_size": (8, 16, 32, 64),
    "lr": (5e-4, 1e-4, 5e-5, 1e-5),
    "filters": (8, 16, 32, 64),
}
#: ``--quick``: enough to show the pipeline end to end on a 2-core CPU in a few minutes.
QUICK = {"epochs": 4, "steps_per_epoch": 30, "filters": 8, "patience": 4}


def resolve_release(spec: str | None, *, name: str | None = None, progress: bool = True) -> Release:
    """The release ``--release`` means (:mod:`hrgldd_data.resolve`: a path, or a version found
    locally or pulled from the Hub); the embedded synthetic sample, built into ``data/releases``,
    only when nothing was asked for and no release is found at all."""
    try:
        path = resolve_release_arg(
            spec, name=name, download=spec is not None, name_option="--release-name"
        )
    except ReleaseNotFoundError:
        if spec is not None or name is not None:
            raise
        from builders.sample import ensure_sample_release

        click.echo(
            "No release found: building the embedded synthetic sample release into "
            f"{LOCAL_RELEASES}.",
            err=True,
        )
        path = ensure_sample_release(LOCAL_RELEASES, progress=progress)
    return open_archive(path)


def _split_list(text: str, cast, what: str) -> list:
    try:
        return [cast(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise click.BadParameter(f"{text!r}: expected a comma-separated list of {what}") from err


def _run_name(model: str, batch_size: int, lr: float, filters: int, seed: int) -> str:
    return f"{model}-b{batch_size}-lr{lr:g}-f{filters}-s{seed}"


def train_and_score(
    release: Release,
    folder: Path,
    *,
    models: list[str],
    seeds: list[int],
    grid: dict[str, list],
    epochs: int,
    patience: int,
    steps_per_epoch: int | None,
    device: str,
    precision: str = "auto",
    plots: bool,
    progress: bool,
) -> Any:
    """Train every model (grid on the first seed when given); put each seed's scores on board."""
    from baselines.evaluate import evaluate_model
    from baselines.leaderboard import Leaderboard
    from baselines.train import TrainConfig, train_model

    board = Leaderboard.open(folder, release)
    taken = [m for m in models if board.kind_of(m) == "submission"]
    if taken:
        raise click.ClickException(f"model name(s) {taken} are taken by submissions in {folder}")
    test_sets = release.test_sets()
    combos = list(itertools.product(grid["batch_size"], grid["lr"], grid["filters"]))
    grid_rows: list[dict[str, Any]] = []
    panel_probs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for model in models:

        def run(seed: int, combo: tuple[int, float, int], model: str = model):
            config = TrainConfig(
                model=model,
                seed=seed,
                epochs=epochs,
                batch_size=combo[0],
                lr=combo[1],
                filters=combo[2],
                patience=patience,
                steps_per_epoch=steps_per_epoch,
                device=device,
                precision=precision,
            )
            workdir = folder / "runs" / _run_name(model, *combo, seed)
            return config, train_model(release, config, workdir=workdir, progress=progress)

        chosen = combos[0]
        if len(combos) > 1:
            best_f1 = -1.0
            for combo in combos:
                _, result = run(seeds[0], combo)
                val_f1 = result.best_val.get("f1", 0.0)
                grid_rows.append(
                    {
                        "model": model,
                        "batch_size": combo[0],
                        "lr": combo[1],
                        "filters": combo[2],
                        "val_f1": val_f1,
                        "best_epoch": result.best_epoch,
                    }
                )
                if val_f1 > best_f1:
                    best_f1, chosen = val_f1, combo
            click.echo(
                f"{model}: grid chose batch {chosen[0]}, lr {chosen[1]:g}, filters {chosen[2]}",
                err=True,
            )
        for seed in seeds:
            cfg, result = run(seed, chosen)
            rows, indices, probs = evaluate_model(
                result.model, release, test_sets, device=result.device, progress=progress
            )
            info = {
                "epochs": result.epochs_run,
                "best_epoch": result.best_epoch,
                "train_seconds": round(result.seconds, 2),
                "filters": cfg.filters,
                "batch_size": cfg.batch_size,
                "lr": cfg.lr,
                "train_precision": result.config.precision,
                "device": result.device,
                "hardware": result.hardware,
            }
            board.set_baseline(model, seed, rows, info)
            board.save()  # after every run, so an interrupted sweep keeps what it finished
            c1 = next((r for r in rows if r["collection"] == 1), rows[0])
            click.echo(
                f"{model} seed {seed}: test F1 {100 * c1['f1']:.1f} % (pooled), "
                f"{100 * c1['pb_f1']:.1f} % (per-batch); best epoch "
                f"{result.best_epoch}/{result.epochs_run}, {result.seconds:.0f} s",
                err=True,
            )
            if model not in panel_probs:
                panel_probs[model] = (indices, probs)
    if grid_rows:
        with open(folder / "grid.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(grid_rows[0]))
            writer.writeheader()
            writer.writerows(grid_rows)
    if plots:
        _plots(release, board, folder, panel_probs)
    return board


def _plots(
    release: Release, board, folder: Path, panel_probs: dict[str, tuple[np.ndarray, np.ndarray]]
) -> list[Path]:
    from baselines.plots import pick_examples, prediction_panels, radar_charts

    paths = radar_charts(board, folder / "plots")
    if panel_probs:
        examples = pick_examples(release)
        predictions = {}
        for model, (indices, probs) in panel_probs.items():
            position = {int(i): n for n, i in enumerate(indices)}
            predictions[model] = probs[[position[int(i)] for i in examples]]
        paths.append(
            prediction_panels(release, examples, predictions, folder / "plots" / "predictions.png")
        )
    return paths


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--release",
    "release_spec",
    default=None,
    metavar="PATH|VERSION",
    help="Release directory, folder of releases (newest is used) or version X.Y.Z. "
    "Default: the newest release found (see hrgldd_data.resolve), else the embedded sample "
    f"release built into {LOCAL_RELEASES}.",
)
@click.option(
    "--release-name",
    default=None,
    help="Release name when several releases match (e.g. hr_gldd_sample).",
)
@click.option(
    "--models", default="all", show_default=True, help="Comma-separated model names, or 'all'."
)
@click.option(
    "--seeds",
    default=None,
    help="Comma-separated seeds (mean and 95 % interval over them). Default 0,1,2; --quick: 0.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help=f"Most epochs per run. Default 100; --quick: {QUICK['epochs']}.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=None,
    help="Early stopping: epochs without a better validation F1. Default 10.",
)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(min=1),
    default=None,
    help="Cap batches per epoch (default: the whole train split).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    multiple=True,
    help="Batch size; repeat for a grid. Default 4.",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    help="Adam learning rate; repeat for a grid. Default 1e-3.",
)
@click.option(
    "--filters",
    type=click.IntRange(min=1),
    multiple=True,
    help="First-layer filters; repeat for a grid. Default 16; --quick: 8.",
)
@click.option(
    "--paper-grid",
    is_flag=True,
    help="Search the paper's grid (batch 8-64, lr 5e-4..1e-5, filters 8-64).",
)
@click.option(
    "--quick", is_flag=True, help="Few short epochs, one seed, small models: CPU-friendly demo."
)
@click.option(
    "--device", default="auto", show_default=True, help="auto (CUDA if available), cpu or cuda[:n]."
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16-mixed"]),
    default="auto",
    show_default=True,
    help="Training numerics: bf16-mixed (bfloat16 autocast, channels-last) where the device "
    "computes "
    "bfloat16 natively, else fp32.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Results root; this release's leaderboard is <out>/<name>-<version>/.",
)
@click.option(
    "--submission",
    type=click.Path(path_type=Path),
    default=None,
    help="Score predictions (.npz or Zarr with 'ids' and 'masks', see baselines.submission) "
    "instead of training.",
)
@click.option("--name", default=None, help="Leaderboard name of the --submission.")
@click.option(
    "--list-test-ids",
    is_flag=True,
    help="Print the patch ids a submission must cover, one per line, and exit.",
)
@click.option(
    "--plots/--no-plots",
    default=True,
    show_default=True,
    help="Write radar charts and prediction panels.",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show progress bars."
)
def main(
    release_spec,
    release_name,
    models,
    seeds,
    epochs,
    patience,
    steps_per_epoch,
    batch_size,
    lr,
    filters,
    paper_grid,
    quick,
    device,
    precision,
    out,
    submission,
    name,
    list_test_ids,
    plots,
    progress,
) -> None:
    """Train and score the HR-GLDD baselines, or score a submission, and update the leaderboard."""
    try:
        _main(
            release_spec,
            release_name,
            models,
            seeds,
            epochs,
            patience,
            steps_per_epoch,
            batch_size,
            lr,
            filters,
            paper_grid,
            quick,
            device,
            precision,
            out,
            submission,
            name,
            list_test_ids,
            plots,
            progress,
        )
    except HrglddError as err:
        raise click.ClickException(str(err)) from err


def _main(
    release_spec,
    release_name,
    models,
    seeds,
    epochs,
    patience,
    steps_per_epoch,
    batch_size,
    lr,
    filters,
    paper_grid,
    quick,
    device,
    precision,
    out,
    submission,
    name,
    list_test_ids,
    plots,
    progress,
) -> None:
    from baselines.leaderboard import LeaderboardError
    from baselines.models import MODEL_NAMES

    release = resolve_release(release_spec, name=release_name, progress=progress)
    folder = out / f"{release.name}-{release.version}"
    if release.legacy:
        click.echo(
            f"{release.name} {release.version} is a legacy import: no sites, so collection 1 only.",
            err=True,
        )

    if list_test_ids:
        from baselines.submission import expected_ids

        click.echo("\n".join(expected_ids(release)[1]))
        return
    if submission is not None or name is not None:
        from baselines.submission import SubmissionError, score_submission

        if submission is None or name is None:
            raise click.UsageError("--submission and --name go together")
        try:
            board, _ = score_submission(release, folder, submission, name)
        except (SubmissionError, LeaderboardError) as err:
            raise click.ClickException(str(err)) from err
        if plots:
            _plots(release, board, folder, {})
    else:
        chosen = (
            list(MODEL_NAMES)
            if models.strip() == "all"
            else _split_list(models, str, "model names")
        )
        unknown = [m for m in chosen if m not in MODEL_NAMES]
        if unknown:
            raise click.BadParameter(
                f"unknown model(s) {unknown}; choose from {', '.join(MODEL_NAMES)} or 'all'",
                param_hint="--models",
            )
        grid = {
            "batch_size": list(batch_size) or ([*PAPER_GRID["batch_size"]] if paper_grid else [4]),
            "lr": list(lr) or ([*PAPER_GRID["lr"]] if paper_grid else [1e-3]),
            "filters": list(filters)
            or ([*PAPER_GRID["filters"]] if paper_grid else [QUICK["filters"] if quick else 16]),
        }
        seed_list = _split_list(seeds, int, "integers") if seeds else ([0] if quick else [0, 1, 2])
        if not seed_list:
            raise click.BadParameter("give at least one seed", param_hint="--seeds")
        start = time.perf_counter()
        try:
            board = train_and_score(
                release,
                folder,
                models=chosen,
                seeds=seed_list,
                grid=grid,
                epochs=epochs or (QUICK["epochs"] if quick else 100),
                patience=patience or (QUICK["patience"] if quick else 10),
                steps_per_epoch=steps_per_epoch or (QUICK["steps_per_epoch"] if quick else None),
                device=device,
                precision=precision,
                plots=plots,
                progress=progress,
            )
        except (LeaderboardError, ValueError) as err:
            raise click.ClickException(str(err)) from err
        click.echo(
            f"Trained and scored {len(chosen)} model(s) x {len(seed_list)} seed(s) in "
            f"{time.perf_counter() - start:.0f} s.",
            err=True,
        )
    click.echo(board.markdown())
    click.echo(f"Results: {folder}", err=True)


if __name__ == "__main__":
    main(prog_name="python -m baselines.run")
