"""TensorFlow Datasets builders of HR-GLDD (one folder per builder, in the TFDS layout).

Registering a builder means importing its module, which imports ``tensorflow_datasets``
(about 1 s). ``import hrgldd_data`` must stay cheap for the CLI and for users without TFDS, so
it calls :func:`register_when_imported`: the builder is registered at once if
``tensorflow_datasets`` is already imported, and otherwise the moment it is imported (the
product's import hook, :mod:`hrgldd_data.import_hooks`), so ``import hrgldd_data; import
tensorflow_datasets as tfds; tfds.load("hr_gldd")`` works in either order. Nothing happens where
TFDS is not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from types import ModuleType

from hrgldd_data.import_hooks import run_around_import

BUILDER_MODULES: tuple[str, ...] = ("hrgldd_data.tfds.hr_gldd",)
_TFDS = "tensorflow_datasets"


def register() -> None:
    """Import the builder modules (TFDS registers a builder when its class is defined)."""
    for module in BUILDER_MODULES:
        importlib.import_module(module)


def _register_quietly(_module: ModuleType | None = None) -> None:
    try:
        register()
    except Exception as err:  # a broken optional stack must not break `import tensorflow_datasets`
        warnings.warn(f"hr_gldd TFDS builder not registered: {err!r}", RuntimeWarning, stacklevel=2)


def register_when_imported() -> str:
    """Register now, later, or never; returns ``"now"``, ``"deferred"`` or ``"unavailable"``."""
    if _TFDS in sys.modules:
        _register_quietly()
        return "now"
    if importlib.util.find_spec(_TFDS) is None:
        return "unavailable"
    run_around_import(_TFDS, after=_register_quietly)
    return "deferred"
