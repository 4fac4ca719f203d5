"""The modules of scoring/ import each other one way: their import graph has no cycle.

Every import counts, at the top of a module or deferred inside a function (a deferred import
is how a circle hides), except those under `if TYPE_CHECKING:`, which never run.
`from scoring import x` is an import of scoring/__init__.py (or of scoring/x.py when x is a
module there)."""

from __future__ import annotations

import ast
from pathlib import Path

SCORING = Path(__file__).resolve().parents[2] / "scoring"
PACKAGE = "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node below `node`, leaving out the bodies of `if TYPE_CHECKING:` (their
    `else:` branches run, so they stay)."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                found.append(branch)
                found += _runtime_nodes(branch)
            continue
        found.append(child)
        found += _runtime_nodes(child)
    return found


def scoring_imports(source: str, modules: set[str]) -> set[str]:
    """The modules of `modules` (names in scoring/, PACKAGE for the package) that `source`
    imports at run time."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "scoring":
                names += [f"scoring.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "scoring":
                found.add(PACKAGE)
            elif name.startswith("scoring."):
                module = name.split(".")[1]
                if module in modules:
                    found.add(module)
    return found


def import_graph(folder: Path) -> dict[str, set[str]]:
    files = {path.stem: path for path in folder.glob("*.py")}
    modules = set(files)
    return {name: scoring_imports(path.read_text(encoding="utf-8"), modules) - {name}
            for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_given_the_scoring_package_its_import_graph_has_no_cycle() -> None:
    graph = import_graph(SCORING)
    assert len(graph) >= 10 and sum(map(len, graph.values())) >= 10  # the files were read
    cycle = find_cycle(graph)
    assert cycle is None, "import circle in scoring/: " + " -> ".join(cycle or [])


def test_given_a_deferred_import_it_counts_and_under_type_checking_it_does_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from scoring.result import RuleTally\n"
        "if TYPE_CHECKING:\n"
        "    from scoring.engine import score_lead\n"
        "else:\n"
        "    import scoring.mql\n"
        "def build():\n"
        "    from scoring import program, load_rules\n"
    )
    modules = {"result", "engine", "mql", "program", PACKAGE}
    assert scoring_imports(source, modules) == {"result", "mql", "program", PACKAGE}


def test_given_two_modules_that_import_each_other_the_cycle_is_found() -> None:
    graph = {"rules": set(), "aggregate": {"rules", "program"}, "program": {"aggregate"}}
    assert find_cycle(graph) == ["aggregate", "program", "aggregate"]
    assert find_cycle({"rules": set(), "aggregate": {"rules"}, "program": {"aggregate"}}) is None
