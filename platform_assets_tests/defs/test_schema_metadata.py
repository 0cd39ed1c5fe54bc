"""``staged`` shows the schema version a version was processed under; ``merge`` declares its column lineage."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.platform import Platform
from platform_assets_tests.defs.test_ingest_defs import column_schema
from platform_assets_tests.defs.test_presentation import _config, _spec


def test_staged_shows_the_schema_version_and_merge_its_column_lineage(tmp_path: Path) -> None:
    path = _config(tmp_path)
    defs = build_definitions(load_config(path), path)
    declared = _spec(defs, "customers", "merge").metadata["dagster/column_lineage"]
    assert declared.deps_by_column["amount"] == [dg.TableColumnDep(dg.AssetKey(["customers", "staged"]), "amount")]
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
    staged = by_asset["staged"]
    assert staged["schema_version"].value == 1
    assert staged["schema_change"].value == "first schema: id string, name string, amount decimal(12,2), updated date"
    columns = {column.name: column for column in column_schema(staged).columns}
    assert list(columns)[:5] == ["id", "name", "amount", "updated", "_version"]
    assert (columns["amount"].type, columns["id"].description) == ("decimal(12,2)", "customer id")
    assert columns["_ingested_at"].type == "timestamp" and columns["_source_file"].description

    merged = by_asset["merge"]
    lineage = merged["dagster/column_lineage"].value
    assert isinstance(lineage, dg.TableColumnLineage)
    staged_key = dg.AssetKey(["customers", "staged"])
    assert lineage.deps_by_column["name"] == [dg.TableColumnDep(staged_key, "name")]
    assert lineage.deps_by_column["_batch_in"] == [dg.TableColumnDep(staged_key, "_version")]
    assert [column.name for column in column_schema(merged).columns] == [
        "id",
        "name",
        "amount",
        "updated",
        "_batch_in",
        "_batch_out",
    ]
    assert merged["schema_change"].value == "none"
