"""The Dagster UI on the demo, driven in headless Chromium as a new user would drive it.

One `dagster dev` (webserver and daemon) runs on a fresh `platform-assets demo`
for the whole module (conftest.py); the tests run in file order on that one
instance. Assertions are on what the pages show; the catalog is read only for
the figures the UI must agree with.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from platform_assets.defs.partitions import partition_key
from platform_assets_tests.ui.conftest import CHROMIUM, Steps

pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no chromium at {CHROMIUM}: the UI tests drive Debian's package (apt-get install chromium; "
        ".ci/run installs it)",
    ),
]

PRODUCTS = {
    "customers": {"raw_files": ["File"], "staged": ["pyarrow", "Iceberg"], "merge": ["SQLite", "SQL"]},
    "orders": {"raw_files": ["File"], "staged": ["pyarrow", "Iceberg"], "merge": ["SQLite", "SQL"]},
}
RUN_SECONDS = 150  # a run on a busy 2-core machine: code server start, step subprocess, the work


def asset_node(page: Page, asset: str) -> Locator:
    """An asset's node in a lineage graph (each node is an SVG foreignObject holding its card)."""
    return page.locator("foreignObject").filter(has=page.get_by_text(asset, exact=True))


def metadata_value(page: Page, label: str) -> Locator:
    """The value cell of a metadata row shown on an asset (partition) page."""
    return page.locator("tr").filter(has=page.get_by_text(label, exact=True)).locator("td").nth(1)


def open_partition(page: Page, asset: str, version: int) -> None:
    page.goto(f"/assets/{asset}?view=partitions&partition={partition_key(version)}")
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()


def test_the_lineage_shows_raw_files_staged_and_merge_of_each_product(page: Page, steps: Steps) -> None:
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
    page.goto("/assets/customers/staged?view=partitions")
    page.get_by_text(partition_key(1), exact=True).filter(visible=True).click()  # in the list of partitions
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()
    steps.shot("partition v1 selected")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("customers / staged")
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
    open_partition(page, "customers/staged", 1)
    expect(page.get_by_role("link", name=run_id[:8])).to_be_visible()
    expect(metadata_value(page, "version_status")).to_have_text("PROCESSED")
    steps.shot("partition v1 shows the run")
