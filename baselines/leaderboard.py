"""The leaderboard of one release: result rows on disk, summaries over seeds, Markdown tables.

A leaderboard lives in its own folder (default ``data/results/<name>-<version>/``)::

    results.json    release, entries (baselines and submissions) and one row per
                    entry x seed x test set
    results.csv     the same rows, one per line (``COLUMNS``)
    leaderboard.md  the tables a person reads; also copied into the release card when it has one
    plots/          radar charts and prediction panels (see ``baselines.plots``)

Scores are fractions in the files and percentages in the Markdown. Every comparison with the
paper's Table 2 says how the two differ: the paper averages per batch and selected weights on the
test set; our primary score pools pixels over the test set and we select weights on validation.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hrgldd_data.archive import Release
from hrgldd_data.errors import HrglddError
from hrgldd_data.fileio import atomic_write

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
LEADERBOARD_MD = "leaderboard.md"
#: The paper's Table 2 (F1 %), copied with its source in the header.
PAPER_TABLE2 = Path(__file__).with_name("paper_table2.csv")

COLUMNS = (
    "release_name",
    "release_version",
    "entry",
    "kind",
    "seed",
    "collection",
    "test_set",
    "n_patches",
    "precision",
    "recall",
    "f1",
    "iou",
    "pb_precision",
    "pb_recall",
    "pb_f1",
    "pb_iou",
    "tp",
    "fp",
    "fn",
    "tn",
    "epochs",
    "best_epoch",
    "train_seconds",
    "filters",
    "batch_size",
    "lr",
    "train_precision",
    "device",
    "hardware",
    "created",
)

#: Test-set names of the paper's Table 2 -> site ids of the releases built from the paper's events.
PAPER_TEST_SETS: dict[str, str] = {
    "hrgldd_test": "test",
    "india": "kodagu_2018",
    "brazil": "rolante_2017",
    "nepal": "rasuwa_2017",
    "japan": "hokkaido_2018",
    "china2017": "wenchuan_2017",
    "china2018": "wenchuan_2018",
    "china2019": "longchuan_2019",
    "myanmar": "hpa_an_2018",
    "indonesia": "sumatra_2022",
    "haiti": "haiti_2021",
}

COMPARISON_NOTE = (
    "The paper's numbers are per-batch averages with weights selected on the **test** set (its "
    "released notebook); ours are selected on the **validation** set. The column compared is our "
    "per-batch F1 (batches of 32); our primary, pooled F1 is in the table above."
)


class LeaderboardError(HrglddError, ValueError):
    """A leaderboard change was refused; nothing was written."""


def paper_table2() -> dict[tuple[int, str], dict[str, float]]:
    """The paper's Table 2 (F1 %) keyed by ``(collection, test set)`` in our names (site ids)."""
    text = PAPER_TABLE2.read_text()
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    table = {}
    for row in rows:
        key = (int(row.pop("collection")), PAPER_TEST_SETS[row.pop("test_set")])
        table[key] = {model: float(value) for model, value in row.items()}
    return table


def paper_comparable(release_meta: dict[str, Any]) -> bool:
    """True for a release of the paper's events (or a legacy import of its published arrays)."""
    if release_meta.get("legacy"):
        return True
    paper_sites = set(PAPER_TEST_SETS.values()) - {"test"}
    return bool(release_meta.get("sites")) and set(release_meta["sites"]) <= paper_sites


def release_meta(release: Release) -> dict[str, Any]:
    """What a leaderboard records about its release."""
    return {
        "name": release.name,
        "version": release.version,
        "sites": release.sites,
        "synthetic": bool(release.attrs.get("synthetic", False)),
        "legacy": release.legacy,
        "collections": sorted({t.collection for t in release.test_sets()}),
        # which bytes were scored: `hrgldd publish-leaderboard` compares it with the Hub's tag
        "manifest_sha256": release.manifest_sha256,
    }


def t_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float | None]:
    """Mean and half-width of the Student-t interval over seeds (``None`` with a single seed)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))


@dataclass
class Leaderboard:
    """The rows of one release's leaderboard folder; :meth:`save` rewrites all three files."""

    folder: Path
    release: dict[str, Any]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, folder: str | os.PathLike[str], release: Release) -> Leaderboard:
        """Load the leaderboard in ``folder`` (empty when new); it must belong to ``release``."""
        folder = Path(folder)
        meta = release_meta(release)
        path = folder / RESULTS_JSON
        if not path.is_file():
            return cls(folder, meta)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise LeaderboardError(
                f"{path}: not valid JSON ({err}); move it away to start a new leaderboard"
            ) from err
        stored = data.get("release", {})
        if (stored.get("name"), stored.get("version")) != (meta["name"], meta["version"]):
            raise LeaderboardError(
                f"{path} belongs to release {stored.get('name')} {stored.get('version')}, not "
                f"{meta['name']} {meta['version']}; use another --out folder"
            )
        if stored.get("manifest_sha256", meta["manifest_sha256"]) != meta["manifest_sha256"]:
            raise LeaderboardError(
                f"{path} holds scores of another copy of {meta['name']} {meta['version']} (its "
                f"manifest.json differs: sha256 {stored['manifest_sha256'][:12]}... vs "
                f"{meta['manifest_sha256'][:12]}...); scores of different bytes never share a "
                "leaderboard. Use another --out folder"
            )
        return cls(folder, meta, dict(data.get("entries", {})), list(data.get("rows", [])))

    def kind_of(self, entry: str) -> str | None:
        return self.entries.get(entry, {}).get("kind")

    def set_baseline(
        self, entry: str, seed: int, rows: list[dict[str, Any]], info: dict[str, Any]
    ) -> None:
        """Add or replace the rows of a baseline model for one seed (a rerun replaces its rows)."""
        if self.kind_of(entry) not in (None, "baseline"):
            raise LeaderboardError(
                f"entry name {entry!r} is taken by a submission in {self.folder}"
            )
        self.entries.setdefault(entry, {"kind": "baseline", "added": _now()})
        self.rows = [r for r in self.rows if not (r["entry"] == entry and r["seed"] == seed)]
        self.rows += [self._row(entry, "baseline", seed, row, info) for row in rows]

    def add_submission(self, name: str, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
        """Add a submission's rows; a name already on the board is refused."""
        if name in self.entries:
            raise LeaderboardError(
                f"name {name!r} is already on the leaderboard in {self.folder} "
                f"({self.entries[name]['kind']}); "
                "choose another --name"
            )
        self.entries[name] = {
            "kind": "submission",
            "added": _now(),
            **{k: info[k] for k in ("source",) if k in info},
        }
        self.rows += [self._row(name, "submission", None, row, info) for row in rows]

    def _row(
        self, entry: str, kind: str, seed: int | None, row: dict[str, Any], info: dict[str, Any]
    ) -> dict[str, Any]:
        full = {
            "release_name": self.release["name"],
            "release_version": self.release["version"],
            "entry": entry,
            "kind": kind,
            "seed": seed,
            "created": _now(),
        }
        full |= row
        full |= {k: v for k, v in info.items() if k in COLUMNS}
        return {k: full.get(k) for k in COLUMNS}

    # -- summaries ------------------------------------------------------------------------
    def entry_names(self) -> list[str]:
        """Baselines first (in the paper's order when known), then submissions as they came."""
        from baselines.models import MODEL_NAMES

        baselines = [e for e in self.entries if self.kind_of(e) == "baseline"]
        order = {name: i for i, name in enumerate(MODEL_NAMES)}
        baselines.sort(key=lambda e: (order.get(e, len(order)), e))
        return baselines + [e for e in self.entries if self.kind_of(e) == "submission"]

    def test_sets(self) -> list[tuple[int, str]]:
        seen: dict[tuple[int, str], None] = {}
        for row in self.rows:
            seen.setdefault((int(row["collection"]), row["test_set"]), None)
        return sorted(seen, key=lambda k: (k[0], k[1] != "test"))

    def summary(
        self, metric: str = "f1"
    ) -> dict[tuple[str, int, str], tuple[float, float | None, int]]:
        """``(entry, collection, test set) -> (mean, 95 % half-width or None, number of seeds)``."""
        groups: dict[tuple[str, int, str], list[float]] = {}
        for row in self.rows:
            groups.setdefault((row["entry"], int(row["collection"]), row["test_set"]), []).append(
                float(row[metric])
            )
        return {key: (*t_interval(values), len(values)) for key, values in groups.items()}

    # -- output ---------------------------------------------------------------------------
    def markdown(self) -> str:
        """The leaderboard tables (F1 per test set, collection-1 details, the paper beside ours)."""
        meta = self.release
        entries = self.entry_names()
        lines = [f"### Leaderboard: {meta['name']} {meta['version']}", ""]
        if meta.get("synthetic"):
            lines += [
                "> Synthetic sample release: these scores test the software, not the models.",
                "",
            ]
        if meta.get("legacy"):
            lines += [
                "> Legacy import of the published arrays: no sites, so collection 1 only.",
                "",
            ]
        if not entries:
            return "\n".join(lines + ["No results yet: run `python -m baselines.run`.", ""])
        f1 = self.summary("f1")
        seeds = sorted(
            {n for (entry, _, _), (_, _, n) in f1.items() if self.kind_of(entry) == "baseline"}
        ) or [0]
        lines += [
            "F1 (%) of the landslide class at threshold 0.5, pooled over every pixel of a test "
            "set (micro); "
            f"mean ± 95 % t-interval over seeds ({'/'.join(map(str, seeds))} per baseline; "
            "submissions are one "
            "prediction); weights selected on the validation split.",
            "",
            "| collection | test set | " + " | ".join(entries) + " |",
            "|---|---|" + "---:|" * len(entries),
        ]
        for collection, test_set in self.test_sets():
            cells = [_cell(f1.get((e, collection, test_set))) for e in entries]
            lines.append(f"| {collection} | {test_set} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Collection 1 in full (%; pooled = micro over pixels, per-batch = mean over batches "
            "of 32):",
            "",
            "| entry | kind | P | R | F1 | IoU | P per-batch | R per-batch | F1 per-batch "
            "| IoU per-batch | epochs (best) | train time | hardware |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
        ]
        metrics = (
            "precision",
            "recall",
            "f1",
            "iou",
            "pb_precision",
            "pb_recall",
            "pb_f1",
            "pb_iou",
        )
        sums = {m: self.summary(m) for m in metrics}
        for entry in entries:
            if (entry, 1, "test") not in f1:
                continue
            rows = [r for r in self.rows if r["entry"] == entry and r["collection"] == 1]
            cells = [_cell(sums[m].get((entry, 1, "test")), interval=False) for m in metrics]
            epochs = (
                ", ".join(
                    f"{r['epochs']} ({r['best_epoch']})"
                    for r in rows
                    if r.get("epochs") is not None
                )
                or "-"
            )
            secs = [float(r["train_seconds"]) for r in rows if r.get("train_seconds") is not None]
            time_text = f"{sum(secs) / len(secs):.0f} s/seed" if secs else "-"
            hardware = rows[0].get("hardware") or "-"
            lines.append(
                f"| {entry} | {self.kind_of(entry)} | "
                + " | ".join(cells)
                + f" | {epochs} | {time_text} | {hardware} |"
            )
        if paper_comparable(meta):
            lines += self._paper_lines(entries)
        return "\n".join(lines) + "\n"

    def _paper_lines(self, entries: list[str]) -> list[str]:
        paper = paper_table2()
        models = [
            e for e in entries if self.kind_of(e) == "baseline" and e in next(iter(paper.values()))
        ]
        if not models:
            return []
        pb = self.summary("pb_f1")
        lines = [
            "",
            "Beside the paper's Table 2: our per-batch F1 / the paper's F1 (difference), %.",
            "",
            COMPARISON_NOTE,
        ]
        if self.release.get("synthetic"):
            lines += [
                "",
                "> On synthetic sample data the difference says nothing about the architectures.",
            ]
        lines += [
            "",
            "| collection | test set | " + " | ".join(models) + " |",
            "|---|---|" + "---:|" * len(models),
        ]
        for collection, test_set in self.test_sets():
            theirs = paper.get((collection, test_set))
            if theirs is None:
                continue
            cells = []
            for model in models:
                ours = pb.get((model, collection, test_set))
                if ours is None:
                    cells.append(f"– / {theirs[model]:.1f}")
                else:
                    cells.append(
                        f"{100 * ours[0]:.1f} / {theirs[model]:.1f} "
                        f"({100 * ours[0] - theirs[model]:+.1f})"
                    )
            lines.append(f"| {collection} | {test_set} | " + " | ".join(cells) + " |")
        return lines

    def save(self) -> None:
        """Write results.json, results.csv and leaderboard.md (each atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"release": self.release, "entries": self.entries, "rows": self.rows}
        atomic_write(self.folder / RESULTS_JSON, json.dumps(data, indent=2) + "\n")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.folder / RESULTS_CSV, buffer.getvalue())
        atomic_write(self.folder / LEADERBOARD_MD, self.markdown())


def _cell(value: tuple[float, float | None, int] | None, interval: bool = True) -> str:
    if value is None:
        return "–"
    mean, half, _ = value
    if interval and half is not None:
        return f"{100 * mean:.1f} ± {100 * half:.1f}"
    return f"{100 * mean:.1f}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = [
    "COLUMNS",
    "Leaderboard",
    "LeaderboardError",
    "PAPER_TEST_SETS",
    "paper_comparable",
    "paper_table2",
    "release_meta",
    "t_interval",
]
