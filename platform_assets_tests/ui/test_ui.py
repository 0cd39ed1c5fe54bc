"""The Dagster UI on the demo, driven in headless Chromium as a new user would drive it.

One `dagster dev` (webserver and daemon) runs on a fresh `platform-assets demo`
for the whole module (conftest.py); the tests run in file order on that one
instance. Assertions are on what the pages show; the catalog is read only for
the figures the UI must agree with.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from platform_assets.defs.partitions import partition_key
from platform_assets.platform import Platform
from platform_assets_tests.ui.conftest import CHROMIUM, Steps
from platform_assets_tests.ui.server import DemoUi

pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no chromium at {CHROMIUM}: the UI tests drive Debian's package (apt-get install chromium; "
        ".ci/run installs it)",
    ),
]

PRODUCT_ASSETS = {
    "raw_files": ["File"],
    "staged": ["pyarrow", "Iceberg"],
    "merge": ["SQLite", "SQL"],
    "published": ["Iceberg"],
}
PRODUCTS = {"customers": PRODUCT_ASSETS, "orders": PRODUCT_ASSETS, "ledger": PRODUCT_ASSETS}
RUN_SECONDS = 150  # a run on a busy 2-core machine: code server start, step subprocess, the work
AUTOMATION_SECONDS = 240  # a discovery tick (server.DISCOVERY_SECONDS), the ingest run, the merge sensor, the merge run
CUSTOMERS_HEADER = "id,name,amount,updated\n"
NEW_CUSTOMERS = CUSTOMERS_HEADER + "c90001,New One,12.50,2026-02-01\nc90002,New Two,3.00,2026-02-02\n"
BAD_CUSTOMERS = CUSTOMERS_HEADER + "".join(f"c8000{n},Bad {n},n/a,2026-02-0{n}\n" for n in (1, 2, 3))
FIXED_CUSTOMERS = CUSTOMERS_HEADER + "".join(f"c8000{n},Fixed {n},{n}.00,2026-02-0{n}\n" for n in (1, 2, 3))
BAD_ROWS_REASON = "region/part-5.csv: 3 of 3 rows rejected (100%), more than max_bad_row_fraction 0"
EXCLUSION_REASON = "part-5.csv was a bad export"


def asset_node(page: Page, asset: str) -> Locator:
    """An asset's node in a lineage graph (each node is an SVG foreignObject holding its card)."""
    return page.locator("foreignObject").filter(has=page.get_by_text(asset, exact=True))


def metadata_value(page: Page, label: str) -> Locator:
    """The value cell of a metadata row shown on an asset (partition) page."""
    return page.locator("tr").filter(has=page.get_by_text(label, exact=True)).locator("td").nth(1)


def partition_header(page: Page, version: int) -> Locator:
    """The header of the partition shown on an asset's Partitions tab: its key and its state's tag.

    The list of partitions on the left holds an element with the same tooltip; the header comes after it.
    """
    return page.locator(f'[data-tooltip="{partition_key(version)}"]').last


def partition_url(asset: str, version: int) -> str:
    return f"/assets/{asset}?view=partitions&partition={partition_key(version)}"


def open_partition(page: Page, asset: str, version: int) -> None:
    page.goto(partition_url(asset, version))
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()


def eventually_visible(page: Page, url: str, target: Locator, seconds: float, every: float = 5) -> None:
    """Open ``url`` again until ``target`` shows: for what a page does not refresh by itself (a new partition).

    Not a reload: an asset page asked for a partition that does not exist yet shows (and puts in its URL) another.
    """
    deadline = time.monotonic() + seconds
    while True:
        page.goto(url)
        try:
            expect(target).to_be_visible(timeout=every * 1000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def ensure_running(page: Page, sensor: str) -> None:
    """Open the sensor's page and turn it on unless it runs already (the demo's ``automation: {enabled: true}``)."""
    page.goto(f"/locations/platform_assets/sensors/{sensor}")
    row = page.locator("tr").filter(has=page.get_by_text("Running", exact=True))
    switch = row.get_by_role("checkbox")
    expect(switch).to_be_attached()
    if not switch.is_checked():
        row.locator("label").first.click()
    expect(switch).to_be_checked()


def drop_file(demo_ui: DemoUi, product: str, key: str, text: str) -> Path:
    """Write a file into the product's landing folder, as an upstream system would."""
    path = demo_ui.home / "landing" / product / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def newest_version(demo_ui: DemoUi, product: str) -> int:
    return max(version.number for version in Platform.from_path(str(demo_ui.config)).catalog.versions(product))


def test_the_lineage_shows_the_four_assets_of_each_product(page: Page, steps: Steps) -> None:
    for product, kinds in PRODUCTS.items():
        page.goto(f"/locations/platform_assets/asset-groups/{product}/lineage")
        for asset, asset_kinds in kinds.items():
            node = asset_node(page, asset)
            expect(node).to_be_visible()
            expect(node).to_contain_text("Partitions")
            for kind in asset_kinds:
                expect(node.get_by_text(kind, exact=True)).to_be_visible()
        expect(page.locator("foreignObject").filter(has_text="Latest event")).to_have_count(len(kinds))
        steps.shot(f"lineage of {product}")


def test_one_partition_materialized_from_the_dialog_succeeds(page: Page, steps: Steps) -> None:
    page.goto("/assets/ledger/staged?view=partitions")
    page.get_by_text(partition_key(1), exact=True).filter(visible=True).click()  # in the list of partitions
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()
    steps.shot("partition v1 selected")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("ledger / staged")
    expect(dialog).to_contain_text("1 partition")
    steps.shot("materialize dialog")
    dialog.get_by_role("button", name="Launch 1 run").click()
    expect(page.get_by_text(re.compile(r"Launched run \w+"))).to_be_visible()
    page.get_by_role("link", name="View", exact=True).click()  # on the toast, which soon fades
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    run_id = page.url.rsplit("/", 1)[1].split("?")[0]
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible(timeout=RUN_SECONDS * 1000)
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    steps.shot("run succeeded")
    open_partition(page, "ledger/staged", 1)
    expect(partition_header(page, 1)).to_contain_text("Materialized")
    expect(page.get_by_role("link", name=run_id[:8])).to_be_visible()
    expect(metadata_value(page, "version_status")).to_have_text("AWAITING_REVIEW")
    steps.shot("partition v1 shows the run")


def test_a_backfill_over_all_versions_gives_each_partition_its_own_rows_written(
    page: Page, steps: Steps, demo_ui: DemoUi
) -> None:
    catalog = Platform.from_path(str(demo_ui.config)).catalog
    versions = [version.number for version in catalog.versions("ledger") if version.captured]
    expected = {version: catalog.rows_written("ledger", version) for version in versions}
    assert len(set(expected.values())) == len(versions), f"the demo's versions should differ in rows: {expected}"
    page.goto("/assets/ledger/staged?view=partitions")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="All", exact=True).click()
    expect(dialog).to_contain_text(f"{len(versions)} partitions")
    steps.shot("backfill dialog over all versions")
    dialog.get_by_role("button", name="Launch backfill").click()
    expect(page.get_by_text(re.compile(r"Created backfill \w+"))).to_be_visible()
    page.get_by_role("link", name="View", exact=True).click()  # on the toast
    expect(page).to_have_url(re.compile(r"/runs/b/\w+"))
    steps.shot("backfill launched")
    status = page.get_by_text("Status", exact=True).locator("xpath=..")
    expect(status).to_contain_text("Succeeded", timeout=RUN_SECONDS * 1000 * len(versions))
    expect(page.get_by_text("100% completed")).to_be_visible()
    steps.shot("backfill completed")
    shown = {}
    for version in versions:
        open_partition(page, "ledger/staged", version)
        expect(metadata_value(page, "rows_written")).to_be_visible()
        shown[version] = int(metadata_value(page, "rows_written").inner_text().replace(",", ""))
        steps.shot(f"partition v{version} after the backfill")
    assert shown == expected


def test_a_file_dropped_into_the_source_is_merged_by_the_sensors(page: Page, steps: Steps, demo_ui: DemoUi) -> None:
    for sensor in ("customers_discovery", "customers_merge_next"):
        ensure_running(page, sensor)
        steps.shot(f"{sensor} running")
    version = newest_version(demo_ui, "customers") + 1
    drop_file(demo_ui, "customers", "region/part-9.csv", NEW_CUSTOMERS)
    merged = partition_header(page, version).filter(has_text="Materialized")
    eventually_visible(page, partition_url("customers/merge", version), merged, AUTOMATION_SECONDS)
    steps.shot(f"merge {partition_key(version)} materialized")
    expect(metadata_value(page, "batch")).to_have_text(str(version))
    expect(metadata_value(page, "inserted")).to_have_text("2")  # the two customers of the new file
    open_partition(page, "customers/staged", version)
    expect(partition_header(page, version)).to_contain_text("Materialized")
    rows = Platform.from_path(str(demo_ui.config)).catalog.rows_written("customers", version)
    expect(metadata_value(page, "rows_written")).to_have_text(str(rows))
    steps.shot(f"staged {partition_key(version)} materialized")


def shown_value(page: Page, label: str) -> Locator:
    """A metadata row's value as the user reads it: inline, or in the dialog its ``[Show ...]`` button opens."""
    cell = metadata_value(page, label)
    expect(cell).to_be_visible()
    button = cell.get_by_text(re.compile(r"^\[Show "))
    if button.count() == 0:
        return cell
    button.click()
    return page.get_by_role("dialog")


def test_a_staged_partition_shows_its_diff_and_its_column_schema(page: Page, steps: Steps, demo_ui: DemoUi) -> None:
    version = newest_version(demo_ui, "customers")  # processed and merged by the sensors (the test before)
    open_partition(page, "customers/staged", version)
    diff = shown_value(page, "diff")
    expect(diff).to_contain_text(re.compile(rf"v\d+ -> v{version}"))
    expect(diff).to_contain_text("rows")
    expect(diff).to_contain_text("c90001")  # the sample names an added customer of the new file
    steps.shot(f"staged {partition_key(version)}: the diff")
    page.keyboard.press("Escape")
    schema = shown_value(page, "dagster/column_schema")
    for column in ("id", "name", "amount", "updated"):
        expect(schema.get_by_text(column, exact=True).first).to_be_visible()
    steps.shot(f"staged {partition_key(version)}: the column schema")


def test_a_failing_version_shows_as_failed_with_the_files_reason(page: Page, steps: Steps, demo_ui: DemoUi) -> None:
    version = newest_version(demo_ui, "customers") + 1
    drop_file(demo_ui, "customers", "region/part-5.csv", BAD_CUSTOMERS)
    failed = page.get_by_text(re.compile(r"Run \w+ failed, and did not materialize this asset"))
    eventually_visible(page, partition_url("customers/staged", version), failed, AUTOMATION_SECONDS)
    expect(partition_header(page, version)).to_be_visible()
    steps.shot(f"staged {partition_key(version)} failed")
    page.get_by_role("button", name="View logs").click()
    expect(page.get_by_text(BAD_ROWS_REASON).first).to_be_visible()
    expect(page.get_by_text(f"customers {partition_key(version)} is FAILED").first).to_be_visible()
    steps.shot("the run's error names the file and why")
    page.goto(partition_url("customers/merge", version))
    expect(partition_header(page, version)).to_be_visible()
    expect(failed).to_be_visible()  # the run stopped before the merge
    steps.shot(f"merge {partition_key(version)} not materialized")


def test_excluding_the_failed_version_from_the_ui_lets_the_next_version_merge(
    page: Page, steps: Steps, demo_ui: DemoUi
) -> None:
    failed = newest_version(demo_ui, "customers")
    drop_file(demo_ui, "customers", "region/part-5.csv", FIXED_CUSTOMERS)
    later = failed + 1
    processed = partition_header(page, later).filter(has_text="Materialized")
    eventually_visible(page, partition_url("customers/staged", later), processed, AUTOMATION_SECONDS)
    page.goto(partition_url("customers/merge", later))
    expect(partition_header(page, later)).to_be_visible()
    expect(page.get_by_text("Missing (1)", exact=True)).to_be_visible()  # only the later version: it waits
    expect(page.get_by_text("Failed (1)", exact=True)).to_be_visible()  # the failed version
    steps.shot(f"{partition_key(later)} processed, its merge waits for {partition_key(failed)}")
    page.goto("/locations/platform_assets/jobs/customers_exclude_version/playground")
    page.get_by_role("button", name="Scaffold missing config").click()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_placeholder("Partition").click()
    page.get_by_text(partition_key(failed), exact=True).click()
    expect(page.get_by_placeholder("Partition")).to_have_value(partition_key(failed))
    page.locator(".CodeMirror-line").filter(has_text="reason:").click()  # the scaffold wrote reason: ''
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    page.keyboard.type(EXCLUSION_REASON)
    expect(page.locator(".CodeMirror")).to_contain_text(f"reason: '{EXCLUSION_REASON}'")
    steps.shot("exclude job in the launchpad")
    page.get_by_role("button", name="Launch Run").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible(timeout=RUN_SECONDS * 1000)
    expect(page.get_by_text(f"customers {partition_key(failed)} excluded from the merge order")).to_be_visible()
    steps.shot("exclusion run succeeded")
    merged = partition_header(page, later).filter(has_text="Materialized")
    eventually_visible(page, partition_url("customers/merge", later), merged, AUTOMATION_SECONDS)
    expect(metadata_value(page, "batch")).to_have_text(str(later))
    steps.shot(f"merge {partition_key(later)} materialized")
