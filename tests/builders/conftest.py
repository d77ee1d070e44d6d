"""Fixtures for builder tests: tiny GeoTIFF scenes, inventories and event/release files on disk."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

ORIGIN = (500_000.0, 1_400_000.0)


def write_scene(path: Path, *, crs: str | None = "EPSG:32643", count: int = 4, size: int = 256,
                origin: tuple[float, float] = ORIGIN, nodata: int | None = 0, fill: int | None = None,
                dtype: str = "uint16", seed: int = 0) -> Path:
    """A north-up scene of ``size`` px at 3 m; bands hold distinct values so mapping can be checked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = np.stack([rng.integers(100 * (b + 1), 100 * (b + 1) + 50, (size, size)) for b in range(count)]).astype(dtype)
    if fill is not None:
        data[:] = fill
    profile = {"driver": "GTiff", "height": size, "width": size, "count": count, "dtype": dtype,
               "transform": Affine(3.0, 0, origin[0], 0, -3.0, origin[1]), "nodata": nodata}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def square(x: float, y: float, side: float = 60.0) -> shapely.Polygon:
    return shapely.box(x, y, x + side, y + side)


def default_polygons(origin: tuple[float, float] = ORIGIN) -> list[shapely.Geometry]:
    """Four landslides, one per 128-px window of a 256-px scene."""
    x0, y0 = origin
    return [square(x0 + 100 + dx, y0 - 300 - dy) for dx in (0, 384) for dy in (0, 384)]


def write_inventory(path: Path, geoms: list, crs: str | None = "EPSG:32643") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame({"id": list(range(len(geoms)))}, geometry=geoms, crs=crs).to_file(path, engine="pyogrio")
    return path


@pytest.fixture
def project(tmp_path):
    """A raw root with one valid event ``testsite`` and a release file naming it by path."""

    class Project:
        root = tmp_path
        raw = tmp_path / "raw"
        out = tmp_path / "out"
        specs = tmp_path / "specs"

        def event(self, name: str = "testsite", *, scenes: str = "testsite/*.tif", inventory: str = "testsite/inventory.gpkg",
                  role: str = "train", extra_imagery: str = "") -> Path:
            self.specs.mkdir(exist_ok=True)
            path = self.specs / f"{name}.toml"
            path.write_text(
                f'id = "{name}"\nstudy_area = "Test"\ncountry = "Testland"\nyear = 2020\ntrigger = "rainfall"\n'
                f'role = "{role}"\ninventory_source = "test"\ncitation = "test"\n\n'
                f'[imagery]\nscenes = ["{scenes}"]\n{extra_imagery}\n[inventory]\npath = "{inventory}"\n'
            )
            return path

        def release(self, events: list[str] | None = None, version: str = "1.0.0", name: str = "test_release") -> Path:
            self.specs.mkdir(exist_ok=True)
            events = events or ["testsite.toml"]
            path = self.specs / f"release-{version}.toml"
            listed = ", ".join(f'"{e}"' for e in events)
            path.write_text(f'name = "{name}"\nversion = "{version}"\nevents = [{listed}]\nseed = 7\n')
            return path

        def valid(self) -> Path:
            write_scene(self.raw / "testsite" / "scene.tif")
            write_inventory(self.raw / "testsite" / "inventory.gpkg", default_polygons())
            self.event()
            return self.release()

    return Project()


@pytest.fixture(scope="session")
def sample_raw(tmp_path_factory) -> Path:
    """The synthetic sample scenes and inventories of all ten events (generated once)."""
    from builders.sample import generate_sample

    raw = tmp_path_factory.mktemp("sample_raw")
    generate_sample(raw)
    return raw


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory, sample_raw) -> Path:
    """The sample release built from ``sample_raw`` (built once per test session)."""
    from builders.build import build_release
    from builders.sample import SAMPLE_RELEASE_FILE

    return build_release(SAMPLE_RELEASE_FILE, sample_raw, tmp_path_factory.mktemp("sample_release"), progress=False)
