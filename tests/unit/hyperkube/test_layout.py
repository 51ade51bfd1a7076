"""The hyperkube package's imports run one way: no module imports one that imports it back.

Every import counts, at the top of a module, inside a function or under TYPE_CHECKING: a
cycle that only a lazy import hides still ties the two modules together.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hyperkube

PACKAGE = Path(hyperkube.__file__).parent
MODULES = sorted(f"hyperkube.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> set[str]:
    """The package's modules that `module` imports anywhere in its source."""
    path = PACKAGE / ("__init__.py" if module == "hyperkube" else f"{module.split('.')[1]}.py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "hyperkube")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "hyperkube":  # a submodule, or a name of the package's face
                found.update(f"hyperkube.{a.name}" if f"hyperkube.{a.name}" in MODULES
                             else "hyperkube" for a in node.names)
            elif node.module.startswith("hyperkube."):
                found.add(node.module)
    found.discard(module)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of `graph` (a path that comes back to its start), or []."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, node])):
                return found
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return []


def test_the_import_graph_has_no_cycle() -> None:
    graph = {m: _imports(m) for m in ["hyperkube", *MODULES]}
    assert _cycle(graph) == []
    assert not [m for m in MODULES if "hyperkube" in graph[m]], (
        "a module imports the package's face (from hyperkube import HyperKube)")


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
