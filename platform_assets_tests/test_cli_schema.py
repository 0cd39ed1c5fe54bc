"""``platform-assets schema P [--history] [--json]``: the current schema from the catalog, and its history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from platform_assets.cli import main
from platform_assets.errors import EXIT_NOTHING_TO_DO
from platform_assets_tests.ingest.test_processing import capture, customer_rows, make_platform


def test_schema_shows_the_current_schema_and_its_history(tmp_path, db_url, capsys: pytest.CaptureFixture[str]) -> None:
    platform = make_platform(tmp_path, db_url)
    config = str(tmp_path / "platform.yaml")
    assert main(["--config", config, "schema", "customers"]) == EXIT_NOTHING_TO_DO
    assert "customers has no schema version yet" in capsys.readouterr().err
    first = capture(platform, {"a.csv": customer_rows(0, 2)})
    assert platform.process("customers", first).succeeded
    second = capture(platform, {"b.csv": customer_rows(2, 1)})
    columns = {"id": "string", "name": "string", "amount": "decimal(14,2)", "updated": "date", "city": "string"}
    platform.catalog.record_schema_version("customers", columns, ["id"], second, None, "carol")
    capsys.readouterr()

    assert main(["--config", config, "schema", "customers"]) == 0
    text = capsys.readouterr().out
    assert "customers: schema version 2 (introduced by v2" in text and "evolution: strict" in text
    assert "primary key: id" in text
    assert "amount   decimal(14,2)  since schema 1 (v1), widened in schema 2 (v2)" in text
    assert "city     string         since schema 2 (v2)" in text
    assert "history" not in text and "not processed yet" not in text

    assert main(["schema", "customers", "--history", "--json", "--config", config]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["schema_version"], payload["introduced_by"], payload["primary_key"]) == (2, 2, ["id"])
    assert [column["name"] for column in payload["columns"]] == ["id", "name", "amount", "updated", "city"]
    assert payload["columns"][4] == {
        "name": "city",
        "type": "string",
        "since_schema_version": 2,
        "since_version": 2,
        "widened_in_schema_version": None,
        "widened_in_version": None,
    }
    assert [item["number"] for item in payload["history"]] == [1, 2]
    assert payload["history"][1]["change"].startswith("column 'city' (string) is added")
    assert payload["history"][0]["change"] == "first schema: id string, name string, amount decimal(12,2), updated date"
    assert payload["pending"] is None, "city and the wider amount came from files: the config need not declare them"

    document = yaml.safe_load(Path(config).read_text())
    document["products"][0]["schema"]["columns"]["email"] = "string"
    Path(config).write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["--config", config, "schema", "customers"]) == 0
    assert (
        "declared in platform.yaml, not processed yet: column 'email' (string) is added at the end"
        in capsys.readouterr().out
    )
