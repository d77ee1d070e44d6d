"""TensorFlow Datasets builders of HR-GLDD (one folder per builder, in the TFDS layout).

Registering a builder means importing its module, which imports ``tensorflow_datasets``
(about 1 s). ``import hrgldd_data`` must stay cheap for the CLI and for users without TFDS, so
it calls :func:`register_when_imported`: the builder is registered at once if
``tensorflow_datasets`` is already imported, and otherwise the moment it is imported (a
one-shot import hook), so ``import hrgldd_data; import tensorflow_datasets as tfds;
tfds.load("hr_gldd")`` works in either order. Nothing happens where TFDS is not installed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

BUILDER_MODULES: tuple[str, ...] = ("hrgldd_data.tfds.hr_gldd",)
_TFDS = "tensorflow_datasets"


def register() -> None:
    """Import the builder modules (TFDS registers a builder when its class is defined)."""
    for module in BUILDER_MODULES:
        importlib.import_module(module)


def _register_quietly() -> None:
    try:
        register()
    except Exception as err:  # a broken optional stack must not break `import tensorflow_datasets`
        warnings.warn(f"hr_gldd TFDS builder not registered: {err!r}", RuntimeWarning, stacklevel=2)


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """One-shot finder: lets ``tensorflow_datasets`` import, then registers the builders."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D102
        if fullname != _TFDS:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterAfterImport)]
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    """Wraps the real loader; everything but ``exec_module`` (resource readers too) is its own."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def create_module(self, spec):  # noqa: D102
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:  # noqa: D102
        # TFDS finds its resources through the loader (importlib_resources): give it the real one
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _register_quietly()


def register_when_imported() -> str:
    """Register now, later, or never; returns ``"now"``, ``"deferred"`` or ``"unavailable"``."""
    if _TFDS in sys.modules:
        _register_quietly()
        return "now"
    if importlib.util.find_spec(_TFDS) is None:
        return "unavailable"
    if not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
    return "deferred"
