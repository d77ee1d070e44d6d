"""The leaderboard of one release: result rows on disk, summaries over seeds, Markdown tables.

A leaderboard lives in its own folder (default ``data/results/<name>-<version>/``)::

    results.json    release, entries (baselines and submissions) and one row per
                    entry x seed x test set
    results.csv     the same rows, one per line (``COLUMNS``)
    leaderboard.md  the tables a person reads; also copied into the release card when it has one
    plots/          radar charts and prediction panels (see ``baselines.plots``)

Scores are fractions in the files and percentages in the Markdown. Every test set shows, beside
each entry's F1, the landslide pixel fraction and the F1 of predicting all-landslide (the floor a
model must clear), threshold-free AUROC and AUPRC, and a per-event bootstrap interval; a
collapsed prediction (nearly constant) is flagged in the rows, the tables and a warning. Every
baseline row says which training configuration (``default``, ``paper``) and which protocol
(``collections``: the paper's collections 1-3; ``leave-one-event-out``) it comes from. Every
comparison with the paper's Table 2 uses ``paper``-configuration rows and says how the two differ:
the paper averages per batch and selected weights on the test set; our primary score pools pixels
over the test set and we select weights on validation.
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

#: Protocols: the paper's collections 1-3, and leaving each dataset event out in turn.
COLLECTIONS_PROTOCOL = "collections"
LOEO = "leave-one-event-out"
PROTOCOLS: tuple[str, ...] = (COLLECTIONS_PROTOCOL, LOEO)

COLUMNS = (
    "release_name",
    "release_version",
    "entry",
    "kind",
    "config",
    "protocol",
    "seed",
    "collection",
    "test_set",
    "n_patches",
    "precision",
    "recall",
    "f1",
    "iou",
    "f1_low",
    "f1_high",
    "landslide_fraction",
    "trivial_f1",
    "auroc",
    "auprc",
    "predicted_fraction",
    "prob_mean",
    "prob_std",
    "collapsed",
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
    "loss",
    "normalization",
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

#: Bootstrap of each test set's F1 (``baselines.evaluate``): resamples and seed, the same for
#: every entry, so entries are compared on the same resampled patches.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
BOOTSTRAP_NOTE = (
    f"{BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}, percentile interval "
    "(the same resamples for every entry)"
)

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
        self,
        entry: str,
        seed: int,
        rows: list[dict[str, Any]],
        info: dict[str, Any],
        *,
        model: str | None = None,
    ) -> None:
        """Add or replace the rows of a baseline for one seed and protocol (a rerun replaces them).

        ``info`` carries the training facts (``config``, ``protocol``, epochs, time, ...);
        ``model`` the architecture when the entry is named otherwise (``unet-paper``).
        """
        if self.kind_of(entry) not in (None, "baseline"):
            raise LeaderboardError(
                f"entry name {entry!r} is taken by a submission in {self.folder}"
            )
        protocol = info.get("protocol", COLLECTIONS_PROTOCOL)
        described = {"model": model or entry, "config": info.get("config", "default")}
        self.entries.setdefault(entry, {"kind": "baseline", "added": _now()}).update(described)
        self.rows = [
            r
            for r in self.rows
            if not (r["entry"] == entry and r["seed"] == seed and _protocol(r) == protocol)
        ]
        self.rows += [
            self._row(entry, "baseline", seed, row, info | {"protocol": protocol}) for row in rows
        ]

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
        info = info | {"protocol": COLLECTIONS_PROTOCOL}
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
    def entry_names(self, protocol: str = COLLECTIONS_PROTOCOL) -> list[str]:
        """Baselines first (``default`` configuration, then others; the paper's model order),
        then submissions as they came; only entries with rows of ``protocol``."""
        from baselines.models import MODEL_NAMES

        present = {r["entry"] for r in self.rows if _protocol(r) == protocol}
        baselines = [e for e in self.entries if self.kind_of(e) == "baseline" and e in present]
        order = {name: i for i, name in enumerate(MODEL_NAMES)}

        def rank(entry: str) -> tuple[int, int, str]:
            info = self.entries[entry]
            config = info.get("config", "default")
            model = info.get("model", entry)
            return (config != "default", order.get(model, len(order)), entry)

        baselines.sort(key=rank)
        submissions = [e for e in self.entries if self.kind_of(e) == "submission" and e in present]
        return baselines + submissions

    def config_of(self, entry: str) -> str:
        """The training configuration of a baseline entry (``-`` for a submission)."""
        if self.kind_of(entry) != "baseline":
            return "-"
        return str(self.entries[entry].get("config", "default"))

    def test_sets(self, protocol: str = COLLECTIONS_PROTOCOL) -> list[tuple[int | None, str]]:
        """``(collection, test set)`` keys of ``protocol`` (collection None: held-out event)."""
        seen: dict[tuple[int | None, str], None] = {}
        for row in self.rows:
            if _protocol(row) == protocol:
                seen.setdefault((_collection(row), row["test_set"]), None)
        return sorted(seen, key=lambda k: (k[0] or 0, k[1] != "test", k[1]))

    def summary(
        self, metric: str = "f1", protocol: str = COLLECTIONS_PROTOCOL
    ) -> dict[tuple[str, int | None, str], tuple[float, float | None, int]]:
        """``(entry, collection, test set) -> (mean, 95 % half-width or None, number of seeds)``."""
        groups: dict[tuple[str, int | None, str], list[float]] = {}
        for row in self.rows:
            if _protocol(row) != protocol or row.get(metric) is None:
                continue
            key = (row["entry"], _collection(row), row["test_set"])
            groups.setdefault(key, []).append(float(row[metric]))
        return {key: (*t_interval(values), len(values)) for key, values in groups.items()}

    def truth(self, protocol: str = COLLECTIONS_PROTOCOL) -> dict[tuple[int | None, str], dict]:
        """Per test set: its landslide pixel fraction and the F1 of predicting all-landslide."""
        facts: dict[tuple[int | None, str], dict] = {}
        for row in self.rows:
            if _protocol(row) == protocol and row.get("landslide_fraction") is not None:
                facts.setdefault(
                    (_collection(row), row["test_set"]),
                    {"fraction": row["landslide_fraction"], "trivial": row["trivial_f1"]},
                )
        return facts

    def collapsed(self) -> list[dict[str, Any]]:
        """Rows whose prediction collapsed to (nearly) a constant."""
        return [r for r in self.rows if r.get("collapsed")]

    # -- output ---------------------------------------------------------------------------
    def markdown(self) -> str:
        """The leaderboard tables: F1 beside the trivial baseline, AUROC/AUPRC, per-event
        bootstrap intervals, collection 1 in full, collapses, leave-one-event-out, Table 2."""
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
        loeo = self.entry_names(LOEO)
        if not entries and not loeo:
            return "\n".join(lines + ["No results yet: run `python -m baselines.run`.", ""])
        if entries:
            lines += self._collection_lines(entries)
        lines += self._collapse_lines()
        if loeo:
            lines += self._loeo_lines(loeo)
        if paper_comparable(meta):
            lines += self._paper_lines(entries)
        return "\n".join(lines) + "\n"

    def _header(self, entries: list[str]) -> list[str]:
        names = [
            e if self.config_of(e) in ("default", "-") else f"{e} ({self.config_of(e)})"
            for e in entries
        ]
        return [" | ".join(names) + " |", "---:|" * len(entries)]

    def _collection_lines(self, entries: list[str]) -> list[str]:
        f1 = self.summary("f1")
        flags = self._flags()
        truth = self.truth()
        seeds = sorted(
            {n for (entry, _, _), (_, _, n) in f1.items() if self.kind_of(entry) == "baseline"}
        ) or [0]
        names, rule = self._header(entries)
        lines = [
            "F1 (%) of the landslide class at threshold 0.5, pooled over every pixel of a test "
            "set (micro); "
            f"mean ± 95 % t-interval over seeds ({'/'.join(map(str, seeds))} per baseline; "
            "submissions are one prediction); weights selected on the validation split. "
            "**all-landslide** is the F1 of predicting every pixel as landslide, the floor a "
            "model must clear (patches are kept only where landslides are); ⚠ marks a collapsed "
            "(nearly constant) prediction. Baselines use the `default` training configuration "
            "unless the column names another.",
            "",
            "| collection | test set | landslide px % | all-landslide F1 | " + names,
            "|---|---|---:|---:|" + rule,
        ]
        for key in self.test_sets():
            collection, test_set = key
            fact = truth.get(key)
            cells = [
                _cell(f1.get((e, collection, test_set))) + flags.get((e, key), "") for e in entries
            ]
            lines.append(
                f"| {collection} | {test_set} | {_percent(fact, 'fraction')} | "
                f"{_percent(fact, 'trivial')} | " + " | ".join(cells) + " |"
            )
        auroc, auprc = self.summary("auroc"), self.summary("auprc")
        lines += [
            "",
            "Threshold-free scores, AUROC / AUPRC of the landslide pixels (mean over seeds; "
            "binned curves). Predicting a constant scores AUROC 0.5 and AUPRC the landslide "
            "fraction.",
            "",
            "| collection | test set | " + names,
            "|---|---|" + rule,
        ]
        for collection, test_set in self.test_sets():
            cells = [
                _pair(auroc.get((e, collection, test_set)), auprc.get((e, collection, test_set)))
                for e in entries
            ]
            lines.append(f"| {collection} | {test_set} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Per event: F1 (%) [95 % bootstrap interval]: patches resampled with replacement "
            "within each event (collection 1: within each of its events), "
            f"{BOOTSTRAP_NOTE}; bounds averaged over seeds.",
            "",
            "| collection | test set | " + names,
            "|---|---|" + rule,
        ]
        lows, highs = self.summary("f1_low"), self.summary("f1_high")
        for collection, test_set in self.test_sets():
            cells = [
                _interval(
                    f1.get((e, collection, test_set)),
                    lows.get((e, collection, test_set)),
                    highs.get((e, collection, test_set)),
                )
                for e in entries
            ]
            lines.append(f"| {collection} | {test_set} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Collection 1 in full (%; pooled = micro over pixels, per-batch = mean over batches "
            "of 32):",
            "",
            "| entry | kind | config | P | R | F1 | IoU | margin over all-landslide | AUROC | "
            "AUPRC | P per-batch | R per-batch | F1 per-batch | IoU per-batch | epochs (best) | "
            "train time | hardware |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
        ]
        metrics = ("precision", "recall", "f1", "iou")
        per_batch = ("pb_precision", "pb_recall", "pb_f1", "pb_iou")
        sums = {m: self.summary(m) for m in (*metrics, *per_batch)}
        trivial = (truth.get((1, "test")) or {}).get("trivial")
        for entry in entries:
            if (entry, 1, "test") not in f1:
                continue
            rows = [
                r
                for r in self.rows
                if r["entry"] == entry and _collection(r) == 1 and _protocol(r) == "collections"
            ]
            cells = [_cell(sums[m].get((entry, 1, "test")), interval=False) for m in metrics]
            margin = "–"
            if trivial is not None:
                margin = f"{100 * (f1[(entry, 1, 'test')][0] - trivial):+.1f}"
            cells += [margin]
            cells += [
                _fraction(auroc.get((entry, 1, "test"))),
                _fraction(auprc.get((entry, 1, "test"))),
            ]
            cells += [_cell(sums[m].get((entry, 1, "test")), interval=False) for m in per_batch]
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
                f"| {entry} | {self.kind_of(entry)} | {self.config_of(entry)} | "
                + " | ".join(cells)
                + f" | {epochs} | {time_text} | {hardware} |"
            )
        return lines

    def _flags(self) -> dict[tuple[str, tuple[int | None, str]], str]:
        """`` ⚠`` for (entry, test set) keys where any seed's prediction collapsed."""
        return {
            (r["entry"], (_collection(r), r["test_set"])): " ⚠"
            for r in self.collapsed()
            if _protocol(r) == COLLECTIONS_PROTOCOL
        }

    def _collapse_lines(self) -> list[str]:
        from baselines.metrics import collapse

        rows = self.collapsed()
        if not rows:
            return []
        lines = [
            "",
            f"> **⚠ Collapsed predictions ({len(rows)} row(s))**: these scores are those of a "
            "(nearly) constant prediction, not of a model that found landslides:",
        ]
        for row in rows:
            where = (
                f"held-out event {row['test_set']}"
                if _protocol(row) == LOEO
                else f"c{row['collection']}/{row['test_set']}"
            )
            seed = "" if row.get("seed") is None else f" seed {row['seed']}"
            lines.append(f"> - {row['entry']}{seed} on {where}: {collapse(row) or 'collapsed'}")
        return lines

    def _loeo_lines(self, entries: list[str]) -> list[str]:
        f1, auroc = self.summary("f1", LOEO), self.summary("auroc", LOEO)
        lows, highs = self.summary("f1_low", LOEO), self.summary("f1_high", LOEO)
        truth = self.truth(LOEO)
        flags = {
            (r["entry"], r["test_set"]): " ⚠" for r in self.collapsed() if _protocol(r) == LOEO
        }
        names, rule = self._header(entries)
        lines = [
            "",
            "Leave one event out: each dataset event in turn is held out; the models train on "
            "the other events' train splits (weights selected on their validation splits) and "
            "are scored on every patch of the held-out event. F1 (%) [95 % bootstrap interval] "
            "and AUROC, mean over seeds.",
            "",
            "| held-out event | landslide px % | all-landslide F1 | " + names,
            "|---|---:|---:|" + rule,
        ]
        for _, event in self.test_sets(LOEO):
            key = (None, event)
            cells = [
                _interval(f1.get((e, *key)), lows.get((e, *key)), highs.get((e, *key)))
                + (f", AUROC {_fraction(auroc.get((e, *key)))}" if (e, *key) in auroc else "")
                + flags.get((e, event), "")
                for e in entries
            ]
            fact = truth.get(key)
            lines.append(
                f"| {event} | {_percent(fact, 'fraction')} | {_percent(fact, 'trivial')} | "
                + " | ".join(cells)
                + " |"
            )
        return lines

    def _paper_lines(self, entries: list[str]) -> list[str]:
        paper = paper_table2()
        columns = next(iter(paper.values()))
        models = [
            e
            for e in entries
            if self.kind_of(e) == "baseline"
            and self.config_of(e) == "paper"
            and self.entries[e].get("model", e) in columns
        ]
        if not models:
            return [
                "",
                "Beside the paper's Table 2: train with the paper's setup (`python -m "
                "baselines.run --config paper`) to set its rows beside the paper's numbers.",
            ]
        pb = self.summary("pb_f1")
        lines = [
            "",
            "Beside the paper's Table 2 (`paper` configuration): our per-batch F1 / the paper's "
            "F1 (difference), %.",
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
            for entry in models:
                model = self.entries[entry].get("model", entry)
                ours = pb.get((entry, collection, test_set))
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


def _protocol(row: dict[str, Any]) -> str:
    """A row's protocol (rows written before protocols existed are the paper's collections)."""
    return row.get("protocol") or COLLECTIONS_PROTOCOL


def _collection(row: dict[str, Any]) -> int | None:
    value = row.get("collection")
    return None if value is None else int(value)


def _percent(fact: dict | None, key: str) -> str:
    return "–" if not fact or fact.get(key) is None else f"{100 * float(fact[key]):.1f}"


def _fraction(value: tuple[float, float | None, int] | None) -> str:
    return "–" if value is None else f"{value[0]:.3f}"


def _pair(
    auroc: tuple[float, float | None, int] | None, auprc: tuple[float, float | None, int] | None
) -> str:
    if auroc is None and auprc is None:
        return "–"
    return f"{_fraction(auroc)} / {_fraction(auprc)}"


def _interval(
    f1: tuple[float, float | None, int] | None,
    low: tuple[float, float | None, int] | None,
    high: tuple[float, float | None, int] | None,
) -> str:
    if f1 is None:
        return "–"
    if low is None or high is None:
        return f"{100 * f1[0]:.1f}"
    return f"{100 * f1[0]:.1f} [{100 * low[0]:.1f}–{100 * high[0]:.1f}]"


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
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "COLLECTIONS_PROTOCOL",
    "COLUMNS",
    "LOEO",
    "PROTOCOLS",
    "Leaderboard",
    "LeaderboardError",
    "PAPER_TEST_SETS",
    "paper_comparable",
    "paper_table2",
    "release_meta",
    "t_interval",
]
