"""What the UI shows on every asset: owners, kinds, descriptions, column schemas, the merge table, freshness."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_csv, write_platform_config
from platform_assets_tests.defs.test_ingest_defs import column_schema

CUSTOMERS: dict[str, Any] = {
    "name": "customers",
    "description": "Customer master data from the CRM export.",
    "owners": ["team:data-eng", "carol@example.com"],
    "freshness": {"max_lag_minutes": 90, "warn_lag_minutes": 30},
    "source": {"url": "", "glob": "**/*.csv", "format": "csv"},
    "schema": {
        "columns": {
            "id": {"type": "string", "description": "customer id"},
            "name": "string",
            "amount": "decimal(12,2)",
            "updated": {"type": "date", "description": "last change in the CRM"},
        },
        "primary_key": ["id"],
    },
    "mode": "snapshot",
    "milestone": "forensic",
}
ORDERS: dict[str, Any] = {
    "name": "orders",
    "engine": "spark",
    "source": {"url": "", "glob": "**/*.jsonl", "format": "json"},
    "schema": {"columns": {"order_id": "bigint", "total": "decimal(12,2)"}, "primary_key": ["order_id"]},
    "mode": "incremental",
    "milestone": "live_only",
}


def _config(tmp_path: Path, merge_store: str | None = None) -> str:
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01"), ("2", "Bob", "2.00", "2026-01-02")])
    customers = {**CUSTOMERS, "source": {**CUSTOMERS["source"], "url": f"file://{landing}"}}
    orders = {**ORDERS, "source": {**ORDERS["source"], "url": f"file://{tmp_path / 'orders'}"}}
    return write_platform_config(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        f"file://{landing}",
        f"file://{tmp_path}/raw",
        products=[customers, orders],
        merge_store=merge_store,
    )


def _spec(defs: dg.Definitions, product: str, name: str) -> dg.AssetSpec:
    key = dg.AssetKey([product, name])
    return defs.resolve_assets_def(key).specs_by_key[key]


def test_owners_kinds_descriptions_and_the_merge_table_on_every_asset(tmp_path: Path) -> None:
    path = _config(tmp_path, merge_store="postgresql://merge@127.0.0.1:5432/nowhere")
    defs = build_definitions(load_config(path), path)
    for product in ("customers", "orders"):
        for name in ("raw_files", "staged", "merge"):
            spec = _spec(defs, product, name)
            expected = ["team:data-eng", "carol@example.com"] if product == "customers" else []
            assert list(spec.owners) == expected, f"{product}/{name}"
    assert _spec(defs, "customers", "raw_files").kinds == {"file"}, "the raw zone's store, not the catalog's"
    assert _spec(defs, "customers", "staged").kinds == {"iceberg", "pyarrow"}
    assert _spec(defs, "orders", "staged").kinds == {"iceberg", "spark"}
    assert _spec(defs, "customers", "merge").kinds == {"postgres", "sql"}
    for name in ("raw_files", "staged", "merge"):
        description = _spec(defs, "customers", name).description or ""
        assert description.startswith("Customer master data from the CRM export.")

    merge = _spec(defs, "customers", "merge")
    assert merge.metadata["dagster/table_name"] == "customers_merge"
    assert merge.metadata["live_view"] == "customers_live"
    assert merge.tags["platform/role"] == "published"
    columns = {column.name: column for column in merge.metadata["dagster/column_schema"].columns}
    assert list(columns) == ["id", "name", "amount", "updated", "_batch_in", "_batch_out"]
    assert (columns["id"].description, columns["id"].type) == ("customer id", "string")
    assert columns["name"].description is None
    assert "live" in (columns["_batch_out"].description or "")
    live_only = [column.name for column in _spec(defs, "orders", "merge").metadata["dagster/column_schema"].columns]
    assert live_only == ["order_id", "total", "_batch_id"]

    assert merge.freshness_policy == dg.FreshnessPolicy.time_window(
        fail_window=timedelta(minutes=90), warn_window=timedelta(minutes=30)
    )
    assert _spec(defs, "orders", "merge").freshness_policy is None, "no freshness unless the product declares one"
    staged = _spec(defs, "customers", "staged")
    assert staged.metadata["dagster/table_name"] == "alpha.customers"
    staged_columns = {column.name: column.description for column in staged.metadata["dagster/column_schema"].columns}
    assert staged_columns["updated"] == "last change in the CRM" and staged_columns["_version"]


def test_materializations_name_their_figures_and_describe_the_columns(tmp_path: Path) -> None:
    path = _config(tmp_path)
    defs = build_definitions(load_config(path), path)
    Platform(load_config(path)).sync("customers")
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        result = defs.resolve_job_def("customers_capture_to_merge").execute_in_process(
            instance=instance, partition_key="v1"
        )
    assert result.success
    by_asset = {
        event.asset_key.path[-1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }
    raw = by_asset["raw_files"]
    assert raw["file_count"].value == 1
    assert "dagster/row_count" not in raw, "raw_files counts files, not rows"
    assert by_asset["staged"]["dagster/row_count"].value == 2
    columns = {column.name: column.description for column in column_schema(by_asset["staged"]).columns}
    assert columns["id"] == "customer id" and columns["_source_file"] and columns["name"] is None
