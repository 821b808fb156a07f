"""One direction between packages: ``notify`` builds on ``csms``; ``csms`` imports ``notify``
only where the process is put together (csms/wiring.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIRING = Path("csms/wiring.py")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_csms_imports_notify_only_in_the_wiring_module() -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "csms").rglob("*.py")
        if any(name == "notify" or name.startswith("notify.") for name in _imported_modules(path))
    )
    assert importers == [str(WIRING)]
