"""Landslide inventories: read any OGR vector, check it, repair its polygons, reproject it.

Real inventories come as shapefiles (often zipped, several per archive), GeoPackages or GeoJSON,
in any CRS, with null, empty and self-intersecting polygons. Null and empty features are dropped
and counted; invalid polygons are repaired with GEOS ``make_valid`` (structure method, keeping only
polygonal parts) and counted; points or lines are refused, since a landslide is an area.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from hrgldd_data.errors import InputError

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".kml")
_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass
class Inventory:
    """Landslide polygons of one event, one row per mapped landslide."""

    path: str
    gdf: gpd.GeoDataFrame
    n_read: int
    n_dropped_empty: int
    n_repaired: int

    @property
    def crs(self) -> CRS:
        return self.gdf.crs

    def __len__(self) -> int:
        return len(self.gdf)

    def report(self) -> dict[str, int | str]:
        return {
            "path": self.path,
            "features_read": self.n_read,
            "dropped_null_or_empty": self.n_dropped_empty,
            "repaired_invalid": self.n_repaired,
            "landslides": len(self.gdf),
        }


def vector_source(path: str | Path) -> str:
    """An OGR path for ``path``: plain files as they are; ``a.zip[!member.shp]`` via /vsizip.

    A zip holding one vector file needs no member; one holding several needs ``!member``.
    """
    text = str(path)
    archive, _, member = text.partition("!")
    if not archive.lower().endswith(".zip"):
        if not Path(text).exists():
            raise InputError(f"{text}: no such inventory file")
        _regular(Path(text), folder_ok=True)  # a FileGDB is a folder; a FIFO would hang OGR
        return text
    archive_path = Path(archive)
    if not archive_path.exists():
        raise InputError(f"{archive}: no such inventory file")
    _regular(archive_path, folder_ok=False)
    try:
        names = zipfile.ZipFile(archive_path).namelist()
    except zipfile.BadZipFile as err:
        raise InputError(f"{archive}: not a readable zip archive ({err})") from err
    vectors = [n for n in names if n.lower().endswith(VECTOR_SUFFIXES)]
    if member:
        if member not in names:
            raise InputError(f"{archive}: has no member {member!r}; vector members: {vectors}")
    elif len(vectors) == 1:
        member = vectors[0]
    else:
        raise InputError(
            f"{archive}: holds {len(vectors)} vector files {vectors[:8]}; name one as "
            f"'{archive}!<member>'"
        )
    return f"/vsizip/{archive_path.resolve()}/{member}"


def _regular(path: Path, *, folder_ok: bool) -> None:
    if path.is_file() or (folder_ok and path.is_dir()):
        return
    raise InputError(
        f"{path}: not a regular file (a FIFO or device{'' if folder_ok else ', or a folder'}); "
        "give the inventory file itself (GeoPackage, shapefile, GeoJSON or a zip of them)"
    )


def read_inventory(path: str | Path, layer: str | None = None) -> Inventory:
    """Read, check and repair an inventory; errors name the file, the problem and the fix."""
    source = vector_source(path)
    try:
        gdf = gpd.read_file(source, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as err:
        raise InputError(f"{path}: cannot read as a vector file ({err})") from err
    if gdf.crs is None:
        raise InputError(
            f"{path}: inventory has no CRS (missing .prj?); assign one, e.g. "
            f"`ogr2ogr -a_srs EPSG:4326 fixed.gpkg {Path(str(path)).name}`"
        )
    n_read = len(gdf)
    gdf = gdf[["geometry"]].copy()
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    gdf = gdf[~empty]
    if len(gdf) == 0:
        raise InputError(
            f"{path}: inventory is empty ({n_read} features, none with a geometry); nothing to "
            "rasterize"
        )
    types = gdf.geom_type.value_counts()
    other = {t: int(n) for t, n in types.items() if t not in _POLYGONAL}
    if other:
        raise InputError(
            f"{path}: inventory holds non-polygon geometries {other}; landslides must be mapped "
            "as polygons (convert or buffer points/lines, or remove them)"
        )
    invalid = ~gdf.geometry.is_valid
    n_repaired = int(invalid.sum())
    if n_repaired:
        repaired = shapely.make_valid(
            gdf.geometry.values[invalid.values], method="structure", keep_collapsed=False
        )
        gdf.loc[invalid, "geometry"] = repaired
        log.warning("%s: repaired %d invalid polygon(s)", path, n_repaired)
        collapsed = gdf.geometry.is_empty
        gdf = gdf[~collapsed]
    gdf = gdf.reset_index(drop=True)
    return Inventory(
        str(path),
        gdf,
        n_read,
        int(empty.sum()) + (int(collapsed.sum()) if n_repaired else 0),
        n_repaired,
    )


def to_crs(inventory: Inventory, crs: object) -> gpd.GeoDataFrame:
    """The inventory's polygons in ``crs`` (a scene's)."""
    return inventory.gdf.to_crs(crs)


def check_overlap(
    inventory: Inventory,
    gdf_scene_crs: gpd.GeoDataFrame,
    footprints: list[shapely.Geometry],
    scene_paths: list[Path],
) -> None:
    """Refuse an inventory that touches none of its scenes (usually a wrong CRS on one side)."""
    union = shapely.union_all(footprints)
    if not np.any(gdf_scene_crs.intersects(union)):
        bounds = [round(v, 1) for v in gdf_scene_crs.total_bounds]
        raise InputError(
            f"{inventory.path}: no landslide polygon overlaps the scenes "
            f"{[p.name for p in scene_paths]} (inventory bounds in the scene CRS {bounds}, scene "
            f"bounds {[round(v, 1) for v in union.bounds]}). Check that the inventory and the "
            "scenes carry the right CRS and belong to the same event."
        )
