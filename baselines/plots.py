"""Figures of a leaderboard, saved as PNG: radar charts per collection (like the paper's
Figure 7) and prediction panels (the release's bands in false or true colour, truth, each model;
like its Figure 8).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from baselines.leaderboard import Leaderboard  # noqa: E402
from baselines.metrics import trivial_f1  # noqa: E402
from hrgldd_data.archive import Release  # noqa: E402
from hrgldd_data.rendering import display_bands, stretch  # noqa: E402
from hrgldd_data.schema import COLLECTIONS  # noqa: E402

RADAR_METRICS = (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"), ("iou", "IoU"))
#: Legend label of the all-landslide floor on the radar charts.
FLOOR = "all landslide (floor)"


def all_landslide_scores(landslide_fraction: float) -> dict[str, float]:
    """P, R, F1 and IoU of predicting every pixel as landslide: the floor drawn on each radar."""
    return {
        "precision": landslide_fraction,
        "recall": 1.0 if landslide_fraction > 0 else 0.0,
        "f1": trivial_f1(landslide_fraction),
        "iou": landslide_fraction,
    }


def radar_charts(board: Leaderboard, folder: str | Path) -> list[Path]:
    """One PNG per collection: a radar of P, R, F1, IoU (pooled, mean over seeds) per test set,
    one line per entry, and a dashed line for predicting all-landslide on that test set (only
    patches with landslides are kept, so that floor is far from 0)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = board.entry_names()
    sums = {m: board.summary(m) for m, _ in RADAR_METRICS}
    truth = board.truth()
    colours = plt.get_cmap("tab10")
    angles = np.linspace(0, 2 * np.pi, len(RADAR_METRICS), endpoint=False)
    closed = np.concatenate([angles, angles[:1]])
    paths = []
    for collection in sorted({c for c, _ in board.test_sets()}):
        sets = [name for c, name in board.test_sets() if c == collection]
        cols = min(4, len(sets))
        rows = math.ceil(len(sets) / cols)
        fig, axes = plt.subplots(
            rows,
            cols,
            subplot_kw={"projection": "polar"},
            figsize=(max(3.4 * cols, 5.5), 3.8 * rows + 1.0),
            squeeze=False,
        )
        for ax in axes.flat[len(sets) :]:
            ax.remove()
        for ax, test_set in zip(axes.flat, sets, strict=False):
            for k, entry in enumerate(entries):
                values = [sums[m].get((entry, collection, test_set)) for m, _ in RADAR_METRICS]
                if any(v is None for v in values):
                    continue
                data = np.array([v[0] for v in values] + [values[0][0]])
                ax.plot(closed, data, color=colours(k % 10), linewidth=1.5, label=entry)
                ax.fill(closed, data, color=colours(k % 10), alpha=0.08)
            if (collection, test_set) in truth:
                floor = all_landslide_scores(truth[(collection, test_set)]["fraction"])
                data = np.array([floor[m] for m, _ in RADAR_METRICS] + [floor["precision"]])
                ax.plot(closed, data, color="black", linestyle="--", linewidth=1.0, label=FLOOR)
            ax.set_xticks(angles, [label for _, label in RADAR_METRICS], fontsize=8)
            ax.set_ylim(0, 1)
            ax.set_yticks([0.25, 0.5, 0.75], ["", "0.5", ""], fontsize=7)
            ax.set_title(test_set, fontsize=10, pad=12)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        ncol = min(len(labels), 6 if cols >= 3 else 3) or 1
        legend_rows = -(-len(labels) // ncol)
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
        release = board.release
        fig.suptitle(
            f"Collection {collection}: {COLLECTIONS.get(collection, '')}\n"
            f"{release['name']} {release['version']}"
            + (" (synthetic)" if release.get("synthetic") else ""),
            fontsize=10,
        )
        fig.tight_layout(rect=(0, 0.035 * legend_rows / rows + 0.03, 1, 1), h_pad=2.5)
        path = folder / f"radar_collection{collection}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


#: Colours of the prediction panels: hit (true positive), false alarm, missed landslide.
HIT, FALSE_ALARM, MISSED = (1.0, 1.0, 1.0), (0.95, 0.25, 0.2), (0.25, 0.55, 1.0)


def outcome_colours(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """RGB of a predicted mask against the truth: hits white, false alarms red, misses blue."""
    rgb = np.zeros((*pred.shape, 3), np.float32)
    rgb[pred & truth] = HIT
    rgb[pred & ~truth] = FALSE_ALARM
    rgb[~pred & truth] = MISSED
    return rgb


def pick_examples(release: Release, per_set: int = 1, limit: int = 10) -> np.ndarray:
    """Patches to show: the largest-landslide test patch of each site (collections 2 and 3),
    or of the mixed test split when the release has no sites."""
    sets = [t for t in release.test_sets() if t.collection in (2, 3)] or release.test_sets((1,))
    chosen = []
    for test_set in sets:
        masks = release.read(test_set.indices)[1]
        order = np.argsort(-masks.reshape(len(masks), -1).sum(1), kind="stable")
        chosen += [int(test_set.indices[i]) for i in order[:per_set]]
    return np.array(chosen[:limit], dtype=np.int64)


def prediction_panels(
    release: Release,
    indices: np.ndarray,
    predictions: dict[str, np.ndarray],
    path: str | Path,
    threshold: float = 0.5,
) -> Path:
    """A grid: one row per patch; false colour, truth, then each model's mask at ``threshold``.

    ``predictions[entry]`` holds probabilities ``(len(indices), H, W)`` in the order of ``indices``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images, masks = release.read(indices)
    names = list(predictions)
    cols = 2 + len(names)
    height = 1.9 * len(indices) + 0.6
    fig, axes = plt.subplots(len(indices), cols, figsize=(1.9 * cols, height), squeeze=False)
    shown, band_index = display_bands(release.bands)
    for r, index in enumerate(indices):
        truth = masks[r].astype(bool)
        panels = [
            stretch(images[r], band_index),
            np.repeat(truth[..., None], 3, -1).astype(np.float32),
        ]
        panels += [outcome_colours(predictions[n][r] > threshold, truth) for n in names]
        titles = [shown.split(" (")[0], "truth"] + names
        for c, (panel, title) in enumerate(zip(panels, titles, strict=True)):
            ax = axes[r, c]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
        axes[r, 0].set_ylabel(release.site_of(int(index)), fontsize=7)
    fig.suptitle(
        f"{release.name} {release.version}: test patches; predictions at {threshold}: "
        "white = landslide found, red = false alarm, blue = missed",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["outcome_colours", "pick_examples", "prediction_panels", "radar_charts"]
