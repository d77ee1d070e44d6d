"""HR-GLDD release format and everything that reads it.

Cheap to import: the Hub client, Zarr and the loaders load only when used.

    import hrgldd_data
    release = hrgldd_data.open_release(version="1.0.0", download=True)
"""

__version__ = "0.1.0"

from hrgldd_data.hub import (  # noqa: E402 - after __version__, which hub reads
    DEFAULT_REPO,
    HubError,
    ReleaseNotFoundError,
    VersionInfo,
    locate_release,
    open_release,
    publish,
    pull,
    versions,
)

__all__ = [
    "DEFAULT_REPO",
    "HubError",
    "ReleaseNotFoundError",
    "VersionInfo",
    "__version__",
    "locate_release",
    "open_release",
    "publish",
    "pull",
    "versions",
]

# --- TFDS registration (issue 4; owned by the loaders) -------------------------------------------
# `tfds.load("hr_gldd")` needs the builder class defined. Importing TFDS costs ~1 s, so the
# builder is registered at once only if tensorflow_datasets is already imported, and otherwise
# the moment it is (see hrgldd_data/tfds/__init__.py); nothing happens where TFDS is absent.
from hrgldd_data.tfds import register_when_imported as _register_tfds  # noqa: E402

_register_tfds()
# --- end TFDS registration ------------------------------------------------------------------------
