"""Fixtures of the browser tests: the demo's `dagster dev`, Debian's chromium, a page and its screenshots.

Playwright cannot download its own browser here: it drives the system's
``/usr/bin/chromium`` (``.ci/run`` installs the Debian package when it is
missing). Every test saves a screenshot per step under its ``tmp_path``; when a
test fails, a last screenshot is taken and all their paths are printed with the
failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from platform_assets_tests.ui.server import DemoUi, start_demo_ui, stop

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT: ViewportSize = {"width": 1600, "height": 1000}


class Steps:
    """Numbered screenshots of one test's page: ``steps.shot("launched")`` -> tmp_path/ui-steps/01-launched.png."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.paths: list[Path] = []

    def shot(self, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.paths) + 1:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        return path


@pytest.fixture(scope="session")
def demo_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoUi]:
    """`platform-assets demo` into a temp folder, then `dagster dev` on it (stopped with its process group)."""
    ui = start_demo_ui(tmp_path_factory.mktemp("ui"))
    try:
        yield ui
    finally:
        stop(ui)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless (``--no-sandbox``: the tests may run as root)."""
    launched = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, demo_ui: DemoUi) -> Iterator[Page]:
    """A fresh browser context on the UI, which has seen Dagster's one-time community dialog already."""
    context = browser.new_context(viewport=VIEWPORT, base_url=demo_ui.url)
    context.set_default_timeout(30_000)
    context.add_init_script(f"window.localStorage.setItem('communityNux', {json.dumps(json.dumps('1'))})")
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def steps(page: Page, tmp_path: Path, request: pytest.FixtureRequest) -> Steps:
    recorder = Steps(page, tmp_path / "ui-steps")
    request.node.ui_steps = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed test: one more screenshot of the page as it was, and every screenshot's path in the report."""
    report: pytest.TestReport = yield
    recorder: Steps | None = getattr(item, "ui_steps", None)
    if report.when == "call" and report.failed and recorder is not None:
        try:
            recorder.shot("at-failure")
        except Exception as error:  # the page may be gone with the failure; the earlier shots still count
            report.sections.append(("UI screenshots", f"no screenshot at the failure: {error}"))
        listing = "\n".join(str(path) for path in recorder.paths)
        report.sections.append(("UI screenshots", listing))
        print(f"\nUI screenshots of {item.nodeid}:\n{listing}")
    return report
