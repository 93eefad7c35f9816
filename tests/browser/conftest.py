"""Browser fixtures: one SMTP sink, one running service and one Chromium for the module of
browser tests (module-scoped, not session-scoped: Playwright's synchronous API runs an event
loop in this thread while it is started, which the async tests after it could not share);
a fresh browser context (no cookies) per test.

Without a Chromium the browser tests are skipped, saying so; with
``EXPORT_RESEND_TEST_REQUIRE_BROWSER=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.browser.harness import (
    CHROMIUM_FLAGS,
    REQUIRE_VARIABLE,
    RunningService,
    chromium,
    running_service,
)
from tests.smtp import SmtpServer


@pytest.fixture(scope="module")
def chromium_path() -> str:
    found = chromium()
    if found is None:
        reason = "no Chromium here (apt-get install chromium, or set EXPORT_RESEND_TEST_CHROMIUM)"
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_VARIABLE}=1 requires the browser tests")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpServer]:
    sink = SmtpServer()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def live(
    chromium_path: str, smtp_sink: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    with running_service(Path(tmp_path_factory.mktemp("service")), smtp_sink) as service:
        yield service


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser, live: RunningService) -> Iterator[BrowserContext]:
    fresh = browser.new_context(base_url=live.base_url, viewport={"width": 1280, "height": 900})
    fresh.set_default_timeout(10_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
