"""The connection to the Hugging Face Hub shared by dataset releases and model repos.

The endpoint is the standard ``HF_ENDPOINT``, read at call time (``huggingface_hub`` reads it only
at import); ``huggingface_hub`` itself is imported only when a function here is called.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from hrgldd_data.errors import HubError
from hrgldd_data.fileio import sha256_file


def endpoint() -> str:
    """The Hub endpoint: ``HF_ENDPOINT`` as set now (huggingface_hub reads it only at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set now or was set when huggingface_hub was imported."""
    value = os.environ.get("HF_HUB_OFFLINE", "").upper()
    if value in ("1", "ON", "YES", "TRUE"):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_api(token: str | None = None):
    """An ``HfApi`` on the current endpoint that identifies hrgldd."""
    from huggingface_hub import HfApi

    from hrgldd_data._version import __version__

    return HfApi(
        endpoint=endpoint(), token=token, library_name="hrgldd", library_version=__version__
    )


def token_for(repo: str) -> str:
    """The user's Hugging Face token, or a clear error saying how to set one."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise HubError(
            "publishing needs a Hugging Face token with write access to "
            f"{repo}: set HF_TOKEN or run `hf auth login`"
        )
    return token


def git_blob_oid(path: Path) -> str:
    """Git object id of a file, which the Hub reports for regular (non-LFS) files."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def unchanged(local: Path, remote) -> bool:
    """True when the remote file (a ``RepoFile``) already holds the local bytes."""
    if remote is None or remote.size != local.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == sha256_file(local)
    return remote.blob_id == git_blob_oid(local)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exception types of a failed connection in the HTTP library under huggingface_hub."""
    types: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        try:
            types.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(types)


def needs_hub(func):
    """Turn a failed connection to the Hub into a :class:`HubError` saying where and what to do."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _transport_errors() as err:
            raise HubError(
                f"cannot reach the Hugging Face Hub at {endpoint()} ({err}). Check the network and "
                "HF_ENDPOINT; versions already pulled open offline (HF_HUB_OFFLINE=1)."
            ) from err

    return wrapper


def http_reason(err: Exception) -> str:
    """First line of a huggingface_hub HTTP error (its text never holds the token)."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


__all__ = [
    "hub_api",
    "endpoint",
    "git_blob_oid",
    "http_reason",
    "needs_hub",
    "offline",
    "token_for",
    "unchanged",
]
