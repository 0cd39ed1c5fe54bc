"""The package's shape holds: who may import whom, and only the catalog service touches the catalog's tables.

docs/architecture.md explains the rules; these tests read the source (ast), they run nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

PACKAGE = Path(__file__).resolve().parent.parent / "platform_assets"

LEAVES = {"errors", "failpoints", "urls", "secrets", "column_types", "schema_change", "actions", "progress"}
DOMAIN = LEAVES | {"config", "storage", "catalog", "ingest", "merge", "replication", "versions"}
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "actions": set(),
    "failpoints": set(),
    "progress": set(),
    "urls": set(),
    "secrets": {"errors", "urls"},
    "column_types": {"errors"},
    "schema_change": {"errors", "column_types"},
    "config": LEAVES,
    "storage": LEAVES | {"config"},
    "catalog": LEAVES | {"config", "storage"},
    "ingest": LEAVES | {"config", "storage", "catalog", "services"},
    "merge": LEAVES | {"config", "storage", "catalog", "services"},
    "replication": LEAVES | {"config", "storage", "catalog", "merge"},
    "versions": LEAVES | {"config", "storage", "catalog", "merge", "services"},
    "services": LEAVES | {"config", "storage", "catalog", "ingest", "merge"},
    "platform": DOMAIN | {"services"},
    "defs": DOMAIN | {"services", "platform"},
    "commands": DOMAIN | {"services", "platform", "defs"},
    "cli_progress": DOMAIN,
    "cli": DOMAIN
    | {
        "commands",
        "demo",
        "cli_review",
        "cli_schema",
        "cli_audit",
        "cli_reconcile",
        "cli_diff",
        "cli_retention",
        "cli_progress",
    },
    "cli_review": DOMAIN | {"commands"},
    "cli_schema": DOMAIN | {"commands"},
    "cli_audit": DOMAIN | {"commands"},
    "cli_reconcile": DOMAIN | {"commands"},
    "cli_diff": DOMAIN | {"commands"},
    "cli_retention": DOMAIN | {"platform"},
    "demo": DOMAIN | {"commands", "platform", "examples"},
    "definitions": DOMAIN | {"defs", "examples"},
    "examples": set(),
}
"""Each top-level part of platform_assets (a package or a module) and the parts it may import."""

EXCEPTIONS = {
    (
        "platform_assets.config.source",
        "platform_assets.storage.globs",
    ): "config checks a source glob with the lister's compiler",
    ("platform_assets.merge.spec", "platform_assets.ingest.parsing.types"): "the merge table takes the parsers' types",
}
"""Single module-to-module imports that cross the rules above, each with its reason."""

TYPING_ONLY = {("ingest", "services"), ("merge", "services"), ("versions", "services")}
"""Steps take Services as a parameter: they may name its type, never import it at run time (services imports them)."""

NO_DAGSTER = DOMAIN | {"services", "platform"}
STATE_TABLES = (
    "products",
    "versions",
    "raw_files",
    "source_objects",
    "listing_pages",
    "runs",
    "workers",
    "schema_versions",
    "audit_events",
    "audit_chains",
)
CATALOG_PUBLIC_MODULES = ("service", "records", "states", "errors", "migrate", "audit_chain")
CATALOG_PUBLIC_NAMES = ("Catalog", "default_actor")
"""What of catalog/ other modules may import: the service, its records, states and errors (and the migrations)."""
SQL_ON_STATE_TABLE = re.compile(
    r"\b(from|join|update|into|table)\s+\"?(" + "|".join(STATE_TABLES) + r")\b\"?", re.IGNORECASE
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (``from a import b`` gives a and a.b)
    line: int
    typing_only: bool


def _modules() -> Iterator[tuple[str, bool, ast.Module]]:
    """(dotted name, is a package, syntax tree) of every module of platform_assets."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        yield ".".join(parts), is_package, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, is_package: bool, tree: ast.Module) -> Iterator[Import]:
    """Every import in the module, wherever it stands; ``from a import b`` gives both ``a`` and ``a.b``."""
    package = module.split(".") if is_package else module.split(".")[:-1]

    def walk(node: ast.AST, typing_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for statement in child.body:
                    yield from visit(statement, True)
                for statement in child.orelse:
                    yield from visit(statement, typing_only)
            else:
                yield from visit(child, typing_only)

    def visit(node: ast.AST, typing_only: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, typing_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield Import(module, base, node.lineno, typing_only)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno, typing_only)
        else:
            yield from walk(node, typing_only)

    yield from walk(tree, False)


def _part(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if parts[0] == "platform_assets" and len(parts) > 1 else None


def _all_imports() -> list[Import]:
    return [found for module, is_package, tree in _modules() for found in _imports(module, is_package, tree)]


def _catalog_private(target: str) -> bool:
    """``target`` is inside catalog/ and not one of its public modules or names."""
    parts = target.split(".")
    if parts[:2] != ["platform_assets", "catalog"] or len(parts) == 2:
        return False
    return parts[2] not in CATALOG_PUBLIC_MODULES + CATALOG_PUBLIC_NAMES


def test_every_part_imports_only_the_parts_below_it() -> None:
    wrong = []
    for found in _all_imports():
        mine, theirs = _part(found.module), _part(found.target)
        if mine is None or theirs is None or mine == theirs or theirs not in MAY_IMPORT:
            continue
        assert mine in MAY_IMPORT, f"{found.module}: add its part {mine!r} to MAY_IMPORT (and docs/architecture.md)"
        if any(found.module == module and found.target.startswith(target) for module, target in EXCEPTIONS):
            continue
        if theirs not in MAY_IMPORT[mine]:
            wrong.append(f"{found.module}:{found.line} imports {found.target} ({mine} may not import {theirs})")
        elif (mine, theirs) in TYPING_ONLY and not found.typing_only:
            wrong.append(f"{found.module}:{found.line} imports {found.target} at run time (type checking only)")
    assert not wrong, "\n".join(wrong)


def test_nothing_below_platform_imports_it_and_the_domain_never_imports_dagster() -> None:
    wrong = []
    for found in _all_imports():
        mine = _part(found.module)
        if mine in NO_DAGSTER and found.target.split(".")[0].startswith("dagster"):
            wrong.append(f"{found.module}:{found.line} imports {found.target}")
        if mine in DOMAIN | {"services"} and _part(found.target) == "platform":
            wrong.append(f"{found.module}:{found.line} imports {found.target}")
    assert not wrong, "\n".join(wrong)


def test_only_the_catalog_service_touches_the_state_tables() -> None:
    wrong = []
    for module, is_package, tree in _modules():
        if _part(module) == "catalog":
            continue
        for found in _imports(module, is_package, tree):
            if _catalog_private(found.target):
                wrong.append(f"{module}:{found.line} imports {found.target}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_ON_STATE_TABLE.search(node.value):
                wrong.append(f"{module}:{node.lineno} has SQL on a state table: {node.value[:60]!r}")
            if _builds_state_table(node):
                wrong.append(f"{module}:{node.lineno} builds a query on a state table")
    assert not wrong, "\n".join(wrong)


def _builds_state_table(node: ast.AST) -> TypeGuard[ast.Call]:
    """``table("raw_files", ...)`` or ``Table("raw_files", ...)``: SQLAlchemy Core on a state table."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return False
    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
    return name in ("table", "Table") and node.args[0].value in STATE_TABLES


def test_defs_has_no_sqlalchemy() -> None:
    wrong = [
        f"{found.module}:{found.line} imports {found.target}"
        for found in _all_imports()
        if _part(found.module) == "defs" and found.target.split(".")[0] == "sqlalchemy"
    ]
    assert not wrong, "\n".join(wrong)


def test_docs_architecture_describes_every_part_of_the_import_table() -> None:
    """Each part of ``MAY_IMPORT`` has a row in docs/architecture.md's table (as ``name.py`` or ``name/``)."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    named = {match for row in rows for match in re.findall(r"`([a-z_]+)(?:\.py|/)`", row)}
    assert not set(MAY_IMPORT) - named, f"docs/architecture.md has no row for {sorted(set(MAY_IMPORT) - named)}"
    assert not named - set(MAY_IMPORT), (
        f"docs/architecture.md describes parts MAY_IMPORT lacks: {sorted(named - set(MAY_IMPORT))}"
    )
