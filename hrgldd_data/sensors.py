"""What a release's pixels are: the sensor, its ground resolution, and each stored band.

A release records these in its attributes (``sensor``, ``bands``, ``band_info``), the builder and
the importers write them, and every reader (loaders, baselines, mapping, the card) takes them from
there: HR-GLDD releases are PlanetScope R,G,B,NIR at 3 m; a release of Sentinel-2 RGB patches or
of UAV RGB + DSM says so, and is never described as PlanetScope.

Band names are lower-case words of the field (``red``, ``nir``, ``swir1``, ``dem``, ``slope``);
:func:`canonical_band` maps the spellings found in band descriptions (``Near-Infrared``, ``B04``,
``NIR``) onto them, and is the one place that knows those spellings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Band:
    """One stored band: its name and, for optical bands, its wavelength range in nm."""

    name: str
    wavelength_nm: tuple[float, float] | None = None
    description: str = ""

    def to_attrs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wavelength_nm": list(self.wavelength_nm) if self.wavelength_nm else None,
            "description": self.description,
        }

    @classmethod
    def from_attrs(cls, data: dict[str, Any]) -> Band:
        wavelength = data.get("wavelength_nm")
        return cls(
            str(data["name"]),
            tuple(wavelength) if wavelength else None,
            data.get("description", ""),
        )

    @property
    def wavelength_text(self) -> str:
        """``590–670 nm``, or an em dash for a band without a wavelength (elevation, slope)."""
        if not self.wavelength_nm:
            return "—"
        low, high = self.wavelength_nm
        return f"{low:g}–{high:g} nm"


@dataclass(frozen=True)
class Sensor:
    """The imagery of a release: platform, ground resolution, pixel units and band order."""

    name: str
    resolution_m: float | None
    units: str
    bands: tuple[Band, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(band.name for band in self.bands)

    def to_attrs(self) -> dict[str, Any]:
        """The ``sensor`` attribute of a release (bands are stored beside it)."""
        return {
            "name": self.name,
            "resolution_m": self.resolution_m,
            "units": self.units,
            "description": self.description,
        }

    @classmethod
    def from_attrs(cls, sensor: dict[str, Any], band_info: list[dict[str, Any]]) -> Sensor:
        return cls(
            name=str(sensor.get("name") or "unknown"),
            resolution_m=sensor.get("resolution_m"),
            units=str(sensor.get("units") or ""),
            bands=tuple(Band.from_attrs(b) for b in band_info),
            description=str(sensor.get("description") or ""),
        )

    def with_bands(self, names: list[str] | tuple[str, ...]) -> Sensor:
        """The same sensor keeping ``names`` in that order (wavelengths from this sensor)."""
        known = {band.name: band for band in self.bands}
        missing = [n for n in names if n not in known]
        if missing:
            raise ValueError(f"{self.name} has no band(s) {missing}; its bands: {list(known)}")
        return Sensor(
            self.name,
            self.resolution_m,
            self.units,
            tuple(known[n] for n in names),
            self.description,
        )


#: PlanetScope Dove-Classic 4-band ranges (the HR-GLDD imagery), and SuperDove's 8 bands.
_PLANETSCOPE_BANDS = (
    Band("coastal_blue", (431, 452)),
    Band("blue", (455, 515)),
    Band("green_i", (513, 549)),
    Band("green", (500, 590)),
    Band("yellow", (600, 620)),
    Band("red", (590, 670)),
    Band("rededge", (697, 713)),
    Band("nir", (780, 860)),
)
#: The HR-GLDD imagery: PlanetScope surface reflectance, stored as R, G, B, NIR.
PLANETSCOPE = Sensor(
    "PlanetScope",
    3.0,
    "surface reflectance scaled by 10 000, as delivered",
    _PLANETSCOPE_BANDS,
    "PlanetScope (Planet Labs) 4-band analytic surface reflectance",
).with_bands(("red", "green", "blue", "nir"))

#: Sentinel-2 MSI bands (approximate S2A ranges), named as the field names them.
SENTINEL2 = Sensor(
    "Sentinel-2 MSI",
    10.0,
    "top-of-atmosphere or surface reflectance",
    (
        Band("coastal", (433, 453), "B1"),
        Band("blue", (458, 523), "B2"),
        Band("green", (543, 578), "B3"),
        Band("red", (650, 680), "B4"),
        Band("rededge1", (698, 713), "B5"),
        Band("rededge2", (733, 748), "B6"),
        Band("rededge3", (773, 793), "B7"),
        Band("nir", (785, 900), "B8"),
        Band("nir_narrow", (855, 875), "B8A"),
        Band("water_vapour", (935, 955), "B9"),
        Band("cirrus", (1360, 1390), "B10"),
        Band("swir1", (1565, 1655), "B11"),
        Band("swir2", (2100, 2280), "B12"),
        Band("slope", None, "terrain slope"),
        Band("dem", None, "elevation"),
    ),
    "Copernicus Sentinel-2 multispectral instrument",
)

#: Sensors an importer or event file can name (``sensor = "planetscope"``), by key.
SENSORS: dict[str, Sensor] = {"planetscope": PLANETSCOPE, "sentinel-2": SENTINEL2}

#: Spellings of band descriptions -> canonical band name (lower case, '-'/' ' as '_').
_SYNONYMS: dict[str, str] = {
    "r": "red",
    "g": "green",
    "b": "blue",
    "near_infrared": "nir",
    "near_ir": "nir",
    "nir1": "nir",
    "infrared": "nir",
    "coastal_aerosol": "coastal",
    "coastal_blue": "coastal_blue",
    "red_edge": "rededge",
    "elevation": "dem",
    "dtm": "dem",
    "height": "dsm",
    "digital_surface_model": "dsm",
    "digital_elevation_model": "dem",
    "grey": "gray",
    "grayscale": "gray",
    "panchromatic": "pan",
}
#: Sentinel-2 band ids (B4, B04, b8a) -> canonical names.
_S2_IDS: dict[str, str] = {
    (band.description or "").lower(): band.name
    for band in SENTINEL2.bands
    if band.description.startswith("B")
}


def canonical_band(description: str | None) -> str | None:
    """The canonical name of a band description (``"Near-Infrared"`` -> ``nir``), or None if empty.

    Unknown words are returned normalized (lower case, ``_`` for spaces and dashes), so a
    description such as ``dsm`` or ``thermal_inertia`` keeps its meaning.
    """
    text = re.sub(r"[\s\-]+", "_", (description or "").strip().lower())
    if not text:
        return None
    sentinel = re.fullmatch(r"b0?(\d{1,2}a?)", text)
    if sentinel and f"b{sentinel.group(1)}" in _S2_IDS:
        return _S2_IDS[f"b{sentinel.group(1)}"]
    return _SYNONYMS.get(text, text)


def describe_bands(
    names: list[str] | tuple[str, ...], sensor: Sensor | None = None
) -> tuple[Band, ...]:
    """Bands ``names`` with the wavelengths ``sensor`` knows for them (none for unknown names)."""
    known = {band.name: band for band in sensor.bands} if sensor else {}
    return tuple(known.get(name, Band(name)) for name in names)


def _sensor_key(text: str) -> str:
    return re.sub(r"[\s\-_]+", "", text.strip().lower())


_SENSOR_ALIASES: dict[str, str] = {
    "planetscope": "planetscope",
    "planet": "planetscope",
    "ps": "planetscope",
    "sentinel2": "sentinel-2",
    "sentinel2msi": "sentinel-2",
    "s2": "sentinel-2",
}


def known_sensor(name: str | None) -> Sensor | None:
    """The sensor ``name`` refers to (``planetscope``, ``sentinel-2``, ``S2``...), or None."""
    if not name:
        return None
    key = _SENSOR_ALIASES.get(_sensor_key(name))
    return SENSORS.get(key) if key else None


def make_sensor(
    name: str | None,
    bands: list[str] | tuple[str, ...] | None = None,
    *,
    resolution_m: float | None = None,
    units: str | None = None,
    description: str | None = None,
) -> Sensor:
    """The sensor of a release from what a user declares (event file, release file, importer).

    A known sensor (:func:`known_sensor`) lends its name, resolution, units and the wavelengths of
    the bands it knows; ``bands`` (names, canonicalized) choose and order the stored bands (by
    default a known sensor's own list). Anything else becomes a sensor of that name with the
    given resolution and units and bands without wavelengths: a UAV RGB + DSM survey is described
    as what it is, never as PlanetScope.
    """
    base = known_sensor(name)
    names = [canonical_band(b) or "" for b in bands] if bands is not None else None
    if names is not None and (not names or not all(names)):
        raise ValueError(f"band names {list(bands or [])} must be non-empty words")
    if names is not None and len(set(names)) != len(names):
        raise ValueError(f"band names {names} name a band more than once")
    if base is not None:
        return Sensor(
            base.name,
            base.resolution_m if resolution_m is None else float(resolution_m),
            base.units if units is None else units,
            describe_bands(names, base) if names is not None else base.bands,
            base.description if description is None else description,
        )
    if names is None:
        raise ValueError(f"sensor {name!r} is not one hrgldd knows; declare its band names")
    return Sensor(
        name or "unknown",
        None if resolution_m is None else float(resolution_m),
        units or "",
        describe_bands(names, None),
        description or "",
    )


__all__ = [
    "PLANETSCOPE",
    "SENSORS",
    "SENTINEL2",
    "Band",
    "Sensor",
    "canonical_band",
    "describe_bands",
    "known_sensor",
    "make_sensor",
]
