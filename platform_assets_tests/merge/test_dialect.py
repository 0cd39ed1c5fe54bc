"""The merge store's dialect: chosen once from the URL, the one place that knows the backend."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from platform_assets.merge import MergeStore
from platform_assets.merge.dialect import POSTGRESQL, SQLITE, MergeDialect, dialect_for
from platform_assets.merge.spec import merge_spec
from platform_assets.merge.tables import expected_columns
from platform_assets_tests.merge.conftest import make_product

PACKAGES = [Path(__file__).resolve().parents[2] / "platform_assets" / name for name in ("merge", "replication")]


def test_the_store_chooses_its_dialect_once_from_the_url(store: MergeStore) -> None:
    expected = POSTGRESQL if store.url.startswith("postgres") else SQLITE
    assert store.dialect is expected and dialect_for(store.engine) is expected


def test_declared_types_are_spelled_as_the_store_reports_them(store: MergeStore) -> None:
    columns = {"id": "string", "n": "bigint", "x": "double", "ok": "boolean", "day": "date", "amount": "decimal(9,3)"}
    product = make_product(columns=columns)
    store.ensure_tables(product)
    with store.engine.connect() as connection:
        reported = store.dialect.existing_columns(connection, f"{product.name}_merge")
    expected = expected_columns(merge_spec(product), store.dialect)
    assert [(name, kind.replace(" ", "").lower()) for name, kind in reported] == [
        (name, kind.replace(" ", "").lower()) for name, kind in expected
    ]


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRESQL], ids=["sqlite", "postgresql"])
def test_timestamps_bind_as_utc_and_naive_ones_are_refused(dialect: MergeDialect) -> None:
    bound = dialect.to_db(dt.datetime(2024, 1, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    assert str(bound).replace("T", " ").startswith("2024-01-01 12:00:00")
    with pytest.raises(ValueError, match="timezone-aware"):
        dialect.to_db(dt.datetime(2024, 1, 1))


def test_no_parameter_or_field_below_the_dialect_is_a_backend_flag() -> None:
    """Merge and replication take the store or its dialect, never a ``postgres`` bool (parameter or field)."""
    flagged = []
    for package in PACKAGES:
        for path in sorted(package.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef):
                    arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                    names = [argument.arg for argument in arguments]
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    names = [node.target.id]
                else:
                    continue
                flagged += [f"{path.name}: {name}" for name in names if "postgres" in name.lower()]
    assert flagged == []
