"""Declarative event and release files (TOML), validated with errors that name file and key.

An event file (``builders/events/<id>.toml``) describes one landslide event once: where its scenes
and inventory lie below a raw-data root, how scene bands map to R,G,B,NIR, and what to cite.
A release file (``builders/releases/<name>.toml``) lists events and fixes how they are cut
and split. Both are plain data so that a new event is a new file, not new code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrgldd_data.errors import InputError
from hrgldd_data.schema import (
    BANDS,
    DATASET_SPLITS,
    PATCH_SIZE,
    ROLES,
    TRIGGERS,
    parse_version,
    release_dirname,
)

EVENTS_DIR = Path(__file__).parent / "events"
RELEASES_DIR = Path(__file__).parent / "releases"


@dataclass(frozen=True)
class EventSpec:
    """One landslide event: a site of the dataset (role ``train``) or an unseen event."""

    id: str
    study_area: str
    country: str
    year: int
    trigger: str
    role: str
    inventory_source: str
    citation: str
    scenes: tuple[str, ...]
    inventory: str
    date: str | None = None
    satellite: str = "PlanetScope"
    bands: str | dict[str, int] = "auto"
    crs: str | None = None
    inventory_layer: str | None = None
    source: Path | None = None

    def metadata(self) -> dict[str, Any]:
        """The event's facts as stored in a release's site attributes."""
        return {
            "id": self.id,
            "study_area": self.study_area,
            "country": self.country,
            "year": self.year,
            "date": self.date,
            "trigger": self.trigger,
            "role": self.role,
            "satellite": self.satellite,
            "inventory_source": self.inventory_source,
            "citation": self.citation,
        }


@dataclass(frozen=True)
class ReleaseSpec:
    """One release version: which events, and how they are cut and split."""

    name: str
    version: str
    events: tuple[str, ...]
    description: str = ""
    notes: str = ""
    patch_size: int = PATCH_SIZE
    seed: int = 42
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.6, "val": 0.2, "test": 0.2})
    nodata_threshold: float = 0.5
    synthetic: bool = False
    license: str = "CC-BY-4.0"
    source: Path | None = None

    @property
    def dirname(self) -> str:
        return release_dirname(self.name, self.version)


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid TOML ({err})") from err


class _Reader:
    """Takes keys out of a TOML table, so that leftover (misspelt) keys can be reported."""

    def __init__(self, path: Path, table: dict[str, Any], where: str = "") -> None:
        self.path, self.table, self.where = path, dict(table), where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def take(
        self, key: str, kind: type | tuple[type, ...], default: Any = ..., choices: tuple = ()
    ) -> Any:
        if key not in self.table:
            if default is ...:
                raise InputError(f"{self.path}: missing key '{self._name(key)}'")
            return default
        value = self.table.pop(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise InputError(f"{self.path}: '{self._name(key)}' must be {names}, got {value!r}")
        if choices and value not in choices:
            raise InputError(
                f"{self.path}: '{self._name(key)}' is {value!r}; choose one of {list(choices)}"
            )
        return value

    def done(self) -> None:
        if self.table:
            raise InputError(
                f"{self.path}: unknown key(s) {sorted(self._name(k) for k in self.table)}"
            )


def load_event(path_or_id: str | Path) -> EventSpec:
    """Read and validate an event file (a path, or an id looked up in ``builders/events``)."""
    path = Path(path_or_id)
    if path.suffix != ".toml":
        path = EVENTS_DIR / f"{path_or_id}.toml"
        if not path.is_file():
            known = sorted(p.stem for p in EVENTS_DIR.glob("*.toml"))
            raise InputError(f"unknown event {path_or_id!r}: no {path}. Known events: {known}")
    r = _Reader(path, _load_toml(path))
    event_id = r.take("id", str)
    if event_id != path.stem:
        raise InputError(f"{path}: id {event_id!r} must match the file name {path.stem!r}")
    imagery = _Reader(path, r.take("imagery", dict), "imagery")
    inventory = _Reader(path, r.take("inventory", dict), "inventory")
    scenes = imagery.take("scenes", list)
    if not scenes or not all(isinstance(s, str) for s in scenes):
        raise InputError(f"{path}: 'imagery.scenes' must be a non-empty list of paths or globs")
    bands = imagery.take("bands", (str, dict), "auto")
    if isinstance(bands, str) and bands != "auto":
        raise InputError(
            f"{path}: 'imagery.bands' must be \"auto\" or a table like {{ red = 3, green = 2, blue = 1, nir = 4 }}"
        )
    if isinstance(bands, dict):
        if sorted(bands) != sorted(BANDS) or not all(
            isinstance(v, int) and v >= 1 for v in bands.values()
        ):
            raise InputError(
                f"{path}: 'imagery.bands' must map exactly {list(BANDS)} to 1-based band numbers, got {bands}"
            )
    spec = EventSpec(
        id=event_id,
        study_area=r.take("study_area", str),
        country=r.take("country", str),
        year=r.take("year", int),
        date=r.take("date", str, None),
        trigger=r.take("trigger", str, choices=TRIGGERS),
        role=r.take("role", str, choices=ROLES),
        satellite=r.take("satellite", str, "PlanetScope"),
        inventory_source=r.take("inventory_source", str),
        citation=r.take("citation", str),
        scenes=tuple(scenes),
        bands=bands,
        crs=imagery.take("crs", str, None),
        inventory=inventory.take("path", str),
        inventory_layer=inventory.take("layer", str, None),
        source=path,
    )
    for reader in (r, imagery, inventory):
        reader.done()
    return spec


def load_release(path: str | Path) -> ReleaseSpec:
    """Read and validate a release file, including every event it names."""
    path = Path(path)
    r = _Reader(path, _load_toml(path))
    name = r.take("name", str)
    version = r.take("version", str)
    try:
        parse_version(version)
        release_dirname(name, version)
    except ValueError as err:
        raise InputError(f"{path}: {err}") from err
    events = r.take("events", list)
    if not events or not all(isinstance(e, str) for e in events):
        raise InputError(f"{path}: 'events' must be a non-empty list of event ids")
    if len(set(events)) != len(events):
        raise InputError(f"{path}: 'events' lists an event twice")
    split_table = _Reader(
        path, r.take("split", dict, {"train": 0.6, "val": 0.2, "test": 0.2}), "split"
    )
    split = {name_: float(split_table.take(name_, (int, float))) for name_ in DATASET_SPLITS}
    split_table.done()
    if any(v < 0 for v in split.values()) or abs(sum(split.values()) - 1) > 1e-6:
        raise InputError(f"{path}: split fractions must be non-negative and sum to 1, got {split}")
    patch_size = r.take("patch_size", int, PATCH_SIZE)
    if patch_size != PATCH_SIZE:
        raise InputError(
            f"{path}: patch_size {patch_size} is not supported; HR-GLDD patches are {PATCH_SIZE}"
        )
    threshold = float(r.take("nodata_threshold", (int, float), 0.5))
    if not 0 <= threshold < 1:
        raise InputError(f"{path}: 'nodata_threshold' must be in [0, 1), got {threshold}")
    spec = ReleaseSpec(
        name=name,
        version=version.removeprefix("v"),
        events=tuple(events),
        description=r.take("description", str, ""),
        notes=r.take("notes", str, ""),
        patch_size=patch_size,
        seed=r.take("seed", int, 42),
        split=split,
        nodata_threshold=threshold,
        synthetic=r.take("synthetic", bool, False),
        license=r.take("license", str, "CC-BY-4.0"),
        source=path,
    )
    r.done()
    for event in spec.events:
        load_event(event_path(spec, event))
    return spec


def event_path(spec: ReleaseSpec, event: str) -> str | Path:
    """An event entry of a release: an id in ``builders/events``, or a ``.toml`` path relative to the release file."""
    if event.endswith(".toml") and spec.source is not None:
        return (spec.source.parent / event).resolve()
    return event
