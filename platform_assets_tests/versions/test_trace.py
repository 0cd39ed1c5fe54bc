"""``platform-assets trace``: every milestone of a key with the file and line its values came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_assets.cli import main
from platform_assets.config import load_config
from platform_assets.platform import Platform
from platform_assets.versions.trace import TraceRefused, trace_key
from platform_assets_tests.conftest import NO_RETRIES, customers_product, write_platform_config
from platform_assets_tests.versions.test_diff import HEADER, version_of

V1 = {"a.csv": HEADER + "c1,Ann,1.00,2026-01-01\nc2,Bob,2.00,2026-01-02\n"}
# c2 changes and moves to b.csv (line 3, after c7); c1 is deleted in v3
V2 = {"a.csv": HEADER + "c1,Ann,1.00,2026-01-01\n", "b.csv": HEADER + "c7,Gil,7.00,2026-01-07\nc2,Bo,2.00,2026-01-02\n"}


def merged_platform(tmp_path: Path, db_url: str, milestone: str) -> tuple[Platform, str]:
    landing = tmp_path / "landing"
    landing.mkdir()
    product = customers_product(f"file://{landing}", mode="snapshot", milestone=milestone)
    path = write_platform_config(
        tmp_path,
        db_url,
        f"file://{landing}",
        f"file://{tmp_path}/raw",
        products=[product],
        merge_store=db_url,
        extra_platform=NO_RETRIES,
    )
    platform = Platform(load_config(path), actor="tester")
    for files, gone in ((V1, ()), (V2, ()), ({}, ("a.csv",))):
        version = version_of(platform, files, gone)
        assert platform.merge("customers", version).status == "committed"
    return platform, path


def test_a_key_changed_in_two_versions_names_both_files_and_lines(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    platform, path = merged_platform(tmp_path, db_url, "forensic")
    trace = trace_key(platform.services, platform.product("customers"), ["c2"])
    first, second = trace.milestones
    assert (first.version, first.batch_out, first.live, second.version, second.live) == (1, 1, False, 2, True)
    assert first.source is not None and second.source is not None
    assert (first.source.file, first.source.line, second.source.file, second.source.line) == ("a.csv", 3, "b.csv", 3)
    assert first.source.raw_copy.endswith("/raw/customers/v1/a.csv") and first.source.etag and first.source.sha256
    assert first.changed == {} and second.changed == {"name": ["Bob", "Bo"]}
    assert (second.captured_by, second.processed_by, second.published_by) == ("tester", "tester", "tester")

    deleted = trace_key(platform.services, platform.product("customers"), ["c1"])
    assert [(item.version, item.deleted_in) for item in deleted.milestones] == [(1, 3)]

    assert main(["--config", path, "trace", "customers", "c2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [item["source"]["file"] for item in payload["milestones"]] == ["a.csv", "b.csv"]
    assert main(["--config", path, "trace", "customers", "c2", "x"]) == 1
    assert "primary key is (id): give 1 value(s)" in capsys.readouterr().err
    assert main(["--config", path, "trace", "customers", "nope"]) == 1
    assert "no row with key (id='nope')" in capsys.readouterr().err


def test_live_only_traces_the_last_change(tmp_path: Path) -> None:
    platform, _ = merged_platform(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", "live_only")
    trace = trace_key(platform.services, platform.product("customers"), ["c2"])
    assert [(item.version, item.live) for item in trace.milestones] == [(2, True)]
    assert trace.milestones[0].source is not None and trace.milestones[0].source.file == "b.csv"
    with pytest.raises(TraceRefused, match="never merged"):
        trace_key(platform.services, platform.product("customers"), ["c1"])
