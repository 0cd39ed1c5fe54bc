"""``platform-assets diff``: files, rows by key and schema between two versions, checked on a hand-built pair."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from platform_assets.cli import main
from platform_assets.platform import Platform
from platform_assets.versions.diff import DiffRefused, diff_markdown, row_diff, version_diff
from platform_assets_tests.conftest import customers_product
from platform_assets_tests.ingest.test_processing import landing_of, make_platform

HEADER = "id,name,amount,updated\n"
V1 = {
    "a.csv": HEADER + "c1,Ann,1.00,2026-01-01\nc2,Bob,2.00,2026-01-02\nc3,,3.00,2026-01-03\nc4,Dan,4.00,2026-01-04\n",
    "b.csv": HEADER + "c5,Eve,5.00,2026-01-05\n",
}
# c1 unchanged; c2 name and amount change; c3 name NULL -> ''; c4 leaves a.csv; b.csv (c5) goes; c.csv (c9) comes
A2 = HEADER + 'c1,Ann,1.00,2026-01-01\nc2,Bobby,2.50,2026-01-02\nc3,"",3.00,2026-01-03\n'
C2 = HEADER + "c9,Ivy,9.00,2026-01-09\n"


def version_of(platform: Platform, files: dict[str, str], gone: tuple[str, ...] = ()) -> int:
    """Write ``files``, delete ``gone`` in the landing folder, then sync, capture and process a version."""
    landing = landing_of(platform)
    for name, text in files.items():
        (landing / name).write_text(text)
    for name in gone:
        (landing / name).unlink()
    registered = platform.sync("customers")
    assert registered is not None
    platform.capture("customers", registered.number)
    assert platform.process("customers", registered.number).version_status in ("PROCESSED", "AWAITING_REVIEW")
    return registered.number


def pair(tmp_path: Path, db_url: str, mode: str) -> tuple[Platform, int, int]:
    landing = tmp_path / "landing"
    landing.mkdir()
    product = customers_product(f"file://{landing}", mode=mode, milestone="forensic")
    platform = make_platform(tmp_path, db_url, products=[product])
    first = version_of(platform, V1)
    if mode == "snapshot":
        second = version_of(platform, {"a.csv": A2, "c.csv": C2}, gone=("b.csv",))
    else:
        second = version_of(platform, {"a.csv": A2})
    return platform, first, second


def test_snapshot_diff_of_a_hand_built_pair(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    platform, first, second = pair(tmp_path, db_url, "snapshot")
    columns = {"id": "string", "name": "string", "amount": "decimal(14,2)", "updated": "date", "email": "string"}
    platform.catalog.record_schema_version("customers", columns, ["id"], second, None, "test")  # a schema change

    diff = version_diff(platform.services, platform.product("customers"), first, second)
    assert (diff.files_added, diff.files_removed, diff.files_changed) == (["c.csv"], ["b.csv"], ["a.csv"])
    rows = diff.rows
    assert (rows.added, rows.removed, rows.changed, rows.not_carried, rows.unchanged) == (1, 2, 2, 0, 1)
    assert rows.added_keys == [{"id": "c9"}] and rows.removed_keys == [{"id": "c4"}, {"id": "c5"}]
    assert [(row.key, row.changes) for row in rows.changed_rows] == [
        ({"id": "c2"}, {"name": ["Bob", "Bobby"], "amount": [Decimal("2.00"), Decimal("2.50")]}),
        ({"id": "c3"}, {"name": [None, ""]}),
    ]
    assert diff.schema.added == {"email": "string"}
    assert diff.schema.retyped == {"amount": ["decimal(12,2)", "decimal(14,2)"]} and not diff.schema.removed
    markdown = diff_markdown(diff)
    assert "| rows | 1 | 2 | 2 |" in markdown and "changed `id='c3'`: name: `NULL` -> `''`" in markdown

    config = str(tmp_path / "platform.yaml")
    assert main(["--config", config, "diff", "customers", str(first), str(second), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["rows"]["changed"] == 2 and payload["files_removed"] == ["b.csv"]
    assert payload["rows"]["changed_rows"][1] == {"key": {"id": "c3"}, "changes": {"name": [None, ""]}}
    assert main(["--config", config, "diff", "customers", str(first), "9"]) == 1
    assert "customers has no version 9" in capsys.readouterr().err


def test_incremental_diff_counts_rows_of_files_it_does_not_hold_apart(tmp_path: Path, db_url: str) -> None:
    platform, first, second = pair(tmp_path, db_url, "incremental")
    diff = version_diff(platform.services, platform.product("customers"), first, second)
    assert (diff.files_added, diff.files_removed, diff.files_changed) == ([], ["b.csv"], ["a.csv"])
    rows = diff.rows
    assert (rows.added, rows.removed, rows.changed, rows.not_carried) == (0, 1, 2, 1)
    assert rows.removed_keys == [{"id": "c4"}]
    assert "not carried" in diff.removed_meaning and diff.as_json()["removed_meaning"] == diff.removed_meaning


def test_a_version_never_processed_is_refused(tmp_path: Path) -> None:
    platform = make_platform(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    (landing_of(platform) / "a.csv").write_text(V1["a.csv"])
    registered = platform.sync("customers")
    assert registered is not None
    with pytest.raises(DiffRefused, match="has not been processed"):
        version_diff(platform.services, platform.product("customers"), registered.number, registered.number)


def test_row_diff_compares_values_and_keys_of_several_columns() -> None:
    old = pa.table({"k1": ["a", "a", "b"], "k2": [1, 2, 1], "v": pa.array(["x", None, "ab"]), "n": [1, 2, 3]})
    new = pa.table(
        {"k1": ["a", "a", "b"], "k2": [1, 2, 1], "v": pa.array(["x", "", "a"]), "n": pa.array([1, 2, 3], pa.int64())}
    )
    found = row_diff(old, new, ["k1", "k2"], ["v", "n"])
    assert (found.added, found.removed, found.changed, found.unchanged) == (0, 0, 2, 1)
    assert [row.changes for row in found.changed_rows] == [{"v": [None, ""]}, {"v": ["ab", "a"]}]


def test_the_review_queue_and_staged_metadata_show_the_diff_against_the_previous_version(
    tmp_path: Path, db_url: str
) -> None:
    from platform_assets.config import load_config
    from platform_assets.defs.ingest.staged import diff_metadata
    from platform_assets.versions.review_report import review_queue
    from platform_assets_tests.versions.test_review_cli import review_config

    platform = Platform(load_config(review_config(tmp_path, db_url)), actor="erin")
    first = version_of(platform, V1)
    second = version_of(platform, {"a.csv": A2, "c.csv": C2}, gone=("b.csv",))
    product = platform.product("customers")
    queue = {item.version: item for item in review_queue(platform.services, product)}
    assert queue[first].diff is None and queue[first].diff_error is None  # nothing before v1
    diff = queue[second].diff
    assert diff is not None and (diff.old, diff.rows.added, diff.rows.removed, diff.rows.changed) == (first, 1, 2, 2)
    assert queue[second].as_json()["diff"]["rows"]["changed"] == 2

    metadata = diff_metadata(platform.services, product, second)
    assert metadata["diff_rows_changed"].value == 2
    assert "| rows | 1 | 2 | 2 |" in str(metadata["diff"].value)


def test_a_diff_that_fails_never_fails_the_staged_materialization(monkeypatch: pytest.MonkeyPatch) -> None:
    from typing import Any, cast

    from platform_assets.defs.ingest import staged

    def broken(*_: object) -> None:
        raise RuntimeError("the scan broke")

    monkeypatch.setattr(staged, "diff_against_baseline", broken)
    metadata = staged.diff_metadata(cast(Any, None), cast(Any, None), 2)
    assert str(metadata["diff"].value) == "diff failed (RuntimeError): the scan broke"
