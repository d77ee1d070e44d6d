"""Do the five baselines learn on real imagery with the default training configuration?

Trains every baseline on the real patch sets of ``../shared/realdata`` (Landslide4Sense RGB
renderings and MMLSv2 Mars, imported with the README's own ``hrgldd import-patches`` commands
into ``--releases`` when not there yet) with ``baselines.run``'s own code path and the
``default`` configuration (``--config paper`` for the paper's Keras setup), and reports on each
held-out test split: F1, the F1 of predicting all-landslide and the margin over it, AUROC,
AUPRC, epochs (best), training and wall time. The goals (issue 8): every model beats the trivial
F1 by at least 30 points on Landslide4Sense and 15 on MMLSv2, with pixel AUROC >= 0.85.

    python -m benchmarks.learning                                   # both sets, all five models
    python -m benchmarks.learning --sets mmlsv2_mars --models unet --epochs 10
    python -m benchmarks.learning --device cuda --epochs 100        # on a GPU: no epoch cap

``--epochs`` caps the default's 100 epochs (early stopping after ``patience`` epochs without a
better validation F1 still applies): on a shared 2-core CPU a U-Net epoch over the 1,385
Landslide4Sense training patches takes minutes. One torch thread by default (on a shared machine
two threads spun 3-5x slower per step than one); ``--threads N`` on dedicated cores.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"
#: Issue 8's goals per set: least F1 margin over all-landslide (points) and least AUROC.
GOALS: dict[str, tuple[float, float]] = {
    "landslide4sense_rgb": (30.0, 0.85),
    "mmlsv2_mars": (15.0, 0.85),
}
#: Epoch cap per set on a CPU (the default configuration's own limit is 100 epochs).
CPU_EPOCHS: dict[str, int] = {"landslide4sense_rgb": 4, "mmlsv2_mars": 12}


def readme_import(name: str) -> list[str]:
    """Arguments of the README's ``hrgldd import-patches ... --name NAME`` command."""
    text = README.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("hrgldd import-patches") and f"--name {name} " in line:
            return shlex.split(line)[1:]
    raise click.ClickException(f"{README} has no `hrgldd import-patches ... --name {name}`")


def ensure_release(name: str, releases: Path, shared: Path = SHARED, source: Path | None = None):
    """The release ``name`` 1.0.0 in ``releases``, imported with the README's command if absent.

    ``source``: import this folder instead of the README's (e.g. a subset with the same layout).
    """
    from click.testing import CliRunner

    from hrgldd_cli import cli
    from hrgldd_data.archive import open_archive

    path = releases / f"{name}-1.0.0"
    if not path.is_dir():
        args = [
            str(shared / arg.removeprefix("../shared/")) if arg.startswith("../shared/") else arg
            for arg in readme_import(name)
        ]
        if source is not None:
            args[args.index("import-patches") + 1] = str(source)
        args[args.index("--out") + 1] = str(releases)
        result = CliRunner().invoke(cli, args)
        if result.exit_code != 0:
            raise click.ClickException(f"importing {name} failed:\n{result.output}")
    return open_archive(path)


@dataclass
class Outcome:
    """One model on one set: its collection-1 (held-out test split) row and the times."""

    release: str
    model: str
    config: str
    f1: float
    trivial_f1: float
    auroc: float
    auprc: float
    collapsed: bool
    epochs: int
    best_epoch: int
    train_seconds: float
    wall_seconds: float

    @property
    def margin(self) -> float:
        """F1 points above predicting all-landslide."""
        return 100 * (self.f1 - self.trivial_f1)

    def meets(self) -> bool:
        margin, auroc = GOALS.get(self.release, (0.0, 0.0))
        return self.margin >= margin and self.auroc >= auroc and not self.collapsed


def measure(
    release_names: list[str],
    models: list[str],
    *,
    releases: Path,
    out: Path,
    config: str = "default",
    epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
) -> list[Outcome]:
    """Train and score each model on each set (``baselines.run.train_and_score``), one seed."""
    from baselines.run import entry_name, train_and_score
    from baselines.train import named_config

    outcomes = []
    for name in release_names:
        release = ensure_release(name, releases)
        cap = epochs or CPU_EPOCHS.get(name, 100)
        for model in models:
            base = named_config(config, model, epochs=cap, device=device)
            start = time.perf_counter()
            board = train_and_score(
                release,
                out / f"{release.name}-{release.version}",
                models=[model],
                seeds=[seed],
                grid={"batch_size": [base.batch_size], "lr": [base.lr], "filters": [base.filters]},
                base=base,
                plots=False,
                progress=progress,
            )
            wall = time.perf_counter() - start
            entry = entry_name(model, config)
            row = next(
                r
                for r in board.rows
                if r["entry"] == entry and r["seed"] == seed and r["collection"] == 1
            )
            outcomes.append(
                Outcome(
                    release=name,
                    model=model,
                    config=config,
                    f1=row["f1"],
                    trivial_f1=row["trivial_f1"],
                    auroc=row["auroc"],
                    auprc=row["auprc"],
                    collapsed=bool(row["collapsed"]),
                    epochs=row["epochs"],
                    best_epoch=row["best_epoch"],
                    train_seconds=row["train_seconds"],
                    wall_seconds=round(wall, 1),
                )
            )
            click.echo(table([outcomes[-1]], header=False), err=True)
    return outcomes


def table(outcomes: list[Outcome], header: bool = True) -> str:
    """Markdown table of the outcomes, one row per model and set."""
    lines = []
    if header:
        lines = [
            "| set | model | config | F1 | all-landslide F1 | margin | AUROC | AUPRC | "
            "epochs (best) | train time | wall time | goal |",
            "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
        ]
    for o in outcomes:
        goal = GOALS.get(o.release)
        verdict = "collapsed" if o.collapsed else ("met" if o.meets() else "missed")
        lines.append(
            f"| {o.release} | {o.model} | {o.config} | {100 * o.f1:.1f} | "
            f"{100 * o.trivial_f1:.1f} | {o.margin:+.1f} | {o.auroc:.3f} | {o.auprc:.3f} | "
            f"{o.epochs} ({o.best_epoch}) | {o.train_seconds / 60:.1f} min | "
            f"{o.wall_seconds / 60:.1f} min | "
            + (f"{verdict} (margin >= {goal[0]:g}, AUROC >= {goal[1]:g})" if goal else "-")
            + " |"
        )
    return "\n".join(lines)


@click.command()
@click.option(
    "--sets",
    default=",".join(GOALS),
    show_default=True,
    help="Comma-separated real sets (release names of the README's import commands).",
)
@click.option("--models", default="all", show_default=True, help="Comma-separated, or 'all'.")
@click.option(
    "--config",
    "config_name",
    default="default",
    show_default=True,
    help="Named training configuration (baselines.train.CONFIGS).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epoch cap for every set (default per set: "
    + ", ".join(f"{k} {v}" for k, v in CPU_EPOCHS.items())
    + ").",
)
@click.option("--seed", default=0, show_default=True, help="Training seed.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:n].")
@click.option("--threads", default=1, show_default=True, help="torch CPU threads.")
@click.option(
    "--releases",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("data/releases"),
    show_default=True,
    help="Where the real releases are, or are imported to.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("data/results/learning"),
    show_default=True,
    help="Leaderboard folders and runs (resumable: a finished run is loaded, not retrained).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@click.option("--progress/--no-progress", default=False, show_default=True)
def main(
    sets: str,
    models: str,
    config_name: str,
    epochs: int | None,
    seed: int,
    device: str,
    threads: int,
    releases: Path,
    out: Path,
    as_json: bool,
    progress: bool,
) -> None:
    """The five baselines on the real sets with the default configuration, against the goals."""
    import torch

    from baselines.models import MODEL_NAMES

    if not SHARED.is_dir():
        raise click.ClickException(f"{SHARED} is absent: the real sets live there")
    torch.set_num_threads(threads)
    chosen = list(MODEL_NAMES) if models == "all" else models.split(",")
    names = [s for s in sets.split(",") if s]
    outcomes = measure(
        names,
        chosen,
        releases=releases,
        out=out,
        config=config_name,
        epochs=epochs,
        seed=seed,
        device=device,
        progress=progress,
    )
    if as_json:
        rows: list[dict[str, Any]] = [o.__dict__ | {"margin": o.margin} for o in outcomes]
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(table(outcomes))
    missed = [f"{o.model} on {o.release}" for o in outcomes if not o.meets()]
    click.echo("All goals met." if not missed else f"Goal missed: {', '.join(missed)}.")
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
