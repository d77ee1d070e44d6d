"""Event and release files: the shipped ones load; bad ones fail naming the file and key."""

from __future__ import annotations

import pytest

from builders.spec import EVENTS_DIR, RELEASES_DIR, load_event, load_release
from hrgldd_data.errors import InputError


def test_shipped_events_cover_the_papers_ten_sites(shared_dir):
    import csv

    table = {
        row["site_id"]: row
        for row in csv.DictReader(open(shared_dir / "paper" / "table1_sites.csv"))
    }
    events = {p.stem: load_event(p) for p in EVENTS_DIR.glob("*.toml")}
    assert set(events) == set(table)
    for site, event in events.items():
        assert event.role == table[site]["role"]
        assert event.trigger == table[site]["trigger"]
        assert event.year == int(table[site]["year"])
    assert {e.id for e in events.values() if e.role == "unseen"} == {"haiti_2021", "sumatra_2022"}


@pytest.mark.parametrize("release", sorted(p.name for p in RELEASES_DIR.glob("*.toml")))
def test_shipped_releases_load(release):
    spec = load_release(RELEASES_DIR / release)
    assert len(spec.events) == 10
    assert spec.split == {"train": 0.6, "val": 0.2, "test": 0.2}


def test_unknown_event_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown event 'atlantis_2030'.*kodagu_2018"):
        load_event("atlantis_2030")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('trigger = "rainfall"\n', ""), "missing key 'trigger'"),
        (lambda t: t.replace('"rainfall"', '"volcano"'), "'trigger' is 'volcano'; choose one of"),
        (lambda t: t.replace("year = 2020", 'year = "2020"'), "'year' must be int"),
        (lambda t: t + 'colour = "red"\n', r"unknown key\(s\) \['inventory.colour'\]"),
        (
            lambda t: t.replace("[imagery]", "[imagery]\nbands = { red = 1, green = 1 }"),
            "gives band 1 to both 'red' and 'green'",
        ),
        (
            lambda t: t.replace("[imagery]", '[imagery]\ncrs = "EPSG:999999"'),
            r"'imagery.crs' 'EPSG:999999' is not a CRS that PROJ knows",
        ),
        (lambda t: t.replace("[imagery]", "[imagery]\nscale = -1"), "'imagery.scale' must be"),
        (lambda t: t.replace('id = "testsite"', 'id = "other"'), "must match the file name"),
    ],
)
def test_bad_event_files_name_file_and_key(project, edit, message):
    path = project.event()
    path.write_text(edit(path.read_text()))
    with pytest.raises(InputError, match=message) as err:
        load_event(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('version = "1.0"', "not a semantic version"),
        ("[split]\ntrain = 0.7\nval = 0.2\ntest = 0.2", "sum to 1"),
        ("patch_size = 256", "patch_size 256 is not supported"),
        ("nodata_threshold = 1.5", "nodata_threshold"),
    ],
)
def test_bad_release_files(project, line, message):
    project.event()
    path = project.release()
    text = path.read_text()
    if line.startswith("version"):
        text = text.replace('version = "1.0.0"', line)
    else:
        text += line + "\n"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_release(path)


def test_release_naming_an_unknown_event(project):
    path = project.release(events=["kodagu_2018", "nowhere_2020"])
    with pytest.raises(InputError, match="unknown event 'nowhere_2020'"):
        load_release(path)


def test_explicit_mapping_must_name_the_release_bands(project):
    path = project.event(extra_imagery="bands = { red = 1, green = 2 }")
    with pytest.raises(InputError, match=r"testsite\.toml: 'imagery.bands' must map exactly"):
        load_release(project.release())
    assert str(path)


def test_release_sensor_is_declared_once(project):
    sensor = (
        '[imagery.sensor]\nname = "UAV"\nresolution_m = 0.5\n'
        'bands = ["red", "green", "blue", "dsm"]'
    )
    project.event(extra_imagery=sensor)
    spec = load_release(project.release())
    assert spec.sensor.sensor.band_names == ("red", "green", "blue", "dsm")
    assert spec.sensor.sensor.resolution_m == 0.5 and spec.sensor.dtype == "uint16"
    release = project.release()
    release.write_text(release.read_text() + '[sensor]\nname = "planetscope"\n')
    with pytest.raises(InputError, match=r"its imagery.sensor \(UAV.*differs from .*release-1.0.0"):
        load_release(release)
