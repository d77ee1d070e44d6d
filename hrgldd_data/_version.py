"""The software version, read once from the installed distribution's metadata (pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hrgldd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
