"""Fixtures of the Hub tests: a Hub-compatible server on 127.0.0.1, and no other network at all."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hub_server import REPO, TOKEN, HubServer  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Fail any connection that is not to 127.0.0.1: nothing in these tests may reach the internet.

    The client retries or falls back on network errors, so blocked attempts are also collected
    and fail the test at teardown.
    """
    real_connect = socket.socket.connect
    blocked: list[str] = []

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1") and not str(host).startswith("/"):
            blocked.append(str(address))
            raise OSError(f"test tried to reach {address}: only 127.0.0.1 is allowed")
        return real_connect(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1", None):
            blocked.append(str(host))
            raise OSError(f"test tried to resolve {host}: only 127.0.0.1 is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    assert not blocked, f"network access outside 127.0.0.1 was attempted: {blocked}"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running fake Hub; HF_ENDPOINT, HF_TOKEN, HRGLDD_CACHE and HF_HOME point at it / at tmp."""
    from huggingface_hub import constants

    with HubServer(tokens={TOKEN}) as server:
        for var in ("HF_HUB_OFFLINE", "HRGLDD_ARCHIVE", "HRGLDD_REPO", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.setenv("HF_UPDATE_DOWNLOAD_COUNTS", "0")
        monkeypatch.setenv("HRGLDD_CACHE", str(tmp_path / "cache"))
        # huggingface_hub reads these at import time: make sure the already-imported copy agrees.
        monkeypatch.setattr(constants, "ENDPOINT", server.endpoint)
        template = server.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        # huggingface_hub took its cache folder from HF_HOME at import: the fake Hub's commit ids
        # repeat across test runs, so a shared cache would serve files of another run.
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
        monkeypatch.setattr(
            constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf_home" / "stored_tokens")
        )
        # Hugging Face `datasets` also reads the endpoint (and its cache) when it is imported.
        datasets_config = sys.modules.get("datasets.config")
        if datasets_config is not None:
            resolve = server.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"
            monkeypatch.setattr(datasets_config, "HF_ENDPOINT", server.endpoint)
            monkeypatch.setattr(datasets_config, "HUB_DATASETS_URL", resolve)
            monkeypatch.setattr(datasets_config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets")
            monkeypatch.setattr(datasets_config, "HF_UPDATE_DOWNLOAD_COUNTS", False)  # S3 ping
        yield server


@pytest.fixture(scope="session")
def releases(tmp_path_factory) -> dict[str, Path]:
    """Two versions of a small release: 1.0.0 (30 patches, 4 shards), 1.1.0 (15, 2 shards)."""
    from factories import make_release

    root = tmp_path_factory.mktemp("hub_releases")
    return {
        "1.0.0": make_release(root, version="1.0.0", seed=0),
        "1.1.0": make_release(root, version="1.1.0", per_site=5, seed=1),
    }
