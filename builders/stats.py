"""Table-1 statistics of an event: landslide count and areas, study area, patches kept.

Areas are computed in a Lambert azimuthal equal-area projection centred on the inventory, never
in degrees and never distorted by a far-away projection.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
from pyproj import CRS
from pyproj.exceptions import ProjError

from builders.inventory import Inventory


def equal_area_crs(gdf: gpd.GeoDataFrame) -> CRS:
    """A Lambert azimuthal equal-area CRS centred on the data.

    On Earth the WGS84 ellipsoid; data of another body (Mars imagery, whose CRS PROJ will not
    transform to Earth's) get the same projection on their own ellipsoid.
    """
    box = gpd.GeoSeries([shapely.box(*gdf.total_bounds)], crs=gdf.crs)
    try:
        west, south, east, north = box.to_crs(4326).total_bounds
        shape = "+ellps=WGS84"
    except ProjError:  # "Source and target ellipsoid do not belong to the same celestial body"
        crs = CRS.from_user_input(gdf.crs)
        west, south, east, north = box.to_crs(crs.geodetic_crs).total_bounds
        shape = f"+a={crs.ellipsoid.semi_major_metre} +b={crs.ellipsoid.semi_minor_metre}"
    lon, lat = (west + east) / 2, (south + north) / 2
    return CRS.from_proj4(
        f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +x_0=0 +y_0=0 {shape} +units=m +no_defs"
    )


def inventory_stats(
    inventory: Inventory,
    footprints: list[shapely.Geometry] | None = None,
    footprint_crs: Any = None,
) -> dict[str, Any]:
    """Landslide count, min/max/total area (m², km²) and, given scene footprints, the study area."""
    ea = equal_area_crs(inventory.gdf)
    areas = inventory.gdf.to_crs(ea).area
    stats: dict[str, Any] = {
        "n_landslides": int(len(areas)),
        "min_landslide_area_m2": round(float(areas.min()), 2),
        "max_landslide_area_m2": round(float(areas.max()), 2),
        "total_landslide_area_m2": round(float(areas.sum()), 2),
        "total_landslide_area_km2": round(float(areas.sum()) / 1e6, 4),
        "study_area_km2": None,
        "area_crs": "Lambert azimuthal equal-area centred on the inventory",
        "invalid_polygons_repaired": inventory.n_repaired,
        "empty_features_dropped": inventory.n_dropped_empty,
    }
    if footprints:
        union = gpd.GeoSeries([shapely.union_all(footprints)], crs=footprint_crs).to_crs(ea)
        stats["study_area_km2"] = round(float(union.area.iloc[0]) / 1e6, 4)
    return stats
