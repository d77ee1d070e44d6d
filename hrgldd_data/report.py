"""Plain summaries of a release (counts per site, split and collection) for the CLI and cards."""

from __future__ import annotations

from typing import Any

from hrgldd_data.archive import Release
from hrgldd_data.schema import COLLECTIONS, SPLITS


def release_summary(release: Release) -> dict[str, Any]:
    """Counts of a release as a JSON-ready dict."""
    counts = release.attrs["counts"]
    collections = [
        {"collection": t.collection, "test_set": t.name, "patches": len(t)}
        for t in release.test_sets()
    ]
    return {
        "name": release.name,
        "version": release.version,
        "path": str(release.path),
        "legacy": release.legacy,
        "synthetic": bool(release.attrs.get("synthetic", False)),
        "patches": len(release),
        "bands": release.bands,
        "splits": counts["splits"],
        "sites": counts["sites"],
        "collections": collections,
        "notes": release.attrs.get("notes", ""),
    }


def group_collections(
    collections: list[dict[str, Any]],
) -> list[tuple[int, str, list[dict[str, Any]]]]:
    """The summary's test sets grouped by collection: ``(number, meaning, test sets)`` in order."""
    return [
        (number, meaning, [c for c in collections if c["collection"] == number])
        for number, meaning in COLLECTIONS.items()
    ]


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as an aligned text table."""
    flags = [k for k in ("legacy", "synthetic") if summary[k]]
    lines = [
        f"{summary['name']} {summary['version']}" + (f" ({', '.join(flags)})" if flags else ""),
        f"  path:    {summary['path']}",
        f"  patches: {summary['patches']}  bands: {','.join(summary['bands'])}",
        "",
        f"  {'site':<20}" + "".join(f"{s:>8}" for s in SPLITS) + f"{'total':>8}",
    ]
    for site, row in summary["sites"].items():
        lines.append(
            f"  {site:<20}" + "".join(f"{row[s]:>8}" for s in SPLITS) + f"{row['total']:>8}"
        )
    lines.append(
        f"  {'all':<20}"
        + "".join(f"{summary['splits'][s]:>8}" for s in SPLITS)
        + f"{summary['patches']:>8}"
    )
    lines.append("")
    for number, text, sets in group_collections(summary["collections"]):
        if sets:
            lines.append(f"  collection {number} ({text}):")
            lines.extend(f"    {c['test_set']:<20}{c['patches']:>8}" for c in sets)
        else:
            lines.append(f"  collection {number} ({text}): not in this release")
    if summary["legacy"]:
        lines.append(
            "  imported from the published arrays: no sites or coordinates; collection 1 only"
        )
    return "\n".join(lines)
