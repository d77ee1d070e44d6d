"""``python -m baselines.run``: train and score the five baselines on a release; score submissions.

Examples::

    python -m baselines.run --quick                       # newest local release, or the sample
    python -m baselines.run --release data/releases/hr_gldd-1.0.0 --seeds 0,1,2
    python -m baselines.run --release 1.1.0               # a version pulled or on the Hub
    python -m baselines.run --models unet,res_unet --batch-size 8 --batch-size 16 --lr 1e-4
    python -m baselines.run --submission preds.npz --name my-model

Results go to ``<out>/<release name>-<version>/`` (see ``baselines.leaderboard``); runs are
resumable from their checkpoints in ``runs/`` there. Training defaults come from one place,
:class:`baselines.train.TrainConfig` (``--config default``) and its named configurations
(``--config paper``: the paper's Keras setup). More than one batch size, learning rate or filter
count makes a grid: each model's combination is chosen on validation F1 (first seed), written to
``grid.csv``, and then trained for every seed. ``--protocol leave-one-event-out`` holds out each
dataset event in turn instead of scoring collections 1-3.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from baselines.leaderboard import COLLECTIONS_PROTOCOL, LOEO, PROTOCOLS
from baselines.train import CONFIGS, DEFAULT_SEEDS, PAPER, QUICK, TrainConfig, config_default
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


def entry_name(model: str, config: str) -> str:
    """Leaderboard name of a baseline: the model for ``default``, else ``<model>-<config>``."""
    return model if config == "default" else f"{model}-{config}"


def run_name(config: TrainConfig) -> str:
    """Folder of a run under ``runs/``: model, configuration, batch, lr, filters, seed, and a
    digest of any other value that differs from the named configuration."""
    name = (
        f"{config.model}-{config.config}-b{config.batch_size}-lr{config.lr:g}"
        f"-f{config.filters}-s{config.seed}"
    )
    changed = config.differs_from_named()
    if changed:
        values = json.dumps({k: getattr(config, k) for k in changed}, sort_keys=True)
        name += "-" + hashlib.sha256(values.encode()).hexdigest()[:8]
    return name


def _describe(rows: list[dict[str, Any]], entry: str, seed: int) -> str:
    first = next((r for r in rows if r["collection"] == 1), rows[0])
    where = f"c{first['collection']}/{first['test_set']}" if first["collection"] else "held out"
    margin = 100 * (first["f1"] - first["trivial_f1"])
    return (
        f"{entry} seed {seed}: {where} F1 {100 * first['f1']:.1f} % [{100 * first['f1_low']:.1f}"
        f"–{100 * first['f1_high']:.1f}] (all-landslide {100 * first['trivial_f1']:.1f} %, "
        f"margin {margin:+.1f}), AUROC {first['auroc']:.3f}, AUPRC {first['auprc']:.3f}, "
        f"per-batch F1 {100 * first['pb_f1']:.1f} %"
    )


def warn_collapsed(rows: list[dict[str, Any]], entry: str, seed: int | None) -> bool:
    """Say loudly on stderr where a prediction collapsed to a constant; True if any did."""
    from baselines.metrics import collapse

    bad = [r for r in rows if r.get("collapsed")]
    for row in bad:
        where = f"c{row['collection']}/{row['test_set']}" if row["collection"] else row["test_set"]
        seed_text = "" if seed is None else f" seed {seed}"
        click.secho(
            f"COLLAPSED: {entry}{seed_text} on {where}: {collapse(row) or 'constant prediction'}. "
            f"Its F1 {100 * row['f1']:.1f} % (all-landslide {100 * row['trivial_f1']:.1f} %, "
            f"AUROC {row['auroc']:.3f}) is not a model's score; flagged in results.json and the "
            "leaderboard.",
            fg="red",
            bold=True,
            err=True,
        )
    return bool(bad)


def train_and_score(
    release: Release,
    folder: Path,
    *,
    models: list[str],
    seeds: list[int],
    grid: dict[str, list],
    base: TrainConfig,
    protocol: str = COLLECTIONS_PROTOCOL,
    plots: bool,
    progress: bool,
) -> Any:
    """Train every model (grid on the first seed when given); put each seed's scores on board.

    ``base`` holds every training value but the model, seed and grid values (``--config`` with
    the options given). ``protocol``: the paper's collections, or leave-one-event-out.
    """
    from baselines.data import ReleaseData
    from baselines.evaluate import evaluate_model, predict, score_test_sets, scored_indices
    from baselines.leaderboard import Leaderboard
    from baselines.train import train_model
    from hrgldd_data.schema import TestSet

    board = Leaderboard.open(folder, release)
    entries = {m: entry_name(m, base.config) for m in models}
    taken = [e for e in entries.values() if board.kind_of(e) == "submission"]
    if taken:
        raise click.ClickException(f"model name(s) {taken} are taken by submissions in {folder}")
    if protocol == LOEO:
        events = release.dataset_sites
        if len(events) < 2:
            raise click.UsageError(
                f"--protocol {LOEO} holds out one dataset event at a time and trains on the "
                f"others: {release.name} {release.version} has {len(events)} dataset event(s) "
                f"({', '.join(events) or 'none'}); use --protocol {COLLECTIONS_PROTOCOL}"
            )
        folds = [(event, [e for e in events if e != event]) for event in events]
    else:
        folds = [(None, None)]
    data = ReleaseData(release, base.normalization)
    combos = list(itertools.product(grid["batch_size"], grid["lr"], grid["filters"]))
    grid_rows: list[dict[str, Any]] = []
    panel_probs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    collapsed_runs = 0
    for model in models:
        entry = entries[model]

        def run(seed: int, combo: tuple[int, float, int], fold, model: str = model):
            held_out, sites = fold
            config = replace(
                base, model=model, seed=seed, batch_size=combo[0], lr=combo[1], filters=combo[2]
            )
            runs = folder / "runs" if held_out is None else folder / "runs" / f"loeo-{held_out}"
            result = train_model(
                data, config, sites=sites, workdir=runs / run_name(config), progress=progress
            )
            return config, result

        chosen = combos[0]
        if len(combos) > 1:
            best_f1 = -1.0
            for combo in combos:
                _, result = run(seeds[0], combo, folds[0])
                val_f1 = result.best_val.get("f1", 0.0)
                grid_rows.append(
                    {
                        "model": model,
                        "config": base.config,
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
            rows: list[dict[str, Any]] = []
            facts: dict[str, Any] = {}
            for fold in folds:
                cfg, result = run(seed, chosen, fold)
                held_out = fold[0]
                if held_out is None:
                    fold_rows, indices, probs = evaluate_model(
                        result.model, data, device=result.device, progress=progress
                    )
                    if model not in panel_probs:
                        panel_probs[model] = (indices, probs)
                else:
                    event = release.indices(site=held_out)
                    test_set = TestSet(0, held_out, event)
                    indices = scored_indices([test_set])
                    probs = predict(result.model, data, indices, device=result.device)
                    fold_rows = score_test_sets(
                        release, [test_set], indices, probs, masks=data.masks(indices)
                    )
                    for row in fold_rows:
                        row["collection"] = None
                rows += fold_rows
                facts.setdefault("epochs", []).append(result.epochs_run)
                facts.setdefault("best_epoch", []).append(result.best_epoch)
                facts.setdefault("seconds", []).append(result.seconds)
                facts["device"], facts["hardware"] = result.device, result.hardware
                facts["precision"] = result.config.precision
                click.echo(
                    _describe(fold_rows, entry, seed)
                    + f"; best epoch {result.best_epoch}/{result.epochs_run}, "
                    f"{result.seconds:.0f} s",
                    err=True,
                )
            info = {
                "config": cfg.config,
                "protocol": protocol,
                "epochs": max(facts["epochs"]),
                "best_epoch": max(facts["best_epoch"]),
                "train_seconds": round(sum(facts["seconds"]), 2),
                "filters": cfg.filters,
                "batch_size": cfg.batch_size,
                "lr": cfg.lr,
                "loss": cfg.loss,
                "normalization": cfg.normalization,
                "train_precision": facts["precision"],
                "device": facts["device"],
                "hardware": facts["hardware"],
            }
            board.set_baseline(entry, seed, rows, info, model=model)
            board.save()  # after every run, so an interrupted sweep keeps what it finished
            collapsed_runs += warn_collapsed(rows, entry, seed)
    if grid_rows:
        with open(folder / "grid.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(grid_rows[0]))
            writer.writeheader()
            writer.writerows(grid_rows)
    if plots and protocol == COLLECTIONS_PROTOCOL:
        _plots(release, board, folder, {entries[m]: v for m, v in panel_probs.items()})
    if collapsed_runs:
        click.secho(
            f"WARNING: {collapsed_runs} run(s) collapsed to a constant prediction (see above and "
            "the leaderboard); their scores say nothing about the architecture.",
            fg="red",
            bold=True,
            err=True,
        )
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


def _defaults(name: str) -> str:
    """``default X (paper: Y)`` of one TrainConfig field across the named configurations."""
    values = {config: config_default(config, name) for config in CONFIGS}
    first = values.pop("default")
    others = ", ".join(
        f"--config {config}: {value}" for config, value in values.items() if value != first
    )
    return f"Default {first}" + (f" ({others})" if others else "")


def _field_choices(name: str) -> list[str]:
    from baselines.losses import LOSSES
    from hrgldd_data.transforms import METHODS

    return list({"loss": LOSSES, "normalization": METHODS}[name])


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
    "--config",
    "config_name",
    type=click.Choice(list(CONFIGS)),
    default="default",
    show_default=True,
    help="Named training configuration (baselines.train.CONFIGS): 'default' learns on real "
    "imagery; 'paper' is the paper's Keras setup ("
    + ", ".join(
        f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
        for key, value in PAPER.items()
    )
    + "), used for the comparison with its Table 2. Options below override either.",
)
@click.option(
    "--protocol",
    type=click.Choice(list(PROTOCOLS)),
    default=COLLECTIONS_PROTOCOL,
    show_default=True,
    help="'collections': score the paper's collections 1-3. 'leave-one-event-out': for each "
    "dataset event, train on the others and score every patch of the held-out one.",
)
@click.option(
    "--seeds",
    default=None,
    help="Comma-separated seeds (mean and 95 % interval over them). Default "
    f"{','.join(map(str, DEFAULT_SEEDS))}; --quick: {','.join(map(str, QUICK['seeds']))}.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help=f"Most epochs per run. {_defaults('epochs')}; --quick: {QUICK['epochs']}.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=None,
    help="Early stopping: epochs without a better validation F1. "
    f"{_defaults('patience')}; --quick: {QUICK['patience']}.",
)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(min=1),
    default=None,
    help="Cap batches per epoch (default: the whole train split; --quick: "
    f"{QUICK['steps_per_epoch']}).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    multiple=True,
    help=f"Batch size; repeat for a grid. {_defaults('batch_size')}.",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    help=f"Adam learning rate; repeat for a grid. {_defaults('lr')}.",
)
@click.option(
    "--filters",
    type=click.IntRange(min=1),
    multiple=True,
    help=f"First-layer filters; repeat for a grid. {_defaults('filters')}; --quick: "
    f"{QUICK['filters']}.",
)
@click.option(
    "--loss",
    type=click.Choice(_field_choices("loss")),
    default=None,
    help=f"Training loss (baselines.losses). {_defaults('loss')}.",
)
@click.option(
    "--normalization",
    type=click.Choice(_field_choices("normalization")),
    default=None,
    help=f"Band normalization (hrgldd_data.transforms). {_defaults('normalization')}.",
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
    "--device",
    default=config_default("default", "device"),
    show_default=True,
    help="auto (CUDA if available), cpu or cuda[:n].",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16-mixed"]),
    default=config_default("default", "precision"),
    show_default=True,
    help="Training numerics: bf16-mixed (bfloat16 autocast, channels-last) where the device "
    "computes bfloat16 natively, else fp32.",
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
def main(**options: Any) -> None:
    """Train and score the HR-GLDD baselines, or score a submission, and update the leaderboard."""
    try:
        _main(**options)
    except HrglddError as err:
        raise click.ClickException(str(err)) from err


def _main(
    release_spec,
    release_name,
    models,
    config_name,
    protocol,
    seeds,
    epochs,
    patience,
    steps_per_epoch,
    batch_size,
    lr,
    filters,
    loss,
    normalization,
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
    from baselines.train import named_config

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
            board, rows = score_submission(release, folder, submission, name)
        except (SubmissionError, LeaderboardError) as err:
            raise click.ClickException(str(err)) from err
        warn_collapsed(rows, name, None)
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
        overrides: dict[str, Any] = {"device": device, "precision": precision}
        given = {
            "epochs": epochs,
            "patience": patience,
            "steps_per_epoch": steps_per_epoch,
            "loss": loss,
            "normalization": normalization,
        }
        if quick:
            overrides |= {k: v for k, v in QUICK.items() if k in given}
        overrides |= {k: v for k, v in given.items() if v is not None}
        base = named_config(config_name, MODEL_NAMES[0], **overrides)
        quick_filters = [QUICK["filters"]] if quick else [base.filters]
        grid = {
            "batch_size": list(batch_size)
            or ([*PAPER_GRID["batch_size"]] if paper_grid else [base.batch_size]),
            "lr": list(lr) or ([*PAPER_GRID["lr"]] if paper_grid else [base.lr]),
            "filters": list(filters) or ([*PAPER_GRID["filters"]] if paper_grid else quick_filters),
        }
        default_seeds = QUICK["seeds"] if quick else DEFAULT_SEEDS
        seed_list = _split_list(seeds, int, "integers") if seeds else list(default_seeds)
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
                base=base,
                protocol=protocol,
                plots=plots,
                progress=progress,
            )
        except (LeaderboardError, ValueError) as err:
            raise click.ClickException(str(err)) from err
        click.echo(
            f"Trained and scored {len(chosen)} model(s) x {len(seed_list)} seed(s) "
            f"({config_name} configuration, {protocol}) in {time.perf_counter() - start:.0f} s.",
            err=True,
        )
    click.echo(board.markdown())
    click.echo(f"Results: {folder}", err=True)


__all__ = ["PAPER_GRID", "entry_name", "main", "resolve_release", "run_name", "train_and_score"]


if __name__ == "__main__":
    main(prog_name="python -m baselines.run")
