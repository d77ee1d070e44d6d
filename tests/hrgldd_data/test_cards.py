"""Dataset card and Croissant metadata generated from a release."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from factories import synthetic_patches

from hrgldd_cli import cli
from hrgldd_data.archive import Release
from hrgldd_data.cards import (
    LEADERBOARD_END,
    LEADERBOARD_START,
    render_card,
    render_croissant,
    size_category,
    update_leaderboard,
    write_card,
)
from hrgldd_data.changelog import VersionInfo
from hrgldd_data.manifest import read_manifest, verify_release
from hrgldd_data.schema import SPLIT_CODES
from hrgldd_data.writer import ReleaseWriter

CARDS_DIR = Path(__file__).resolve().parents[2] / "cards"
TABLE1 = Path(__file__).resolve().parents[3] / "shared" / "paper" / "table1_sites.csv"
#: Three events of the paper's Table 1 (two dataset sites, one unseen) with their statistics.
PAPER_ROWS = [
    {
        "site_id": "kodagu_2018",
        "study_area": "Kodagu",
        "country": "India",
        "year": "2018",
        "trigger": "rainfall",
        "study_area_km2": "4033.62",
        "n_landslides": "343",
        "min_landslide_area_m2": "276.23",
        "max_landslide_area_m2": "581342.19",
        "total_landslide_area_km2": "5.67",
        "inventory_source": "Meena et al. 2021a",
        "role": "train",
    },
    {
        "site_id": "rolante_2017",
        "study_area": "Rolante",
        "country": "Brazil",
        "year": "2017",
        "trigger": "rainfall",
        "study_area_km2": "24.62",
        "n_landslides": "113",
        "min_landslide_area_m2": "381.76",
        "max_landslide_area_m2": "81277.53",
        "total_landslide_area_km2": "0.67",
        "inventory_source": "Soares et al. 2022b",
        "role": "train",
    },
    {
        "site_id": "haiti_2021",
        "study_area": "Tiburon Peninsula",
        "country": "Haiti",
        "year": "2021",
        "trigger": "earthquake",
        "study_area_km2": "130.85",
        "n_landslides": "1394",
        "min_landslide_area_m2": "200.74",
        "max_landslide_area_m2": "473696",
        "total_landslide_area_km2": "8.24",
        "inventory_source": "this study",
        "role": "unseen",
    },
]


@pytest.fixture(scope="module")
def paper_release(tmp_path_factory) -> Path:
    """A 30-patch release whose sites carry the paper's Table-1 metadata and statistics."""
    if TABLE1.is_file():  # the real table when the shared folder is there; same numbers otherwise
        wanted = {row["site_id"] for row in PAPER_ROWS}
        rows = [row for row in csv.DictReader(TABLE1.open()) if row["site_id"] in wanted]
        rows.sort(key=lambda r: [p["site_id"] for p in PAPER_ROWS].index(r["site_id"]))
    else:
        rows = PAPER_ROWS
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("paper_release")
    sites, split = [], []
    with ReleaseWriter(root, "hr_gldd", "1.2.0", shard_patches=8) as writer:
        for code, row in enumerate(rows):
            images, masks = synthetic_patches(10, rng)
            minus = np.full(10, -1)
            writer.append(images, masks, site=np.full(10, code), scene=minus, row=minus, col=minus)
            split += (
                [SPLIT_CODES["unseen"]] * 10
                if row["role"] == "unseen"
                else [0] * 6 + [1] * 2 + [2] * 2
            )
            stats = {
                k: float(row[k])
                for k in (
                    "study_area_km2",
                    "min_landslide_area_m2",
                    "max_landslide_area_m2",
                    "total_landslide_area_km2",
                )
            }
            sites.append(
                {
                    "id": row["site_id"],
                    "role": row["role"],
                    "trigger": row["trigger"],
                    "country": row["country"],
                    "study_area": row["study_area"],
                    "year": int(row["year"]),
                    "date": None,
                    "inventory_source": row["inventory_source"],
                    "stats": stats | {"n_landslides": int(row["n_landslides"]), "n_patches": 10},
                }
            )
        attrs = {
            "sites": sites,
            "scenes": [],
            "description": "Test release.",
            "notes": "Third events.",
            "license": "CC-BY-4.0",
            "split_seed": 7,
        }
        return writer.finish(np.array(split), attrs)


def _text(value) -> str:
    """mlcroissant returns text fields as bytes or str depending on the source."""
    return value.decode() if isinstance(value, bytes) else value


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_card_front_matter_and_sections(paper_release):
    card = render_card(Release(paper_release), repo="hr-gldd/hr-gldd")
    meta = _front_matter(card)
    assert meta["license"] == "cc-by-4.0"
    assert meta["task_categories"] == ["image-segmentation"]
    assert meta["size_categories"] == ["n<1K"]
    assert "landslides" in meta["tags"] and "synthetic" not in meta["tags"]
    assert meta["pretty_name"].startswith("HR-GLDD")
    # Bands in stored order with units, each event with trigger, place and Table-1 statistics.
    assert card.index("| 0 | red |") < card.index("| 1 | green |") < card.index("| 3 | nir |")
    assert "scaled by 10 000" in card
    assert (
        "| `kodagu_2018` | Kodagu, India | rainfall | 2018 | dataset | 343 | 276.23 | 581,342.19 | "
        "5.67 | 4,033.62 | 10 | Meena et al. 2021a |" in card
    )
    assert (
        "| `haiti_2021` | Tiburon Peninsula, Haiti | earthquake | 2021 | unseen | 1,394 |" in card
    )
    assert "Meena et al. 2023 (mapped for HR-GLDD) — haiti_2021" in card
    # Splits and collections as the release counts them.
    assert "| **all** | 12 | 4 | 4 | 10 | 30 |" in card
    assert "| 2 | test split of each dataset site | `kodagu_2018`, `rolante_2017` | 4 |" in card
    assert "| 3 | every patch of each unseen event | `haiti_2021` | 10 |" in card
    assert "hrgldd pull --version 1.2.0 --repo hr-gldd/hr-gldd" in card
    # the Hugging Face stack reads the Parquet view: viewer on, one data_files entry per split
    assert meta["viewer"] is True
    (config,) = meta["configs"]
    assert config["config_name"] == "default" and config["default"] is True
    assert config["data_files"] == [
        {"split": name, "path": f"data/{name}-*.parquet"}
        for name in ("train", "validation", "test", "test_kodagu_2018", "test_rolante_2017")
    ] + [{"split": "unseen_haiti_2021", "path": "data/unseen_haiti_2021-*.parquet"}]
    features = {f["name"]: f for f in meta["dataset_info"]["features"]}
    assert features["image"]["dtype"] == {"array3_d": {"shape": [4, 128, 128], "dtype": "uint16"}}
    assert features["preview"]["dtype"] == "image"
    # load instructions that work as written: install from a checkout, repo= in every call
    assert 'pip install -c requirements/constraints.txt ".[all]"' in card
    assert "pip install hrgldd" not in card
    assert 'open_release(version="1.2.0", repo="hr-gldd/hr-gldd", download=True)' in card
    assert 'load_dataset("hr-gldd/hr-gldd", revision="v1.2.0")' in card
    assert 'HRGLDD(split="train", download=True, version="1.2.0", repo="hr-gldd/hr-gldd")' in card
    assert 'tfds.load("hr_gldd:1.2.0", split="train")' in card
    assert LEADERBOARD_START in card and LEADERBOARD_END in card
    assert "10.5194/essd-15-3283-2023" in card
    assert "- **1.2.0**: Third events." in card


def test_card_changelog_lists_every_version_newest_first(paper_release):
    history = [
        VersionInfo("1.0.0", "", "2026-01-02", "First."),
        VersionInfo("1.2.0", "", "2026-03-04", "Third events."),
    ]
    card = render_card(Release(paper_release), changelog=history)
    log = card.split("## Changelog")[1]
    assert log.index("**1.2.0** (2026-03-04): Third events.") < log.index(
        "**1.0.0** (2026-01-02): First."
    )


def test_croissant_validates_with_mlcroissant(paper_release, tmp_path):
    mlc = pytest.importorskip("mlcroissant")
    metadata = render_croissant(
        Release(paper_release), repo="hr-gldd/hr-gldd", date_published="2026-11-24"
    )
    path = tmp_path / "croissant.json"
    path.write_text(json.dumps(metadata))
    dataset = mlc.Dataset(jsonld=str(path))  # raises ValidationError on any error
    events = list(dataset.records("events"))
    assert [_text(e["events/site_id"]) for e in events] == [
        "kodagu_2018",
        "rolante_2017",
        "haiti_2021",
    ]
    assert [e["events/n_landslides"] for e in events] == [343, 113, 1394]
    splits = {
        (_text(r["splits/site_id"]), _text(r["splits/split"])): r["splits/n_patches"]
        for r in dataset.records("splits")
    }
    assert splits[("kodagu_2018", "train")] == 6 and splits[("haiti_2021", "unseen")] == 10
    manifest = read_manifest(paper_release)
    files = {f["name"]: f["sha256"] for f in metadata["distribution"] if "sha256" in f}
    assert all(files[rel] == entry["sha256"] for rel, entry in manifest["files"].items())
    assert "manifest.json" in files


def test_write_card_stays_outside_the_manifest(paper_release, tmp_path):
    copy = tmp_path / paper_release.name
    shutil.copytree(paper_release, copy)
    card = write_card(copy)
    assert card == copy / "README.md" and (copy / "croissant.json").is_file()
    verify_release(copy)  # the card files are not Zarr files and the manifest still matches
    assert "README.md" not in read_manifest(copy)["files"]


def test_update_leaderboard(paper_release, tmp_path):
    card = tmp_path / "README.md"
    card.write_text(render_card(Release(paper_release)))
    before = card.read_text()
    table = "| Model | F1 |\n|---|---|\n| U-Net | 0.71 ± 0.02 |"
    update_leaderboard(card, table)
    update_leaderboard(card, table)  # replacing twice leaves one copy
    after = card.read_text()
    assert after.count("| U-Net | 0.71 ± 0.02 |") == 1
    assert after.count(LEADERBOARD_START) == 1 and "No results yet" not in after
    head, tail = before.split(LEADERBOARD_START)[0], before.split(LEADERBOARD_END)[1]
    assert after.startswith(head) and after.endswith(tail)
    card.write_text("# no markers\n")
    with pytest.raises(ValueError, match="README.md: no '<!-- leaderboard:start -->'"):
        update_leaderboard(card, table)


def test_regenerating_a_card_keeps_its_leaderboard(paper_release, tmp_path):
    copy = tmp_path / paper_release.name
    shutil.copytree(paper_release, copy)
    card = write_card(copy)
    update_leaderboard(card, "| Model | F1 |\n|---|---|\n| U-Net | 0.71 |")
    write_card(copy)
    assert "| U-Net | 0.71 |" in card.read_text() and "No results yet" not in card.read_text()
    assert not list(copy.glob(".README.md.tmp-*"))


def test_legacy_release_card(legacy_release, tmp_path):
    mlc = pytest.importorskip("mlcroissant")
    release = Release(legacy_release)
    card = render_card(release)
    assert "Imported from the published arrays" in card and "collection 1" in card
    assert "| 1 | mixed test split of all dataset sites | `test` | 2 |" in card
    assert "test split of each dataset site" not in card and "carries no per-event metadata" in card
    path = tmp_path / "croissant.json"
    path.write_text(json.dumps(render_croissant(release)))
    mlc.Dataset(jsonld=str(path))


def test_size_category():
    assert [size_category(n) for n in (0, 999, 1000, 12_000, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]


def test_cli_card(paper_release, tmp_path):
    copy = tmp_path / paper_release.name
    shutil.copytree(paper_release, copy)
    out = CliRunner().invoke(cli, ["card", str(copy)])
    assert out.exit_code == 0, out.output
    assert (copy / "README.md").read_text().startswith("---\n")


def test_committed_sample_card():
    card_path = CARDS_DIR / "hr_gldd_sample-1.0.0.md"
    if not card_path.is_file():
        pytest.skip(f"{card_path} is generated at the end of the build (see cards/README.md)")
    card = card_path.read_text()
    assert _front_matter(card)["size_categories"]
    events = card.split("## Events")[1].split("## Splits")[0]
    assert sum(line.startswith("| `") for line in events.splitlines()) == 10


def test_committed_sample_croissant_validates():
    mlc = pytest.importorskip("mlcroissant")
    path = CARDS_DIR / "hr_gldd_sample-1.0.0.croissant.json"
    if not path.is_file():
        pytest.skip(f"{path} is generated at the end of the build (see cards/README.md)")
    assert len(list(mlc.Dataset(jsonld=str(path)).records("events"))) == 10


def test_croissant_patch_records_and_geocroissant(tiny_release, tmp_path):
    """The `patches` record set reads the Parquet view; GeoCroissant says resolution, bands, CRS."""
    mlc = pytest.importorskip("mlcroissant")
    from hrgldd_data.parquet import write_parquet_view
    from hrgldd_data.views import named_splits

    release = Release(tiny_release)
    write_parquet_view(release, tmp_path)
    metadata = render_croissant(release, date_published="2026-11-29")
    assert metadata["conformsTo"] == [
        "http://mlcommons.org/croissant/1.1",
        "http://mlcommons.org/croissant/geo/1.0",
    ]
    assert metadata["geocr:spatialResolution"] == {
        "@type": "QuantitativeValue",
        "value": release.sensor.resolution_m,
        "unitText": "m",
    }
    assert metadata["geocr:bandConfiguration"]["geocr:bandNameList"] == release.bands
    assert [b["name"] for b in metadata["geocr:spectralBandMetadata"]] == release.bands
    assert metadata["geocr:coordinateReferenceSystem"] == "EPSG:32643"
    path = tmp_path / "croissant.json"
    path.write_text(json.dumps(metadata))
    records = list(mlc.Dataset(jsonld=str(path)).records("patches"))
    expected = {
        (split.name, int(i)) for split in named_splits(release) for i in split.indices.tolist()
    }
    got = {(_text(r["patches/view_split"]), int(r["patches/index"])) for r in records}
    assert got == expected and len(records) == len(expected)
    record = next(r for r in records if _text(r["patches/view_split"]) == "unseen_gamma_2021")
    index = int(record["patches/index"])
    image, mask = release.read([index])
    assert np.array_equal(np.asarray(record["patches/image"]), image[0])
    assert np.array_equal(np.asarray(record["patches/mask"]), mask[0])
    assert _text(record["patches/patch_id"]) == release.patch_id(index)
    assert _text(record["patches/crs"]) == "EPSG:32643"
    assert record["patches/collection"] == 3
    assert record["patches/preview"].size == (128, 128)
