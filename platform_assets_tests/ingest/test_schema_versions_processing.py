"""Processing records the schema a version's rows were written under in the catalog (schema version 1 first)."""

from __future__ import annotations

from platform_assets.platform import Platform
from platform_assets_tests.ingest.test_processing import capture, customer_rows, make_platform


def test_processing_records_schema_version_one_and_marks_each_version(tmp_path, db_url) -> None:
    platform: Platform = make_platform(tmp_path, db_url)
    first = capture(platform, {"a.csv": customer_rows(0, 3)})
    assert platform.process("customers", first).succeeded
    schema = platform.catalog.current_schema("customers")
    assert schema is not None
    assert (schema.number, schema.introduced_by, schema.primary_key) == (1, first, ("id",))
    assert schema.columns == (("id", "string"), ("name", "string"), ("amount", "decimal(12,2)"), ("updated", "date"))
    second = capture(platform, {"b.csv": customer_rows(3, 2)})
    assert platform.process("customers", second).succeeded
    assert [item.number for item in platform.catalog.schema_versions("customers")] == [1]
    assert platform.catalog.schema_of_version("customers", second) == schema
