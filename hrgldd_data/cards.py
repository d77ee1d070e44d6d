"""Dataset cards and Croissant metadata generated from a release.

The card is a Hugging Face dataset ``README.md`` (YAML front matter + Markdown) rendered from
``templates/dataset_card.md`` with what the release itself records: events and their Table-1
statistics, band statistics, split and collection counts, notes. Its YAML front matter declares
the Parquet view of :mod:`hrgldd_data.parquet` (``configs``/``data_files`` and the ``datasets``
features), so that ``datasets.load_dataset`` and the Hub's dataset viewer read the published
version. ``croissant.json`` describes the same release in Croissant 1.1 JSON-LD with the
GeoCroissant 1.0 vocabulary (spatial resolution, bands, CRS): the files with their sha256, the
events and splits, and one record per patch read from the Parquet view. Both are written next to
the release and are not listed in its manifest, which covers the Zarr files only.

The card keeps a leaderboard section between ``<!-- leaderboard:start -->`` and
``<!-- leaderboard:end -->``: :func:`leaderboard_section` renders it from the leaderboards
published on the Hub's ``main`` (``render_card(leaderboards=...)``, :func:`replace_leaderboard`),
and :func:`update_leaderboard` rewrites it in a local card.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrgldd_data.changelog import VersionInfo, release_notes
from hrgldd_data.citation import PAPER_DOI, ZENODO_DOI, bibtex
from hrgldd_data.errors import InputError
from hrgldd_data.fileio import atomic_write, sha256_file
from hrgldd_data.hub.cache import resolve_repo
from hrgldd_data.manifest import MANIFEST
from hrgldd_data.parquet import DATA_DIR, data_files, preview_bands, yaml_features
from hrgldd_data.schema import PATCH_SIZE, parse_version

if TYPE_CHECKING:
    from hrgldd_data.archive import Release

CARD = "README.md"
CROISSANT = "croissant.json"
LEADERBOARD_START = "<!-- leaderboard:start -->"
LEADERBOARD_END = "<!-- leaderboard:end -->"
NO_LEADERBOARD = "No results yet: the baselines (`python -m baselines.run`) fill this section in."
PRETTY_NAME = "HR-GLDD: High-Resolution Global Landslide Detector Database"
TAGS = [
    "landslides",
    "remote-sensing",
    "earth-observation",
    "planetscope",
    "geospatial",
    "disaster-response",
    "zarr",
    "parquet",
]
#: TFDS name (builder/config) of each release name the ``hr_gldd`` builder serves.
TFDS_NAMES = {"hr_gldd": "hr_gldd", "hr_gldd_sample": "hr_gldd/sample"}
_LICENSE_URLS = {"cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/"}
#: Croissant and GeoCroissant versions the metadata conforms to.
CROISSANT_CONFORMS = [
    "http://mlcommons.org/croissant/1.1",
    "http://mlcommons.org/croissant/geo/1.0",
]
#: JSON-LD context of Croissant 1.1 (as mlcroissant writes it) plus the GeoCroissant prefix.
CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "description": {"@container": "@language"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "geocr": "http://mlcommons.org/croissant/geo/",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "name": {"@container": "@language"},
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "equivalentProperty": "cr:equivalentProperty",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket of ``n`` examples."""
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return label
    return "1M<n<10M"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _license(release: Release) -> str:
    return str(release.attrs.get("license") or "CC-BY-4.0").lower()


def _pretty_name(release: Release) -> str:
    """The release's own title (an imported dataset names itself), else HR-GLDD's."""
    return str(release.attrs.get("title") or PRETTY_NAME)


def _tags(release: Release) -> list[str]:
    """Hub tags, naming the release's own sensor instead of PlanetScope."""
    sensor = release.sensor.name.lower().replace(" ", "-")
    return [sensor if tag == "planetscope" else tag for tag in TAGS]


def _num(value: float) -> str:
    """A statistic in a table: integers as such, one decimal for large values, else 4 digits."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _split_text(release: Release) -> str:
    """How the dataset sites were split: seeded fractions per site, or as the source delivered."""
    fractions = release.attrs.get("split_fractions")
    if fractions:
        return (
            "split "
            + "/".join(f"{100 * fractions[k]:g}" for k in ("train", "val", "test"))
            + " per site"
        )
    return "split as delivered by the source"


def _imagery(release: Release) -> str:
    """The card's imagery row: sensor, ground resolution, units and bands of this release."""
    sensor = release.sensor
    resolution = (
        f"{sensor.resolution_m:g} m" if sensor.resolution_m else "ground resolution not recorded"
    )
    parts = [sensor.name, resolution]
    if sensor.units:
        parts.append(sensor.units)
    return ", ".join(parts) + f"; bands {', '.join(release.bands)}"


def _nodata_text(release: Release) -> str:
    nodata = release.nodata
    if nodata is None:
        return "no value is reserved for no data"
    if isinstance(nodata, float) and nodata != nodata:
        return "`NaN` marks no data"
    return f"`{nodata}` marks no data"


def _band_rows(release: Release) -> list[dict[str, str]]:
    mean, std = release.normalization
    percentiles = release.percentiles
    low, high = percentiles if percentiles is not None else (None, None)
    rows = []
    for i, band in enumerate(release.sensor.bands):
        rows.append(
            {
                "name": band.name,
                "wavelength": band.wavelength_text,
                "mean": _num(float(mean[i])),
                "std": _num(float(std[i])),
                "p01": "—" if low is None else _num(float(low[i])),
                "p99": "—" if high is None else _num(float(high[i])),
            }
        )
    return rows


def _front_matter(release: Release) -> str:
    import yaml

    meta = {
        "pretty_name": _pretty_name(release)
        + (" (synthetic sample)" if release.attrs.get("synthetic") else ""),
        "license": _license(release),
        "language": ["en"],
        "task_categories": ["image-segmentation"],
        "task_ids": ["semantic-segmentation"],
        "size_categories": [size_category(len(release))],
        "tags": _tags(release) + (["synthetic"] if release.attrs.get("synthetic") else []),
        # The viewer and `datasets` read the Parquet view published beside the Zarr archive.
        "viewer": True,
        "configs": [{"config_name": "default", "data_files": data_files(release), "default": True}],
        "dataset_info": {"config_name": "default", "features": yaml_features(release)},
    }
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def _events(release: Release) -> list[dict[str, Any]]:
    rows = []
    for site in release.attrs.get("sites", []):
        if site["id"] == "unknown":
            continue
        stats = site.get("stats") or {}
        place = ", ".join(str(p) for p in (site.get("study_area"), site.get("country")) if p)
        rows.append(
            {
                "id": site["id"],
                "place": place or "—",
                "trigger": site.get("trigger", "—"),
                "date": site.get("date") or site.get("year") or "—",
                "role": "dataset" if site.get("role") == "train" else "unseen",
                "n_landslides": _fmt(stats.get("n_landslides")),
                "min_area": _fmt(stats.get("min_landslide_area_m2")),
                "max_area": _fmt(stats.get("max_landslide_area_m2")),
                "total_area": _fmt(stats.get("total_landslide_area_km2")),
                "study_area_km2": _fmt(stats.get("study_area_km2")),
                "n_patches": _fmt(
                    release.attrs["counts"]["sites"].get(site["id"], {}).get("total")
                ),
                "inventory_source": _source_label(site.get("inventory_source")) or "—",
            }
        )
    return rows


def _collections(release: Release) -> list[dict[str, Any]]:
    from hrgldd_data.report import group_collections, release_summary

    return [
        {
            "number": number,
            "meaning": meaning,
            "sets": ", ".join(f"`{s['test_set']}`" for s in sets),
            "patches": sum(s["patches"] for s in sets),
        }
        for number, meaning, sets in group_collections(release_summary(release)["collections"])
        if sets
    ]


def _source_label(source: str | None) -> str | None:
    """Inventory source as a reader can cite it ("this study" in the paper = the HR-GLDD paper)."""
    return "Meena et al. 2023 (mapped for HR-GLDD)" if source == "this study" else source


def _sources(release: Release) -> list[tuple[str, list[str]]]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for site in release.attrs.get("sites", []):
        label = _source_label(site.get("inventory_source"))
        if label:
            by_source[label].append(site["id"])
    return sorted(by_source.items())


def _changelog(release: Release, changelog: Iterable[VersionInfo] | None) -> list[dict[str, Any]]:
    entries = {
        e.version: {"version": e.version, "date": e.date, "notes": e.notes} for e in changelog or ()
    }
    entries.setdefault(
        release.version, {"version": release.version, "date": None, "notes": release_notes(release)}
    )
    for entry in entries.values():
        entry["notes"] = entry["notes"] or "(no notes)"
    return sorted(entries.values(), key=lambda e: parse_version(e["version"]), reverse=True)


def leaderboard_section(leaderboards: Mapping[str, str] | None) -> str:
    """The card's leaderboard section: each version's leaderboard Markdown, newest version first.

    Args:
        leaderboards: version -> the Markdown of ``baselines.leaderboard`` for that version (as
            published in ``leaderboards/<version>.md`` on the Hub's ``main``).
    """
    if not leaderboards:
        return NO_LEADERBOARD
    parts = []
    for version in sorted(leaderboards, key=parse_version, reverse=True):
        text = leaderboards[version].strip()
        if LEADERBOARD_START in text or LEADERBOARD_END in text:
            raise InputError(
                f"the leaderboard of {version} contains the card's leaderboard markers; "
                "publish the Markdown that baselines.leaderboard renders"
            )
        parts.append(
            f"{text}\n\nFiles: `leaderboards/{version}.md`, `leaderboards/{version}.json`."
        )
    return "\n\n".join(parts)


def replace_leaderboard(text: str, section: str) -> str:
    """``text`` (a card) with the part between the leaderboard markers replaced by ``section``."""
    start, end = text.find(LEADERBOARD_START), text.find(LEADERBOARD_END)
    if start < 0 or end < start:
        raise InputError(
            f"the card has no '{LEADERBOARD_START}' ... '{LEADERBOARD_END}' section; regenerate "
            "it with `hrgldd card RELEASE` or add the two markers where the leaderboard belongs"
        )
    head = text[: start + len(LEADERBOARD_START)]
    return f"{head}\n{section.strip()}\n{text[end:]}"


def render_card(
    release: Release,
    *,
    changelog: Iterable[VersionInfo] | None = None,
    repo: str | None = None,
    leaderboards: Mapping[str, str] | None = None,
) -> str:
    """The dataset card (``README.md`` text) of an opened release.

    Args:
        release: the release to describe.
        changelog: all published versions with notes (the Hub publisher passes them); by default
            only this release's own notes.
        repo: the Hub repo id shown in the pull command.
        leaderboards: version -> leaderboard Markdown shown in the leaderboard section (the
            Hub publisher passes those on ``main``); by default "No results yet".
    """
    import jinja2

    template_text = resources.files("hrgldd_data.templates").joinpath("dataset_card.md").read_text()
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    counts = release.attrs["counts"]
    split_rows = [
        {"site": f"`{site}`", **{k: v for k, v in per.items()}}
        for site, per in counts["sites"].items()
    ]
    context = {
        "front_matter": _front_matter(release),
        "pretty_name": _pretty_name(release),
        "name": release.name,
        "version": release.version,
        "synthetic": bool(release.attrs.get("synthetic")),
        "legacy": release.legacy,
        "description": release.attrs.get("description") or "",
        "counts": counts,
        "patch_size": release.attrs.get("patch_size", 128),
        "n_dataset": len(release.dataset_sites),
        "n_unseen": len(release.unseen_sites),
        "bands": release.bands,
        "license": release.attrs.get("license") or "CC-BY-4.0",
        "split_seed": release.attrs.get("split_seed"),
        "imagery": _imagery(release),
        "split_text": _split_text(release),
        "imported": bool(release.attrs.get("imported")),
        "source_citation": release.attrs.get("citation") if release.attrs.get("imported") else "",
        "n_bands": len(release.bands),
        "dtype": release.dtype.name,
        "units": release.sensor.units,
        "nodata_text": _nodata_text(release),
        "band_rows": _band_rows(release),
        "normalization_split": release.attrs["normalization"].get("split", "train"),
        "events": _events(release),
        "split_rows": split_rows,
        "collections": _collections(release),
        "repo": resolve_repo(repo),
        "split_names": [split["split"] for split in data_files(release)],
        "tfds_name": TFDS_NAMES.get(release.name),
        "changelog": _changelog(release, changelog),
        "sources": _sources(release),
        "bibtex": bibtex(),
        "zenodo_doi": ZENODO_DOI,
        "leaderboard": leaderboard_section(leaderboards),
    }
    return env.from_string(template_text).render(**context)


def render_croissant(
    release: Release, *, repo: str | None = None, date_published: str | None = None
) -> dict[str, Any]:
    """Croissant 1.1 + GeoCroissant 1.0 JSON-LD of a release.

    Files with their sha256 (the Zarr archive and the Parquet view), dataset-level spatial
    resolution and band configuration, and three record sets: ``events``, ``splits`` and
    ``patches`` (one record per row of the Parquet view, read by ``mlcroissant``).
    """
    files = [
        {
            "@type": "cr:FileObject",
            "@id": MANIFEST,
            "name": MANIFEST,
            "description": "sha256 and size of every Zarr file, patch counts",
            "contentUrl": MANIFEST,
            "encodingFormat": "application/json",
            "sha256": sha256_file(release.path / MANIFEST),
        }
    ]
    for rel, entry in sorted(release.manifest["files"].items()):
        files.append(
            {
                "@type": "cr:FileObject",
                "@id": rel,
                "name": rel,
                "contentUrl": rel,
                "contentSize": f"{entry['size']} B",
                "encodingFormat": "application/json"
                if rel.endswith("zarr.json")
                else "application/octet-stream",
                "sha256": entry["sha256"],
            }
        )
    files.append(
        {
            "@type": "cr:FileSet",
            "@id": "parquet-view",
            "name": "parquet-view",
            "description": "Parquet view of the patches, one file per named split (derived from "
            "the Zarr archive; `datasets` and the dataset viewer read it)",
            "encodingFormat": "application/x-parquet",
            "includes": f"{DATA_DIR}/*.parquet",
        }
    )

    def field(record: str, name: str, kind: str, description: str) -> dict[str, Any]:
        return {
            "@type": "cr:Field",
            "@id": f"{record}/{name}",
            "name": name,
            "description": description,
            "dataType": kind,
        }

    event_fields = [
        ("site_id", "sc:Text", "site identifier used in the archive"),
        ("place", "sc:Text", "study area and country"),
        ("trigger", "sc:Text", "rainfall or earthquake"),
        ("date", "sc:Text", "event date (ISO) or year"),
        ("role", "sc:Text", "train: split 60/20/20; unseen: held-out event (collection 3)"),
        ("n_landslides", "sc:Integer", "landslide polygons in the inventory"),
        ("total_landslide_area_km2", "sc:Float", "total mapped landslide area"),
        ("n_patches", "sc:Integer", "patches of this event in the release"),
        ("inventory_source", "sc:Text", "source of the landslide inventory"),
    ]
    events = []
    for site in release.attrs.get("sites", []):
        stats = site.get("stats") or {}
        values = {
            "site_id": site["id"],
            "place": ", ".join(str(p) for p in (site.get("study_area"), site.get("country")) if p),
            "trigger": site.get("trigger") or "",
            "date": str(site.get("date") or site.get("year") or ""),
            "role": site.get("role") or "",
            "n_landslides": int(stats.get("n_landslides") or 0),
            "total_landslide_area_km2": float(stats.get("total_landslide_area_km2") or 0.0),
            "n_patches": int(release.attrs["counts"]["sites"].get(site["id"], {}).get("total", 0)),
            "inventory_source": _source_label(site.get("inventory_source")) or "",
        }
        events.append({f"events/{k}": v for k, v in values.items()})
    splits = [
        {"splits/site_id": site, "splits/split": split, "splits/n_patches": int(n)}
        for site, per in release.attrs["counts"]["sites"].items()
        for split, n in per.items()
        if split != "total"
    ]
    license_id = _license(release)
    url = f"https://huggingface.co/datasets/{repo}" if repo else f"https://doi.org/{PAPER_DOI}"
    metadata: dict[str, Any] = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "name": release.name,
        "description": (release.attrs.get("description") or PRETTY_NAME)
        + f" Stored as a Zarr v3 group: image (N, {len(release.bands)}, 128, 128) "
        f"{release.dtype.name} {','.join(release.bands)} ({release.sensor.name}); "
        "mask (N, 128, 128) uint8, 1 = landslide; per-patch site, split, scene, row, col. "
        "Also published as a Parquet view (data/*.parquet), one file per named split.",
        "conformsTo": CROISSANT_CONFORMS,
        "citeAs": bibtex(),
        "license": _LICENSE_URLS.get(license_id, license_id),
        "url": url,
        "version": release.version,
        "keywords": _tags(release),
        "isLiveDataset": False,
        **_geo_properties(release),
        "distribution": files,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "events",
                "name": "events",
                "description": "The landslide events of the release, with inventory statistics.",
                "key": {"@id": "events/site_id"},
                "field": [field("events", *f) for f in event_fields],
                "data": events,
            },
            {
                "@type": "cr:RecordSet",
                "@id": "splits",
                "name": "splits",
                "description": "Number of patches per event and split.",
                "field": [
                    field("splits", "site_id", "sc:Text", "site identifier"),
                    field("splits", "split", "sc:Text", "train, val, test or unseen"),
                    field("splits", "n_patches", "sc:Integer", "patches"),
                ],
                "data": splits,
            },
            _patch_record_set(release),
        ],
    }
    if date_published:
        metadata["datePublished"] = date_published
    return metadata


def _band_configuration(release: Release) -> dict[str, Any]:
    return {
        "@type": "geocr:BandConfiguration",
        "geocr:totalBands": len(release.bands),
        "geocr:bandNameList": list(release.bands),
    }


def _spectral_bands(release: Release) -> list[dict[str, Any]]:
    """GeoCroissant ``SpectralBand`` entries of the bands with a known wavelength range."""
    bands = []
    for band in release.sensor.bands:
        if not band.wavelength_nm:
            continue
        low, high = band.wavelength_nm
        bands.append(
            {
                "@type": "geocr:SpectralBand",
                "name": band.name,
                "geocr:centerWavelength": {
                    "@type": "QuantitativeValue",
                    "value": round((low + high) / 2, 1),
                    "unitText": "nm",
                },
                "geocr:bandwidth": {
                    "@type": "QuantitativeValue",
                    "value": round(high - low, 1),
                    "unitText": "nm",
                },
            }
        )
    return bands


def _geo_properties(release: Release) -> dict[str, Any]:
    """Dataset-level GeoCroissant properties: resolution, bands, and the CRS when it is one.

    Each event keeps its scenes' CRS (UTM zones differ), so the CRS of a patch is a field of the
    ``patches`` record set; the dataset-level ``geocr:coordinateReferenceSystem`` is given only
    when every scene shares one.
    """
    sensor = release.sensor
    props: dict[str, Any] = {"geocr:bandConfiguration": _band_configuration(release)}
    if sensor.resolution_m:
        props["geocr:spatialResolution"] = {
            "@type": "QuantitativeValue",
            "value": sensor.resolution_m,
            "unitText": "m",
        }
    spectral = _spectral_bands(release)
    if spectral:
        props["geocr:spectralBandMetadata"] = spectral
    crs = {scene.get("crs") for scene in release.attrs.get("scenes", [])}
    if len(crs) == 1 and None not in crs:
        props["geocr:coordinateReferenceSystem"] = str(next(iter(crs)))
    return props


def _patch_record_set(release: Release) -> dict[str, Any]:
    """The ``patches`` record set: one record per row of the Parquet view."""
    n_bands, size = len(release.bands), PATCH_SIZE
    source = {"fileSet": {"@id": "parquet-view"}}

    def column(name: str, kind: str, description: str, **extra: Any) -> dict[str, Any]:
        return {
            "@type": "cr:Field",
            "@id": f"patches/{name}",
            "name": name,
            "description": description,
            "dataType": kind,
            "source": {**source, "extract": {"column": name}},
            **extra,
        }

    shown = ",".join(release.bands[i] for i in preview_bands(release.bands))
    return {
        "@type": "cr:RecordSet",
        "@id": "patches",
        "name": "patches",
        "description": "One record per patch and named split (a patch of a dataset site's test "
        "split is in `test` and in `test_<site>`), read from the Parquet view.",
        "key": [{"@id": "patches/view_split"}, {"@id": "patches/patch_id"}],
        "field": [
            {
                "@type": "cr:Field",
                "@id": "patches/view_split",
                "name": "view_split",
                "description": "named split: train, validation, test, test_<site>, unseen_<site>",
                "dataType": "sc:Text",
                "source": {
                    **source,
                    "extract": {"fileProperty": "filename"},
                    "transform": {"regex": r"^(.*)-\d{5}-of-\d{5}\.parquet$"},
                },
            },
            column("patch_id", "sc:Text", "stable patch id <site>_s<scene>_r<row>_c<col>"),
            column("index", "sc:Integer", "patch index in the Zarr archive"),
            column("site", "sc:Text", "event (site) id"),
            column("split", "sc:Text", "stored split: train, val, test or unseen"),
            column("collection", "sc:Integer", "1, 2 or 3 for a scored test set (Table 2)"),
            column("crs", "sc:Text", "coordinate reference system of the patch (empty: unknown)"),
            column(
                "bounds",
                "sc:Float",
                "left, bottom, right, top in `crs`",
                isArray=True,
                arrayShape="4",
            ),
            column(
                "image",
                "sc:Float" if release.dtype.kind == "f" else "sc:Integer",
                f"{release.dtype.name} ({n_bands}, {size}, {size}), bands "
                + ",".join(release.bands),
                isArray=True,
                arrayShape=f"{n_bands},{size},{size}",
                **{
                    "geocr:bandConfiguration": _band_configuration(release),
                    **(
                        {"geocr:spectralBandMetadata": _spectral_bands(release)}
                        if _spectral_bands(release)
                        else {}
                    ),
                },
            ),
            column(
                "mask",
                "sc:Integer",
                f"uint8 ({size}, {size}), 1 = landslide",
                isArray=True,
                arrayShape=f"{size},{size}",
            ),
            {
                "@type": "cr:Field",
                "@id": "patches/preview",
                "name": "preview",
                "description": f"8-bit PNG rendering of bands {shown}, 2-98 % stretch",
                "dataType": "sc:ImageObject",
                "source": {
                    **source,
                    "extract": {"column": "preview"},
                    "transform": {"jsonPath": "bytes"},
                },
            },
        ],
    }


def write_card(release_path: str | os.PathLike[str]) -> Path:
    """Write ``README.md`` (the card) and ``croissant.json`` into a release directory.

    Works on a release that is still in its temporary directory (the builder calls it just
    before moving the release into place). Returns the card's path. A pulled release is never
    rewritten: its card is the published one, checked against ``derived.json``.
    """
    from hrgldd_data.archive import Release
    from hrgldd_data.errors import ArchiveError
    from hrgldd_data.hub.cache import in_pull_cache

    if in_pull_cache(release_path):
        raise ArchiveError(
            f"{release_path}: a pulled release (in the cache of `hrgldd pull`) is never modified; "
            "its card is the published one. Copy the release elsewhere to write a card for it"
        )
    release = Release(release_path)
    card = release.path / CARD
    text = render_card(release)
    kept = _leaderboard_block(card.read_text()) if card.is_file() else None
    atomic_write(card, text)
    if kept and kept != _leaderboard_block(text):  # a regenerated card keeps the baselines' scores
        update_leaderboard(card, kept)
    croissant = render_croissant(release, date_published=release.attrs.get("created"))
    atomic_write(
        release.path / CROISSANT, json.dumps(croissant, indent=2, ensure_ascii=False) + "\n"
    )
    return card


def _leaderboard_block(text: str) -> str | None:
    """The text between the leaderboard markers, or None when the card has none."""
    start, end = text.find(LEADERBOARD_START), text.find(LEADERBOARD_END)
    if start < 0 or end < start:
        return None
    return text[start + len(LEADERBOARD_START) : end].strip()


def update_leaderboard(card_path: str | os.PathLike[str], markdown: str) -> None:
    """Replace the text between the leaderboard markers of a card with ``markdown``."""
    card_path = Path(card_path)
    text = card_path.read_text()
    start, end = text.find(LEADERBOARD_START), text.find(LEADERBOARD_END)
    if start < 0 or end < start:
        raise InputError(
            f"{card_path}: no '{LEADERBOARD_START}' ... '{LEADERBOARD_END}' section; "
            "regenerate the card "
            "with `hrgldd card RELEASE` or add the two markers where the leaderboard belongs"
        )
    atomic_write(card_path, replace_leaderboard(text, markdown))


__all__ = [
    "LEADERBOARD_END",
    "LEADERBOARD_START",
    "NO_LEADERBOARD",
    "leaderboard_section",
    "render_card",
    "render_croissant",
    "replace_leaderboard",
    "update_leaderboard",
    "write_card",
]
