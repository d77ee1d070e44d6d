"""Which band of a raster is which: the one band-mapping rule of the product.

The builder (event files' ``imagery.bands``), the patch importer and ``hrgldd map`` all ask
:func:`map_bands` for the 1-based indexes of the bands they want (a release's or a model's band
names, e.g. ``red, green, blue, nir``):

- an explicit mapping ``{name: 1-based index}`` is taken as given (checked against the band count,
  and no index may serve two names);
- ``"auto"`` reads the band descriptions (``sensors.canonical_band``: ``Red``, ``NIR``, ``B04``...).
  When every wanted band is described, that is the answer. When descriptions exist but do not name
  every wanted band, the raster is refused, naming what is missing: guessing then swapped red and
  blue on an RGB + DSM scene. Only a raster with **no** band descriptions at all falls back to the
  PlanetScope order of its band count (4: B,G,R,NIR; 8: SuperDove).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hrgldd_data.errors import InputError
from hrgldd_data.sensors import canonical_band

#: Band order of PlanetScope products by band count, for rasters that carry no band descriptions.
PLANETSCOPE_ORDER: dict[int, tuple[str, ...]] = {
    4: ("blue", "green", "red", "nir"),
    8: ("coastal_blue", "blue", "green_i", "green", "yellow", "red", "rededge", "nir"),
}


def parse_band_mapping(text: str) -> str | dict[str, int]:
    """``"auto"`` or a mapping written ``red=3,green=2,blue=1,nir=4`` (as on a command line)."""
    text = text.strip()
    if text.lower() == "auto":
        return "auto"
    mapping: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, index = part.partition("=")
        if not sep or not index.strip().isdigit():
            raise ValueError(
                f"band mapping {text!r}: write name=1-based-index pairs, e.g. red=3,green=2,blue=1"
            )
        mapping[name.strip().lower()] = int(index)
    return mapping


def map_bands(
    descriptions: Sequence[str | None],
    wanted: Sequence[str],
    mapping: str | Mapping[str, int] = "auto",
    *,
    source: str,
    spec: str | None = None,
) -> tuple[int, ...]:
    """1-based indexes of the ``wanted`` bands in a raster with these band ``descriptions``.

    Args:
        descriptions: one entry per band of the raster (``rasterio``'s ``src.descriptions``).
        wanted: band names to find, in the order to return them.
        mapping: ``"auto"`` or an explicit ``{name: 1-based index}``.
        source: the raster (named in errors).
        spec: where the mapping came from (an event file, an option), named in errors.

    Raises:
        InputError: a band is missing, out of range, repeated, or the mapping is ambiguous.
    """
    count = len(descriptions)
    where = f" (set in {spec})" if spec else ""
    example = ", ".join(f"{name}={i}" for i, name in enumerate(wanted, start=1))
    if not isinstance(mapping, str):
        missing = [name for name in wanted if name not in mapping]
        if missing:
            raise InputError(
                f"{source}: the band mapping{where} does not name {missing}; give every band "
                f"of {list(wanted)} a 1-based index, e.g. {example}"
            )
        indexes = tuple(int(mapping[name]) for name in wanted)
        bad = {name: mapping[name] for name in wanted if not 1 <= int(mapping[name]) <= count}
        if bad:
            raise InputError(
                f"{source}: has {count} band(s) but the band mapping{where} asks for {bad}"
            )
        _refuse_repeats(indexes, wanted, source, where)
        return indexes
    if mapping != "auto":
        raise InputError(f"{source}: band mapping{where} must be 'auto' or name=index pairs")
    names = [canonical_band(d) for d in descriptions]
    if any(names):
        positions: dict[str, list[int]] = {}
        for index, name in enumerate(names, start=1):
            if name:
                positions.setdefault(name, []).append(index)
        missing = [name for name in wanted if name not in positions]
        repeated = {name: positions[name] for name in wanted if len(positions.get(name, [])) > 1}
        if missing or repeated:
            problem = (
                f"its band descriptions {list(descriptions)} do not name {missing}"
                if missing
                else f"its band descriptions name {repeated} more than once"
            )
            raise InputError(
                f"{source}: cannot map bands automatically: {problem}. Give the mapping "
                f"explicitly{where}, e.g. {example}"
            )
        return tuple(positions[name][0] for name in wanted)
    order = PLANETSCOPE_ORDER.get(count)
    if order is None or any(name not in order for name in wanted):
        raise InputError(
            f"{source}: cannot map its {count} undescribed band(s) to {list(wanted)}: expected "
            "a 4-band (B,G,R,NIR) or 8-band PlanetScope product. Give the mapping "
            f"explicitly{where}, e.g. {example}"
        )
    return tuple(order.index(name) + 1 for name in wanted)


def _refuse_repeats(
    indexes: tuple[int, ...], wanted: Sequence[str], source: str, where: str
) -> None:
    seen: dict[int, str] = {}
    for name, index in zip(wanted, indexes, strict=True):
        if index in seen:
            raise InputError(
                f"{source}: the band mapping{where} gives band {index} to both {seen[index]!r} "
                f"and {name!r}; each band must come from its own raster band"
            )
        seen[index] = name


__all__ = ["PLANETSCOPE_ORDER", "map_bands", "parse_band_mapping"]
