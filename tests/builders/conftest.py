"""Fixtures for builder tests: tiny GeoTIFF scenes, inventories and event/release files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from scene_files import default_polygons, write_inventory, write_scene


@pytest.fixture
def project(tmp_path):
    """A raw root with one valid event ``testsite`` and a release file naming it by path."""

    class Project:
        root = tmp_path
        raw = tmp_path / "raw"
        out = tmp_path / "out"
        specs = tmp_path / "specs"

        def event(
            self,
            name: str = "testsite",
            *,
            scenes: str = "testsite/*.tif",
            inventory: str = "testsite/inventory.gpkg",
            role: str = "train",
            extra_imagery: str = "",
        ) -> Path:
            self.specs.mkdir(exist_ok=True)
            path = self.specs / f"{name}.toml"
            path.write_text(
                f'id = "{name}"\nstudy_area = "Test"\ncountry = "Testland"\nyear = 2020\n'
                f'trigger = "rainfall"\nrole = "{role}"\ninventory_source = "test"\n'
                f'citation = "test"\n\n[imagery]\nscenes = ["{scenes}"]\n{extra_imagery}\n'
                f'[inventory]\npath = "{inventory}"\n'
            )
            return path

        def release(
            self,
            events: list[str] | None = None,
            version: str = "1.0.0",
            name: str = "test_release",
        ) -> Path:
            self.specs.mkdir(exist_ok=True)
            events = events or ["testsite.toml"]
            path = self.specs / f"release-{version}.toml"
            listed = ", ".join(f'"{e}"' for e in events)
            path.write_text(
                f'name = "{name}"\nversion = "{version}"\nevents = [{listed}]\nseed = 7\n'
            )
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

    return build_release(
        SAMPLE_RELEASE_FILE, sample_raw, tmp_path_factory.mktemp("sample_release"), progress=False
    )
