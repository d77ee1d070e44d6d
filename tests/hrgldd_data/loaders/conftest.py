"""Fixtures of the loader tests: releases in several shapes, and no network at all."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path_factory):
    """Fail any test that opens a network connection (loaders read local releases only)."""

    def refuse(self, address, *args, **kwargs):
        if isinstance(address, str) or self.family == socket.AF_UNIX:
            return real_connect(self, address, *args, **kwargs)
        raise AssertionError(f"a loader tried to reach the network: {address}")

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.delenv("HRGLDD_ARCHIVE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path_factory.mktemp("empty_cache")))


@pytest.fixture(scope="session")
def versioned_root(tmp_path_factory) -> Path:
    """A folder holding two versions of ``hr_gldd`` (1.0.0 and 1.1.0, different patches)."""
    from factories import make_release

    root = tmp_path_factory.mktemp("versions")
    make_release(root, version="1.0.0", per_site=10, seed=3)
    make_release(root, version="1.1.0", per_site=5, seed=4)
    return root


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory) -> Path:
    """The embedded sample release (``hr_gldd_sample`` 1.0.0), built by the real builder (~10 s)."""
    from builders.sample import ensure_sample_release

    return ensure_sample_release(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def imported_legacy(tmp_path_factory) -> Path:
    """A release written by ``hrgldd import-legacy`` from small Zenodo-shaped arrays (0.9.0)."""
    import numpy as np
    from factories import synthetic_patches

    from builders.legacy import LEGACY_FILES, import_legacy

    folder = tmp_path_factory.mktemp("zenodo_arrays")
    rng = np.random.default_rng(7)
    for split, n in (("train", 6), ("val", 3), ("test", 3)):
        images, masks = synthetic_patches(n, rng)
        x_name, y_name = LEGACY_FILES[split]
        np.save(folder / x_name, images.transpose(0, 2, 3, 1).astype(np.float32))
        np.save(folder / y_name, masks[..., None].astype(np.float32))
    return import_legacy(folder, "0.9.0", tmp_path_factory.mktemp("legacy_import"))
