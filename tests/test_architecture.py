"""The floors of docs/architecture.md hold: imports point down, never up, and no two modules
of the project import each other.

Every import counts, at the top of a module or deferred inside a function (a deferred import
is how a circle hides), except those under `if TYPE_CHECKING:`, which never run."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.scoring.test_module_layers import _runtime_nodes, find_cycle

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("commands", "app", "sync", "connectors", "scoring", "kpi", "core", "sandbox")
# What each floor may import from the project (itself always).
ALLOWED = {
    "cli": {"commands", "core"},
    "commands": {"app", "sync", "connectors", "scoring", "kpi", "core", "sandbox"},
    "app": {"sync", "connectors", "scoring", "kpi", "core", "sandbox"},
    "sync": {"connectors", "scoring", "kpi", "core"},
    "connectors": {"core"},
    "scoring": {"core"},
    "kpi": {"core"},
    "core": set(),
    "sandbox": {"core"},
}


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for cli.py and every module of the packages."""
    modules = {"cli": ROOT / "cli.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def runtime_imports(source: str, known: set[str]) -> set[str]:
    """The project modules (names in `known`) that `source` imports at run time; `from a
    import b` is an import of `a.b` when that is a module, else of `a`."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n in known else node.module for n in names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` of a package: its nearest module
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {
        name: runtime_imports(path.read_text(encoding="utf-8"), known) - {name}
        for name, path in modules.items()
    }


def floor(module: str) -> str:
    return module.split(".")[0]


def test_given_the_project_every_import_points_to_an_allowed_floor() -> None:
    graph = import_graph()
    assert len(graph) > 120 and sum(map(len, graph.values())) > 300  # the files were read
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if floor(target) != floor(module) and floor(target) not in ALLOWED[floor(module)]
    )
    assert wrong == [], "imports that point up or sideways:\n" + "\n".join(wrong)


def test_given_the_project_no_modules_import_each_other() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_given_an_import_of_a_higher_floor_it_is_found() -> None:
    known = {"sync.runner", "app.demo", "app", "core.clock", "cli"}
    source = "from app.demo import run_demo\nimport core.clock\ndef f():\n    import cli\n"
    assert runtime_imports(source, known) == {"app.demo", "core.clock", "cli"}
