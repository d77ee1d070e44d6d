"""The layers of ARCHITECTURE.md hold: no module imports from a layer above its own.

Imports inside functions count too: a lazy import upward is still an arrow the wrong way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Bottom to top, as drawn in ARCHITECTURE.md.
LAYERS = ("hrgldd_data", "builders", "baselines", "mapping", "hrgldd_cli")


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_points_up(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    upward = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & above)
        for path in sorted((ROOT / layer).rglob("*.py"))
    }
    upward = {path: names for path, names in upward.items() if names}
    assert not upward, f"{layer} imports from the layers above it: {upward}"


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from mapping.run import map_scene\n    import baselines.x\n")
    assert imported_packages(module) == {"mapping", "baselines"}
