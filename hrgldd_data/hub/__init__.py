"""The Hugging Face Hub: publish releases as tagged versions, pull them into a verified cache.

- :mod:`hrgldd_data.hub.cache`: the repo id, the cache folder and its version index (offline).
- :mod:`hrgldd_data.hub.client`: ``publish``, ``pull`` and ``versions`` (network, lazily imported).
"""

from hrgldd_data.hub.cache import (
    CACHE_ENV,
    DEFAULT_REPO,
    REPO_ENV,
    cache_root,
    cached_versions,
    repo_cache,
    resolve_repo,
)
from hrgldd_data.hub.client import PublishResult, endpoint, offline, publish, pull, versions

__all__ = [
    "CACHE_ENV",
    "DEFAULT_REPO",
    "REPO_ENV",
    "PublishResult",
    "cache_root",
    "cached_versions",
    "endpoint",
    "offline",
    "publish",
    "pull",
    "repo_cache",
    "resolve_repo",
    "versions",
]
