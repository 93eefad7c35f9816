"""The operator page in a real Chromium, against the service under uvicorn, with its emails
going to an SMTP sink: what a person does, with the keyboard and the labels a screen reader
reads."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.harness import RunningService


def sign_in(page: Page, live: RunningService, user: str = "olivia") -> None:
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/sign-in$"))
    page.get_by_label("API key").fill(live.key(user))
    page.get_by_label("Client type").select_option("SUPPLIER" if user == "sam" else "OPERATOR")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My exports")).to_be_visible()


def test_sign_in_list_filter_open_and_resend_with_a_new_cc(
    page: Page, live: RunningService
) -> None:
    sign_in(page, live)
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(1 + 5)  # the header, and olivia's five demo exports
    page.get_by_label("Type").select_option("SUPPLIER_PAYOUTS")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    rows.nth(1).get_by_role("link").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Supplier payouts")
    first, second = page.get_by_label("Cc address 1"), page.get_by_label("Cc address 2")
    expect(first).to_have_value("finance@demo.example.com")
    expect(second).to_have_value("audit@demo.example.com")
    second.fill("ceo@demo.example.com")
    received = len(live.smtp.received)
    page.get_by_role("button", name="Resend", exact=True).click()

    notice = page.get_by_role("status").filter(has_text="The email is on its way")
    expect(notice).to_be_focused()
    expect(notice).to_contain_text("Cc finance@demo.example.com, ceo@demo.example.com")
    email = live.smtp.wait_for(received + 1)[-1]
    assert email.message["To"] == "olivia@demo.example.com"
    assert email.message["Cc"] == "finance@demo.example.com, ceo@demo.example.com"
    assert set(email.recipients) == {
        "olivia@demo.example.com",
        "finance@demo.example.com",
        "ceo@demo.example.com",
    }
    page.reload()
    expect(page.locator(".delivery").first).to_contain_text("ceo@demo.example.com")


def test_a_bad_address_is_shown_beside_its_field(page: Page, live: RunningService) -> None:
    sign_in(page, live)
    page.goto(f"/ui/exports/{live.export_id('olivia-ready')}")
    page.get_by_label("Cc address 1").fill("Boss <boss@example.com>")
    page.get_by_role("button", name="Resend", exact=True).click()

    expect(page.get_by_role("alert")).to_be_focused()
    field = page.get_by_label("Cc address 1")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(
        re.compile("F-E-012 must be a bare address, without a display name or angle brackets")
    )
    expect(field).to_have_value("Boss <boss@example.com>")


def test_the_cc_editor_adds_and_removes_addresses_with_the_keyboard(
    page: Page, live: RunningService
) -> None:
    sign_in(page, live)
    page.goto(f"/ui/exports/{live.export_id('olivia-ready-cc')}")
    rows = page.locator(".cc-row")
    expect(rows).to_have_count(4)  # the two original addresses and two empty fields
    page.get_by_role("button", name="Add an address").focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(5)
    expect(rows.nth(4).get_by_role("textbox")).to_be_focused()
    page.get_by_role("button", name="Remove Cc address 1").click()
    expect(rows).to_have_count(4)
    expect(page.get_by_label("Cc address 1")).to_have_value("audit@demo.example.com")
    expect(page.get_by_label("Cc address 4")).to_be_visible()


def test_request_an_export_and_see_it_become_ready(page: Page, live: RunningService) -> None:
    sign_in(page, live)
    page.get_by_role("link", name="Request an export").click()
    section = page.get_by_role("region", name="Funding transfers")
    section.get_by_label("COMPLETED").check()
    section.get_by_label("Minimum amount").fill("10")
    received = len(live.smtp.received)
    section.get_by_role("button", name="Request funding transfers").click()

    expect(page.get_by_role("status").filter(has_text="Export requested")).to_be_visible()
    expect(page.locator("#export-status")).to_have_text("READY", timeout=20_000)
    email = live.smtp.wait_for(received + 1)[-1]
    assert email.message["To"] == "olivia@demo.example.com"
    assert "funding transfers" in str(email.message["Subject"]).lower()


def test_sign_out_ends_the_session_and_its_cookie_opens_nothing(
    browser: Browser, context: BrowserContext, page: Page, live: RunningService
) -> None:
    sign_in(page, live)
    cookies = context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")

    replay = browser.new_context(base_url=live.base_url)
    try:
        replay.add_cookies(cookies)  # type: ignore[arg-type]
        stolen = replay.new_page()
        stolen.goto("/ui/")
        expect(stolen).to_have_url(re.compile(r"/ui/sign-in$"))
    finally:
        replay.close()


def test_the_whole_sign_in_works_with_the_keyboard(page: Page, live: RunningService) -> None:
    page.goto("/ui/sign-in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    page.get_by_label("API key").focus()
    page.keyboard.type(live.key("sam"))
    page.keyboard.press("Tab")
    expect(page.get_by_label("Client type")).to_be_focused()
    page.keyboard.press("ArrowDown")  # OPERATOR → SUPPLIER
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="My exports")).to_be_visible()
    page.get_by_role("link", name="Request an export").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2)).to_have_text(
        ["Transaction events", "Funding transfers"]
    )


def test_the_api_reference_renders_under_its_policy(page: Page, live: RunningService) -> None:
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto("/docs")
    expect(page.get_by_text("/v1/exports/{exportId}/resend-email")).to_be_visible()
    assert [e for e in errors if "Content Security Policy" in e] == []
