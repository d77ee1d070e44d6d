"""The torchvision compatibility hook: both branches, and its .pth install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrgldd_data import compat

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HRGLDD_NO_TORCHVISION_COMPAT"}
    return subprocess.run(
        [sys.executable, *args, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_native_branch_changes_nothing(monkeypatch):
    monkeypatch.setattr(compat, "state", None)
    monkeypatch.setattr(compat, "_library", None)
    calls = []
    assert compat.patch_torchvision(load_extension=lambda: calls.append(1)) == "native"
    assert calls == [1] and compat._library is None
    assert (
        compat.patch_torchvision(load_extension=lambda: calls.append(2)) == "native"
    )  # decided once
    assert calls == [1]


FALLBACK = """
import sys
# drop the .pth hook
sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "name", None) != "torchvision"]
from hrgldd_data import compat
try:
    compat._load_extension_default()
    print("NATIVE-AVAILABLE")
    raise SystemExit(0)
except (OSError, ImportError, RuntimeError):
    pass
def broken():
    raise OSError("libc10_cuda.so: cannot open shared object file")
assert compat.patch_torchvision(load_extension=broken) == "fallback"
compat.install_import_hook()
import torch, torchvision, torchvision.ops, importlib.resources
boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 9, 10]],
                     dtype=torch.float32)
scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
got = torchvision.ops.nms(boxes, scores, 0.5)
want = compat.nms_reference(boxes, scores, 0.5)
assert torch.equal(got, want), (got, want)
assert want.tolist() == [3, 2], want
assert torchvision.ops.nms(boxes[:0], scores[:0], 0.5).numel() == 0
importlib.resources.files("torchvision")  # the module keeps a working loader
print("FALLBACK-OK", torchvision.__version__)
"""


def test_fallback_branch_makes_torchvision_work():
    result = _run(FALLBACK)
    assert result.returncode == 0, result.stderr[-3000:]
    if "NATIVE-AVAILABLE" in result.stdout:
        pytest.skip("torchvision's C extension loads here, so the fallback branch is never taken")
    assert "FALLBACK-OK" in result.stdout


def test_install_and_uninstall_write_and_remove_the_pth(tmp_path):
    path = compat.install(str(tmp_path))
    assert path == tmp_path / compat.PTH_NAME and path.read_text() == compat.pth_line()
    # a fresh interpreter processing that site dir gets the hook, and only that
    code = (
        "import site, sys; site.addsitedir(sys.argv[1]); "
        "print([getattr(f, 'name', None) for f in sys.meta_path].count('torchvision'), "
        "'torchvision' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "False"]
    assert compat.uninstall(str(tmp_path)) is True and not path.exists()
    assert compat.uninstall(str(tmp_path)) is False
