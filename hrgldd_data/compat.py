"""Make torchvision importable when its C extension does not match the installed torch.

The registry's torchvision 0.28.0 wheel is a CUDA build. Beside the CPU build of torch 2.13.0 its
``_C.so`` fails to load, and ``import torchvision`` then dies with
``RuntimeError: operator torchvision::nms does not exist``. That breaks everything that imports it:
timm, segmentation_models_pytorch, torchmetrics/lightning and ``torchgeo.datasets``.

The fix: before torchvision is imported, try to load its extension exactly as torchvision would.
If that works, do nothing. If it fails, define the ``torchvision::nms`` and ``torchvision::qnms``
operator schemas with :mod:`torch.library` and give ``nms`` a pure-torch implementation, so that
torchvision imports and ``torchvision.ops.nms`` works (slowly). Other compiled ops (roi_align,
deform_conv, the JPEG/PNG codecs of ``torchvision.io``) stay unavailable.

The hook is installed for every process of a virtual environment with
``python -m hrgldd_data.compat install``, which writes a ``.pth`` file into site-packages. The
``.pth`` loads this file by path (not the ``hrgldd_data`` package, so interpreter start-up stays
cheap and imports nothing heavy) and registers the product's import hook
(:mod:`hrgldd_data.import_hooks`), which runs :func:`patch_torchvision` the first time
``torchvision`` is imported. ``python -m hrgldd_data.compat uninstall`` removes it.

This module must stay importable without importing torch at module level.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

PTH_NAME = "hrgldd_torchvision_compat.pth"

#: What :func:`patch_torchvision` did in this process: ``None`` (not run), ``"native"`` (the C
#: extension loaded, nothing changed) or ``"fallback"`` (operator schemas defined here).
state: str | None = None
_library = None  # keeps the torch.library.Library alive for the process


def _load_extension_default() -> None:
    """Load torchvision's ``_C`` extension the way torchvision does; raise OSError on failure."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("torchvision is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    candidates = sorted(folder.glob("_C*.so")) + sorted(folder.glob("_C*.pyd"))
    if not candidates:
        raise OSError(f"no _C extension in {folder}")
    torch.ops.load_library(str(candidates[0]))


def nms_reference(boxes, scores, iou_threshold: float):
    """Greedy non-maximum suppression in plain torch (same contract as ``torchvision.ops.nms``)."""
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep = []
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        xx1 = torch.maximum(x1[i], x1)
        yy1 = torch.maximum(y1[i], y1)
        xx2 = torch.minimum(x2[i], x2)
        yy2 = torch.minimum(y2[i], y2)
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[i] + areas - inter)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def patch_torchvision(load_extension: Callable[[], None] | None = None) -> str:
    """Define torchvision's operator schemas if, and only if, its C extension cannot load.

    Args:
        load_extension: loads the extension or raises ``OSError``/``ImportError``; the default
            loads torchvision's own ``_C`` library. Injected by the tests to exercise both branches.

    Returns:
        ``"native"`` when the extension loaded (nothing was changed), ``"fallback"`` when the
        schemas were defined here.
    """
    global state, _library
    if state is not None:
        return state
    try:
        (load_extension or _load_extension_default)()
        state = "native"
        return state
    except (OSError, ImportError, RuntimeError):
        pass

    import torch

    def has_op(name: str) -> bool:
        try:
            getattr(torch.ops.torchvision, name)
            return True
        except (AttributeError, RuntimeError):
            return False

    lib = torch.library.Library("torchvision", "FRAGMENT")
    if not has_op("nms"):
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl("nms", nms_reference, "CompositeExplicitAutograd")
    if not has_op("qnms"):
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _library = lib
    state = "fallback"
    return state


def _patch_before_import() -> bool:
    """Before torchvision loads: patch if needed; True when torchvision must be marked after."""
    if os.environ.get("HRGLDD_NO_TORCHVISION_COMPAT") == "1":
        return False
    return patch_torchvision() != "native"


def _mark_ops_loaded(module) -> None:  # noqa: ARG001
    """After torchvision loads: tell ``torchvision.extension`` that ``nms`` exists.

    ``torchvision.ops.nms`` checks ``extension._has_ops()`` before calling the operator; with the
    schemas defined by :func:`patch_torchvision` the operator is there, so the check may pass.
    """
    extension = sys.modules.get("torchvision.extension")
    if extension is not None:
        extension._has_ops = lambda: True


def install_import_hook() -> None:
    """Register the hook in this process (idempotent); a no-op if torchvision is imported."""
    _import_hooks().run_around_import(
        "torchvision", after=_mark_ops_loaded, before=_patch_before_import
    )


def _import_hooks():
    """:mod:`hrgldd_data.import_hooks`, also when this file was loaded by path from the ``.pth``."""
    if __name__ == "hrgldd_data.compat":
        from hrgldd_data import import_hooks

        return import_hooks
    name = "_hrgldd_import_hooks"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("import_hooks.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def pth_path(site_packages: str | None = None) -> Path:
    """Where the ``.pth`` file goes: the running interpreter's purelib unless given."""
    return Path(site_packages or sysconfig.get_paths()["purelib"]) / PTH_NAME


def pth_line() -> str:
    """The single line of the ``.pth`` file: load this file by path and register the hook."""
    here = str(Path(__file__).resolve())
    return (
        "import importlib.util as _u; "
        f"_s = _u.spec_from_file_location('_hrgldd_tv_compat', {here!r}); "
        "_m = _u.module_from_spec(_s); _s.loader.exec_module(_m); _m.install_import_hook()\n"
    )


def install(site_packages: str | None = None) -> Path:
    """Write the ``.pth`` file so that every process of this environment gets the hook."""
    target = pth_path(site_packages)
    target.write_text(pth_line())
    return target


def uninstall(site_packages: str | None = None) -> bool:
    """Remove the ``.pth`` file; return whether one was there."""
    target = pth_path(site_packages)
    if target.exists():
        target.unlink()
        return True
    return False


def _main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        print(f"installed torchvision compatibility hook: {install()}")
        return 0
    if argv[:1] == ["uninstall"]:
        print("removed" if uninstall() else "no hook was installed")
        return 0
    if argv[:1] == ["status"]:
        install_import_hook()
        import torchvision  # noqa: F401

        own = sys.modules.get("_hrgldd_tv_compat")
        print(f"torchvision {torchvision.__version__}: {(own or sys.modules[__name__]).state}")
        return 0
    print("usage: python -m hrgldd_data.compat install|uninstall|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
