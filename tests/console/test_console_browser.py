"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright; no
browser is downloaded), against the real stack: a coordinator's morning, another unit's
coordinator, and ops answering who read the case. The screenshots in docs/ come from here."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.api.conftest import Api
from tests.console.conftest import open_backdated_case, wait_for_event

CHROMIUM = os.environ.get("SJUKFALL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--lang=sv-SE"]
DOCS = Path(__file__).resolve().parents[2] / "docs"

if not shutil.which(CHROMIUM):  # .ci/run installs it; say so rather than fail obscurely
    pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium", pytrace=False)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                                                   headless=True)
        yield browser
        await browser.close()


#: What the browser complained about (script errors, CSP refusals): the pages must cause none.
COMPLAINTS: list[str] = []


async def sign_in(browser: Browser, api: Api, sub: str, role: str, units: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    page = await context.new_page()
    page.on("pageerror", lambda err: COMPLAINTS.append(str(err)))
    page.on("console", lambda m: COMPLAINTS.append(m.text) if m.type == "error" else None)
    await page.goto(f"{api.url}/console/cases")
    await expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    await page.get_by_label("Användar-id").fill(sub)
    await page.get_by_label("Roll").select_option(role)
    await page.get_by_label("Vårdenheter").fill(units)
    await page.get_by_role("button", name="Logga in").click()
    await expect(page.get_by_role("heading", name="Sjukfallslistan")).to_be_visible()
    return page


async def test_a_coordinator_works_a_backdated_case_and_ops_sees_the_reads(api: Api,
                                                                          browser: Browser) -> None:
    case_id = await open_backdated_case(api, "backdated-35", days_ago=35)
    await open_backdated_case(api, "recent-5", days_ago=5, last_day=14)
    await open_backdated_case(api, "backdated-48", days_ago=48, patient="19800101-2387",
                              protected=True, last_day=60)
    await open_backdated_case(api, "backdated-75", days_ago=75, patient="19900101-0017",
                              last_day=120)
    await wait_for_event(api, case_id, "NotificationSuppressed", recipient="employer")
    await wait_for_event(api, case_id, "MilestoneReached", day=30)

    # the coordinator filters the list to cases over 30 days, with the keyboard where it counts
    page = await sign_in(browser, api, "koordinator-karin", "coordinator", "vc-norr")
    await page.keyboard.press("Tab")  # the first stop skips the menus
    await expect(page.get_by_role("link", name="Hoppa till innehållet")).to_be_focused()
    await page.get_by_label("Längd från (dagar)").fill("31")
    await page.get_by_label("Längd från (dagar)").press("Enter")
    results = page.locator("#results")
    await expect(results.get_by_role("link", name=case_id)).to_be_visible()
    await expect(results.get_by_role("link", name="recent-5")).to_have_count(0)
    assert "min_days=31" in page.url  # htmx pushed the filter into the address
    await page.screenshot(path=str(DOCS / "console-list.png"), full_page=True)

    # the case: the day-30 marker and the employer notification stopped for want of consent
    await results.get_by_role("link", name=case_id).click()
    await expect(page.get_by_role("heading", name=f"Sjukfall {case_id}")).to_be_visible()
    timeline = page.get_by_test_id("timeline")
    await expect(timeline.locator('g.marker.reached[data-day="30"]')).to_have_count(1)
    suppressed = timeline.locator('g.mark.notification-suppressed[data-recipient="employer"]')
    assert await suppressed.count() >= 1
    assert "Stoppad, samtycke saknas: till arbetsgivaren" in (
        await suppressed.first.locator("title").text_content() or "")

    # the employer consent, given from the form: the page shows it held today
    consents = page.get_by_test_id("consents")
    await expect(consents).to_contain_text("Inga samtycken registrerade.")
    form = page.locator("form", has=page.get_by_role("button", name="Registrera samtycke"))
    await form.get_by_label("Mottagare").select_option("employer")
    await form.get_by_label("Ändamål").select_option("share_information")
    await form.get_by_role("button", name="Registrera samtycke").click()
    await expect(page.get_by_role("status")).to_have_text("Samtycket är registrerat.")
    row = consents.locator("tr", has_text="arbetsgivaren")
    await expect(row).to_contain_text("informationsutbyte")
    await expect(row).to_contain_text("Gäller")
    await page.screenshot(path=str(DOCS / "console-case.png"), full_page=True)
    await page.set_viewport_size({"width": 1024, "height": 768})  # a laptop: nothing cut off
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1024
    await page.context.close()

    # another unit's coordinator: the page a case that does not exist gets
    other = await sign_in(browser, api, "koordinator-sven", "coordinator", "vc-syd")
    theirs = await other.goto(f"{api.url}/console/cases/{case_id}")
    assert theirs is not None and theirs.status == 404
    their_text = (await other.locator("main").inner_text()).replace(case_id, "ID")
    nothing = await other.goto(f"{api.url}/console/cases/finns-inte")
    assert nothing is not None and nothing.status == 404
    assert their_text == (await other.locator("main").inner_text()).replace("finns-inte", "ID")
    await other.context.close()

    # ops finds the coordinator's reads: the list, the case page, its history
    ops = await sign_in(browser, api, "drift-olle", "ops", "")
    await ops.goto(f"{api.url}/console/cases/{case_id}/access-log")
    log = ops.get_by_test_id("access-log")
    karin = log.locator("tr", has_text="koordinator-karin")
    await expect(karin.filter(has_text="Sjukfallslista")).to_have_count(1)
    await expect(karin.filter(has_text="Sjukfallet")).to_have_count(1)
    await expect(karin.filter(has_text="Händelsehistorik")).to_have_count(1)
    await expect(log.locator("tr", has_text="koordinator-sven")).to_have_count(0)
    await ops.context.close()
    # the 404 pages are expected; nothing else (no script error, nothing the CSP refused)
    assert [c for c in COMPLAINTS if "404" not in c] == []
