"""The Hugging Face Hub: publish releases as tagged versions, pull them into a verified cache.

- :mod:`hrgldd_data.hub.cache`: the repo id, the cache folder and its version index (offline).
- :mod:`hrgldd_data.hub.client`: ``publish``, ``pull``, ``versions``, ``publish_leaderboard`` and
  ``leaderboards`` (network; ``huggingface_hub`` is imported lazily).
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
from hrgldd_data.hub.client import (
    PublishedManifest,
    PublishResult,
    endpoint,
    leaderboards,
    offline,
    publish,
    publish_leaderboard,
    published_manifest,
    pull,
    versions,
)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_REPO",
    "REPO_ENV",
    "PublishResult",
    "PublishedManifest",
    "cache_root",
    "cached_versions",
    "endpoint",
    "leaderboards",
    "offline",
    "publish",
    "publish_leaderboard",
    "published_manifest",
    "pull",
    "repo_cache",
    "resolve_repo",
    "versions",
]
