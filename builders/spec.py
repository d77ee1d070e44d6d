"""Declarative event and release files (TOML), validated with errors that name file and key.

An event file (``builders/events/<id>.toml``) describes one landslide event once: where its scenes
and inventory lie below a raw-data root, how scene bands map to the release's bands, and what to
cite. A release file (``builders/releases/<name>.toml``) lists events and fixes how they are cut
and split. Both are plain data so that a new event is a new file, not new code.

What the pixels are is declared, never guessed: a release is PlanetScope R,G,B,NIR uint16 (HR-GLDD)
unless its release file, or its events, declare a ``[sensor]`` table::

    [sensor]                       # in a release file; [imagery.sensor] in an event file
    name = "UAV (DJI Phantom 4 RTK)"   # or a known sensor: "planetscope", "sentinel-2"
    resolution_m = 0.5
    units = "8-bit RGB; DSM in metres"
    bands = ["red", "green", "blue", "dsm"]
    dtype = "float32"              # uint16 (default), uint8 or float32
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hrgldd_data.errors import InputError
from hrgldd_data.schema import (
    DATASET_SPLITS,
    DTYPES,
    PATCH_SIZE,
    ROLES,
    TRIGGERS,
    parse_version,
    release_dirname,
)
from hrgldd_data.sensors import PLANETSCOPE, Sensor, make_sensor

EVENTS_DIR = Path(__file__).parent / "events"
RELEASES_DIR = Path(__file__).parent / "releases"


@dataclass(frozen=True)
class SensorSpec:
    """A declared sensor: what the release's pixels are, and how they are stored."""

    sensor: Sensor
    dtype: str = "uint16"
    source: Path | None = None

    def same_as(self, other: SensorSpec) -> bool:
        return self.sensor == other.sensor and self.dtype == other.dtype


#: What a release stores when nothing else is declared: HR-GLDD's PlanetScope R,G,B,NIR.
DEFAULT_SENSOR = SensorSpec(PLANETSCOPE, "uint16")


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
    scale: float | None = None
    sensor: SensorSpec | None = None
    inventory_layer: str | None = None
    allow_outside_raw_root: bool = False
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
    """One release version: which events, what they store, and how they are cut and split."""

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
    sensor: SensorSpec = DEFAULT_SENSOR
    source: Path | None = None

    @property
    def dirname(self) -> str:
        return release_dirname(self.name, self.version)


def _load_toml(path: Path) -> dict[str, Any]:
    if path.exists() and not path.is_file():
        raise InputError(
            f"{path}: not a regular file (a folder, FIFO or device); give the .toml file itself"
        )
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


def _sensor(path: Path, table: dict[str, Any], where: str) -> SensorSpec:
    """A ``[sensor]`` table: a known sensor's name, or any name with its resolution and bands."""
    r = _Reader(path, table, where)
    name = r.take("name", str)
    resolution = r.take("resolution_m", (int, float), None)
    units = r.take("units", str, None)
    bands = r.take("bands", list, None)
    dtype = r.take("dtype", str, "uint16", choices=DTYPES)
    description = r.take("description", str, None)
    r.done()
    if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
        raise InputError(f"{path}: '{where}.resolution_m' must be a positive number of metres")
    if bands is not None and not all(isinstance(b, str) for b in bands):
        raise InputError(f"{path}: '{where}.bands' must be a list of band names")
    try:
        sensor = make_sensor(
            name, bands, resolution_m=resolution, units=units, description=description
        )
    except ValueError as err:
        raise InputError(
            f'{path}: \'{where}\': {err}; list the bands, e.g. bands = ["red", "green", '
            '"blue", "dsm"]'
        ) from err
    return SensorSpec(sensor, dtype, path)


def _band_mapping(path: Path, value: Any) -> str | dict[str, int]:
    """``imagery.bands``: "auto", or a table of band name -> 1-based index, no index twice."""
    example = "{ red = 3, green = 2, blue = 1, nir = 4 }"
    if isinstance(value, str):
        if value != "auto":
            raise InputError(
                f"{path}: 'imagery.bands' must be \"auto\" or a table like {example}, got {value!r}"
            )
        return value
    if not value or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value.values()
    ):
        raise InputError(
            f"{path}: 'imagery.bands' must map band names to 1-based band numbers, like "
            f"{example}; got {value}"
        )
    seen: dict[int, str] = {}
    for name, index in value.items():
        if index in seen:
            raise InputError(
                f"{path}: 'imagery.bands' gives band {index} to both {seen[index]!r} and "
                f"{name!r}; each band must come from its own raster band"
            )
        seen[index] = name
    return dict(value)


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
    bands = _band_mapping(path, imagery.take("bands", (str, dict), "auto"))
    crs = imagery.take("crs", str, None)
    if crs is not None:
        _check_crs(path, crs)
    scale = imagery.take("scale", (int, float), None)
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise InputError(
            f"{path}: 'imagery.scale' must be a positive number (10000 turns 0–1 reflectance "
            f"into the stored 0–10000), got {scale}"
        )
    sensor_table = imagery.take("sensor", dict, None)
    sensor = _sensor(path, sensor_table, "imagery.sensor") if sensor_table is not None else None
    if sensor is not None and isinstance(bands, dict):
        _check_mapping_names(path, bands, sensor.sensor.band_names, "its imagery.sensor")
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
        crs=crs,
        scale=None if scale is None else float(scale),
        sensor=sensor,
        inventory=inventory.take("path", str),
        inventory_layer=inventory.take("layer", str, None),
        allow_outside_raw_root=r.take("allow_outside_raw_root", bool, False),
        source=path,
    )
    for reader in (r, imagery, inventory):
        reader.done()
    return spec


def _check_crs(path: Path, crs: str) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_user_input(crs)
    except CRSError as err:
        raise InputError(
            f"{path}: 'imagery.crs' {crs!r} is not a CRS that PROJ knows ({err}); give a known "
            'EPSG code such as "EPSG:32645", or a WKT string'
        ) from err


def _check_mapping_names(
    path: Path, mapping: dict[str, int], bands: tuple[str, ...], what: str
) -> None:
    if sorted(mapping) != sorted(bands):
        raise InputError(
            f"{path}: 'imagery.bands' must map exactly {list(bands)} ({what}) to 1-based band "
            f"numbers, got {mapping}"
        )


def _check_fractions(path: Path, split: dict[str, float]) -> None:
    if not all(math.isfinite(v) and v >= 0 for v in split.values()) or not math.isclose(
        sum(split.values()), 1.0, abs_tol=1e-6
    ):
        raise InputError(
            f"{path}: split fractions must be finite, non-negative and sum to 1, got {split}; "
            "e.g. train = 0.6, val = 0.2, test = 0.2"
        )


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
    split_table = _Reader(
        path, r.take("split", dict, {"train": 0.6, "val": 0.2, "test": 0.2}), "split"
    )
    split = {name_: float(split_table.take(name_, (int, float))) for name_ in DATASET_SPLITS}
    split_table.done()
    _check_fractions(path, split)
    patch_size = r.take("patch_size", int, PATCH_SIZE)
    if patch_size != PATCH_SIZE:
        raise InputError(
            f"{path}: patch_size {patch_size} is not supported; HR-GLDD patches are {PATCH_SIZE}"
        )
    threshold = float(r.take("nodata_threshold", (int, float), 0.5))
    if not (math.isfinite(threshold) and 0 <= threshold < 1):
        raise InputError(f"{path}: 'nodata_threshold' must be in [0, 1), got {threshold}")
    seed = r.take("seed", int, 42)
    if seed < 0:
        raise InputError(f"{path}: 'seed' must be a non-negative integer, got {seed}")
    sensor_table = r.take("sensor", dict, None)
    declared = _sensor(path, sensor_table, "sensor") if sensor_table is not None else None
    spec = ReleaseSpec(
        name=name,
        version=version.removeprefix("v"),
        events=tuple(events),
        description=r.take("description", str, ""),
        notes=r.take("notes", str, ""),
        patch_size=patch_size,
        seed=seed,
        split=split,
        nodata_threshold=threshold,
        synthetic=r.take("synthetic", bool, False),
        license=r.take("license", str, "CC-BY-4.0"),
        source=path,
    )
    r.done()
    loaded = load_events(spec)
    sensor = release_sensor(spec, declared, loaded)
    return replace(spec, sensor=sensor)


def load_events(spec: ReleaseSpec) -> list[EventSpec]:
    """The release's events, each once: refused when two entries are one file or share an id."""
    by_path: dict[Path, str] = {}
    by_id: dict[str, Path] = {}
    loaded = []
    for entry in spec.events:
        where = event_path(spec, entry)
        file = (Path(where) if isinstance(where, Path) else EVENTS_DIR / f"{where}.toml").resolve()
        if file in by_path:
            raise InputError(
                f"{spec.source}: events {by_path[file]!r} and {entry!r} are the same event file "
                f"{file}; list each event once"
            )
        by_path[file] = entry
        event = load_event(where)
        if event.id in by_id:
            raise InputError(
                f"{spec.source}: events {by_id[event.id]} and {event.source} both have id "
                f"{event.id!r}; an event is listed once (remove one, or give it its own id and "
                "file name)"
            )
        by_id[event.id] = event.source or file
        loaded.append(event)
    return loaded


def release_sensor(
    spec: ReleaseSpec, declared: SensorSpec | None, events: list[EventSpec]
) -> SensorSpec:
    """The one sensor of a release: its own ``[sensor]``, else its events' (all the same), else
    PlanetScope R,G,B,NIR. Explicit band mappings must name exactly its bands."""
    chosen = declared
    for event in events:
        if event.sensor is None:
            continue
        if chosen is None:
            chosen = event.sensor
        elif not chosen.same_as(event.sensor):
            raise InputError(
                f"{event.source}: its imagery.sensor ({event.sensor.sensor.name}, bands "
                f"{list(event.sensor.sensor.band_names)}, {event.sensor.dtype}) differs from "
                f"{chosen.source}'s ({chosen.sensor.name}, {list(chosen.sensor.band_names)}, "
                f"{chosen.dtype}); a release stores one sensor: declare it once in the "
                f"release file's [sensor] table"
            )
    chosen = chosen or DEFAULT_SENSOR
    for event in events:
        if isinstance(event.bands, dict):
            _check_mapping_names(
                event.source, event.bands, chosen.sensor.band_names, f"the bands of {spec.name}"
            )
    return chosen


def event_path(spec: ReleaseSpec, event: str) -> str | Path:
    """An event entry of a release: an id in ``builders/events``, or a ``.toml`` path relative
    to the release file."""
    if event.endswith(".toml") and spec.source is not None:
        return (spec.source.parent / event).resolve()
    return event
