"""Under review, a version that changes the schema waits for its approval, and the review shows the change first."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.cli import main
from platform_assets.config import load_config
from platform_assets.defs.review import awaiting_markdown
from platform_assets.merge.errors import OutOfOrderBatch
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_platform_config

REVIEW = {"required": True, "approver_role": "data_owner", "four_eyes": False}


def reviewed_platform(tmp_path: Path, db_url: str) -> tuple[Platform, str]:
    landing = tmp_path / "landing"
    landing.mkdir()
    product = {
        "name": "customers",
        "source": {"url": f"file://{landing}", "glob": "*.csv", "format": "csv"},
        "schema": {"columns": {"id": "string", "name": "string"}, "primary_key": ["id"], "evolution": "add_columns"},
        "mode": "incremental",
        "milestone": "forensic",
        "review": REVIEW,
    }
    path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw", products=[product])
    Path(path).write_text(Path(path).read_text() + "roles:\n  data_owner: [carol]\n")
    return Platform(load_config(path), actor="carol"), path


def land(platform: Platform, tmp_path: Path, files: dict[str, str]) -> int:
    for name, content in files.items():
        (tmp_path / "landing" / name).write_text(content)
    registered = platform.sync("customers")
    assert registered is not None
    platform.capture("customers", registered.number)
    report = platform.process("customers", registered.number)
    assert report.version_status == "AWAITING_REVIEW"
    return registered.number


def test_a_schema_change_waits_for_approval_and_the_review_shows_it_first(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    platform, config = reviewed_platform(tmp_path, db_url)
    first = land(platform, tmp_path, {"a.csv": "id,name\n1,Ann\n"})
    assert platform.review_queue("customers")[0].schema_change == [], "the first schema changes nothing"
    platform.approve("customers", first)
    platform.merge("customers", first)

    second = land(platform, tmp_path, {"b.csv": "id,name,city\n2,Bo,Bern\n", "c.csv": "id\n3\n"})
    waiting = platform.review_queue("customers")
    assert [item.version for item in waiting] == [second]
    assert waiting[0].schema_change == [
        "added column city (string, NULL in earlier rows; schema version 2)",
        "column city missing from 1 file(s) (c.csv): NULL for their rows",
        "column name missing from 1 file(s) (c.csv): NULL for their rows",
    ]
    with pytest.raises(OutOfOrderBatch, match="awaits review"):
        platform.merge("customers", second)
    assert "| version | schema change |" in awaiting_markdown(waiting)

    assert main(["review", "customers", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        f"  v{second}: schema added column city (string, NULL in earlier rows; schema version 2); column city "
        "missing from 1 file(s) (c.csv): NULL for their rows; column name missing from 1 file(s) (c.csv): NULL for "
        "their rows"
    ), "the schema change comes first"
    assert lines[2].startswith("    2 files, 2 rows")

    platform.approve("customers", second)
    result = platform.merge("customers", second)
    assert result.schema_change is not None and "'city' (string) is added" in result.schema_change
