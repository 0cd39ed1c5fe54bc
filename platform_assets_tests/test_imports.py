"""No import cycles in platform_assets: the import graph, read statically, has no cycle but the known ones.

The graph holds an edge A -> B for every ``import B`` / ``from B import x`` in
module A, at module level or inside a function (a lazy import still ties the
modules together), except imports under ``if TYPE_CHECKING:``. ``from P import
m`` where ``P.m`` is a module counts as an import of ``P.m``. Importing a
module is not counted as importing its parent packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import platform_assets

ROOT = Path(platform_assets.__file__).resolve().parent
PACKAGE = "platform_assets"

KNOWN_CYCLES: list[frozenset[str]] = []
"""Cycles tolerated outside ``ingest/parsing`` (each as the modules of one strongly connected component): none
are left. An entry needs its reason beside it; the test fails on a stale one."""

NO_CYCLES_HERE = ("platform_assets.ingest.parsing",)
"""Packages that must take part in no cycle at all, known or not."""


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join([PACKAGE, *parts])] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, the bodies of ``if TYPE_CHECKING:`` left out (not their else)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _imports(child)


def _base(module: str, is_package: bool, statement: ast.ImportFrom) -> str:
    if not statement.level:
        return statement.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (statement.level - 1)]
    return ".".join(anchor + ([statement.module] if statement.module else []))


def import_graph() -> dict[str, dict[str, int]]:
    """{module: {imported module: line of the first import}} for the modules of the package."""
    modules = module_names()
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for statement in _imports(tree):
            if isinstance(statement, ast.Import):
                targets = [alias.name for alias in statement.names]
            else:
                base = _base(module, path.name == "__init__.py", statement)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in statement.names
                ]
            for target in targets:
                if target in modules and target != module:
                    edges.setdefault(target, statement.lineno)
        graph[module] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The components of more than one module in which every module imports every other, indirectly (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def one_cycle(graph: dict[str, dict[str, int]], component: frozenset[str]) -> str:
    """A cycle through the component's first module, as ``a (line n) -> b (line m) -> ... -> a``."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node]):
            if target == start:
                path = [*paths[node], start]
                return (
                    " -> ".join(f"{source} (line {graph[source][target]})" for source, target in zip(path, path[1:]))
                    + f" -> {start}"
                )
            if target in component and target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")


def _forbidden(component: frozenset[str]) -> bool:
    """True when the cycle runs through a package of ``NO_CYCLES_HERE``."""
    return any(
        module == package or module.startswith(package + ".") for module in component for package in NO_CYCLES_HERE
    )


def test_the_graph_sees_function_level_imports_and_skips_type_checking() -> None:
    tree = ast.parse(
        "import a\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import b\nelse:\n    import c\n"
        "def f():\n    import d\n"
    )
    assert [alias.name for statement in _imports(tree) for alias in statement.names] == ["a", "TYPE_CHECKING", "c", "d"]
    cycle = {"x": {"y": 3}, "y": {"z": 1}, "z": {"x": 7, "w": 2}, "w": {}}
    assert strongly_connected(cycle) == [frozenset({"x", "y", "z"})]
    assert one_cycle(cycle, frozenset({"x", "y", "z"})) == "x (line 3) -> y (line 1) -> z (line 7) -> x"


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "platform_assets.ingest.parsing.arrow_parser" in graph  # the walk found the package
    components = strongly_connected(graph)
    broken = [component for component in components if component not in KNOWN_CYCLES or _forbidden(component)]
    stale = [component for component in KNOWN_CYCLES if component not in components]
    problems = [f"import cycle: {one_cycle(graph, component)}" for component in broken]
    problems += [
        f"KNOWN_CYCLES lists {sorted(component)}, which is no longer a cycle: remove it" for component in stale
    ]
    assert not problems, "\n".join(problems)
