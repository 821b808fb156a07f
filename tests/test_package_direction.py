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


#: The packages in the order they build on each other: each may import only those before it
#: (notify's one exception above aside).
LAYERS = ("protocol", "storage", "csms", "notify")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _first_party_files() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in LAYERS
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def test_the_lower_packages_never_import_the_higher_ones() -> None:
    offences = []
    for module, path in _first_party_files().items():
        layer = LAYERS.index(module.split(".")[0])
        for name in _imported_modules(path):
            top = name.split(".")[0]
            if top in LAYERS and LAYERS.index(top) > layer and path.relative_to(ROOT) != WIRING:
                offences.append(f"{module} imports {name}")
    assert offences == []


def _import_time_edges(path: Path, modules: set[str]) -> set[str]:
    """First-party modules imported when ``path`` is imported: its top-level imports (not the
    ones under ``if TYPE_CHECKING:`` nor inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from package import module` imports the module too
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    own = _module_name(path)
    return {name for name in found if name in modules and name != own}


def test_no_module_imports_itself_through_others() -> None:
    files = _first_party_files()
    modules = set(files)
    edges = {module: _import_time_edges(path, modules) for module, path in files.items()}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str], done: set[str]) -> None:
        for target in sorted(edges[module]):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in done:
                visit(target, [*trail, target], done)
        done.add(module)

    done: set[str] = set()
    for module in sorted(modules):
        if module not in done:
            visit(module, [module], done)
    assert cycles == []
