"""Run code just before and after a module is first imported: the product's one import hook.

Two things need this: the torchvision compatibility fix (:mod:`hrgldd_data.compat`, which must
act *before* torchvision loads) and the TFDS builder registration (:mod:`hrgldd_data.tfds`, which
must act *after* ``tensorflow_datasets`` loads, without importing it eagerly). Both install an
:class:`AfterImport` finder; the real module is then imported by its own loader, untouched.

Standard library only: :mod:`hrgldd_data.compat` loads this file by path at interpreter start-up.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType


class AfterImport(importlib.abc.MetaPathFinder):
    """One-shot finder for module ``name``: ``before()`` runs first (returning False leaves the
    import untouched), then the module is imported by its own loader and ``after(module)`` runs."""

    def __init__(
        self,
        name: str,
        after: Callable[[ModuleType], None],
        before: Callable[[], bool] | None = None,
    ) -> None:
        self.name, self.after, self.before = name, after, before

    def find_spec(self, fullname, path=None, target=None):  # noqa: D102
        if fullname != self.name:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        if self.before is not None and not self.before():
            return None  # the normal finders import it untouched
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRun(spec.loader, self.after)
        return spec


class _ThenRun(importlib.abc.Loader):
    """Wraps the real loader; everything but ``exec_module`` (resource readers too) is its own."""

    def __init__(self, loader: importlib.abc.Loader, after: Callable[[ModuleType], None]) -> None:
        self.loader, self.after = loader, after

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def create_module(self, spec):  # noqa: D102
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:  # noqa: D102
        # the module finds its resources through its loader: give it the real one
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.after(module)


def run_around_import(
    name: str,
    after: Callable[[ModuleType], None],
    before: Callable[[], bool] | None = None,
) -> bool:
    """Install an :class:`AfterImport` for ``name`` once; False when ``name`` is already imported
    (the caller then acts at once) or a hook with the same ``after`` is already installed."""
    if name in sys.modules:
        return False
    key = (after.__module__, after.__qualname__)  # a module loaded twice makes a new function
    for finder in sys.meta_path:
        if isinstance(finder, AfterImport) and finder.name == name:
            if (finder.after.__module__, finder.after.__qualname__) == key:
                return False
    sys.meta_path.insert(0, AfterImport(name, after, before))
    return True


__all__ = ["AfterImport", "run_around_import"]
