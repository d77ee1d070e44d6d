"""HR-GLDD release format and everything that reads it.

Cheap to import: the Hub client, Zarr and the loaders load only when used.

    import hrgldd_data
    release = hrgldd_data.open_release(version="1.0.0", download=True)
"""

from hrgldd_data._version import __version__
from hrgldd_data.changelog import VersionInfo
from hrgldd_data.errors import (
    AmbiguousReleaseError,
    ArchiveError,
    HrglddError,
    HubError,
    InputError,
    ReleaseExistsError,
    ReleaseNotFoundError,
)
from hrgldd_data.hub import DEFAULT_REPO, publish, pull, versions
from hrgldd_data.resolve import locate_release, open_release
from hrgldd_data.tfds import register_when_imported as _register_tfds

__all__ = [
    "DEFAULT_REPO",
    "AmbiguousReleaseError",
    "ArchiveError",
    "HrglddError",
    "HubError",
    "InputError",
    "ReleaseExistsError",
    "ReleaseNotFoundError",
    "VersionInfo",
    "__version__",
    "locate_release",
    "open_release",
    "publish",
    "pull",
    "versions",
]

# `tfds.load("hr_gldd")` needs the builder class defined. Importing TFDS costs ~1 s, so the
# builder is registered at once only if tensorflow_datasets is already imported, and otherwise
# the moment it is (see hrgldd_data/tfds/__init__.py); nothing happens where TFDS is absent.
_register_tfds()
