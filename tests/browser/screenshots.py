"""docs/ui/*.png: each page of the operator page, at a desktop and a phone width.

    make screenshots      # or: python -m tests.browser.screenshots

Runs the service as the browser tests do (demo data, an SMTP sink), signs in as olivia and
takes a full-page screenshot of each page. Run it after changing a template or the CSS,
and commit the pictures with the change.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.browser.harness import CHROMIUM_FLAGS, RunningService, chromium, running_service
from tests.smtp import SmtpServer

OUT = Path(__file__).resolve().parents[2] / "docs" / "ui"
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}


def _sign_in(page: Page, live: RunningService) -> None:
    page.goto("/ui/sign-in")
    page.get_by_label("API key").fill(live.key("olivia"))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My exports").wait_for()


def main() -> int:
    executable = chromium()
    if executable is None:
        print("no Chromium: apt-get install chromium", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    sink = SmtpServer()
    sink.start()
    try:
        with (
            tempfile.TemporaryDirectory() as directory,
            running_service(Path(directory), sink) as live,
            sync_playwright() as driver,
        ):
            browser = driver.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            for device, (width, height) in WIDTHS.items():
                context = browser.new_context(
                    base_url=live.base_url,
                    viewport={"width": width, "height": height},
                    device_scale_factor=1,
                    reduced_motion="reduce",
                )
                page = context.new_page()
                page.goto("/ui/sign-in")
                page.screenshot(path=OUT / f"sign-in-{device}.png", full_page=True)
                _sign_in(page, live)
                page.screenshot(path=OUT / f"my-exports-{device}.png", full_page=True)
                page.goto(f"/ui/exports/{live.export_id('olivia-ready-cc')}")
                page.get_by_label("Cc address 3").fill("Boss <boss@demo.example.com>")
                page.get_by_role("button", name="Resend", exact=True).click()
                page.get_by_role("alert").wait_for()
                page.screenshot(path=OUT / f"export-invalid-cc-{device}.png", full_page=True)
                page.get_by_label("Cc address 3").fill("ceo@demo.example.com")
                page.get_by_role("button", name="Resend", exact=True).click()
                page.get_by_text("The email is on its way").wait_for()
                live.smtp.wait_for(len(live.smtp.received))
                page.wait_for_timeout(1500)  # the dispatcher sends; the history shows it
                page.reload()
                page.screenshot(path=OUT / f"export-{device}.png", full_page=True)
                page.goto("/ui/request")
                page.screenshot(path=OUT / f"request-{device}.png", full_page=True)
                page.goto("/docs")
                page.get_by_text("/v1/exports/{exportId}/resend-email").wait_for()
                page.screenshot(path=OUT / f"docs-{device}.png", full_page=False)
                context.close()
            browser.close()
    finally:
        sink.stop()
    for picture in sorted(OUT.glob("*.png")):
        print(picture.relative_to(OUT.parents[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
