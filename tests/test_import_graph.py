"""The package's modules import each other in one direction only: no circle, counting every
import a module makes (at its top, inside functions, and under ``if TYPE_CHECKING:``).

A circle that Python happens to resolve (through a function-level or type-only import) still
ties the modules together: none of them can be read, tested or moved without the others. The
emulator's catalogue, model, rest-json and Neptune modules were such a circle until the quirks
moved next to the answers they give (``emulator/neptune.py``'s ``QUIRKS``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

#: Reads source files only: the same on every Airflow line.
pytestmark = pytest.mark.line_independent

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_querystatus"


def module_names(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by its dotted name (a package by its own name)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports. ``from pkg import sub`` imports the module
    ``pkg.sub`` (its package's ``__init__`` runs first whatever imports it, so it is no edge of
    its own); ``from pkg import name`` imports ``pkg``."""
    modules = module_names(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = ".".join([*here[:len(here) - node.level + 1], *([node.module] if node.module else [])]
                                if node.level else [node.module or ""])
                subs = {f"{base}.{alias.name}" for alias in node.names} & set(modules)
                found |= subs
                if len(subs) < len(node.names) and base in modules:
                    found.add(base)
        graph[name] = found - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_the_package_imports_itself_back() -> None:
    graph = import_graph(PACKAGE)
    assert "airflow_querystatus.emulator.catalogue" in graph and len(graph) > 40
    found = circles(graph)
    assert not found, "import circles: " + "; ".join(
        " <-> ".join(f"{m} (imports {sorted(graph[m] & set(group))})" for m in group) for group in found)


def test_the_check_sees_type_only_and_function_level_circles(tmp_path: Path) -> None:
    """The check itself: a circle closed only under ``TYPE_CHECKING`` or inside a function is found."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n")
    (package / "c.py").write_text("def late():\n    from . import a\n")
    (package / "d.py").write_text("from pkg import a, b\n")  # imports the circle, is not in it
    assert circles(import_graph(package)) == [["pkg.a", "pkg.b", "pkg.c"]]
    (package / "c.py").write_text("")
    assert circles(import_graph(package)) == []
