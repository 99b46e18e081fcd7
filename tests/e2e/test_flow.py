"""Parley in a real browser: the whole flow, at a desktop and a phone size, on both deployments.

``embedded`` is ``parley up`` (one process); ``microservices`` is the ``topology`` fixture (each
service its own process on PostgreSQL, Redis and RabbitMQ, behind ``parley serve web``). The
runs on ``parley up`` take screenshots of the main screens: into ``docs/screenshots/`` with
``PARLEY_SCREENSHOTS=1`` (they change with every run: colours follow user ids, times the clock),
else into a temporary folder, so they are taken, and can fail, on every run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.flow import LIVE, ConsoleErrors, new_person, run_chat_flow
from tests.e2e.site import mails_to, wait_for_code

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("PARLEY_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(params=["embedded", pytest.param("microservices", marks=pytest.mark.real)])
def site(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(deployment, base URL)`` of a running Parley."""
    if request.param == "embedded":
        return request.param, str(request.getfixturevalue("embedded_site"))
    return request.param, str(request.getfixturevalue("topology").url)


def test_chat_flow_on_a_desktop(browser: Browser, site: tuple[str, str], screenshots: Path) -> None:
    deployment, base_url = site
    if deployment == "embedded":
        # Fixed names for the pictures in the docs; each test has its own domain on the shared site.
        run_chat_flow(browser, base_url, screenshots=screenshots, domain="example.com")
    else:
        run_chat_flow(browser, base_url)


def test_chat_flow_on_a_phone(browser: Browser, site: tuple[str, str], screenshots: Path) -> None:
    deployment, base_url = site
    if deployment == "embedded":
        run_chat_flow(browser, base_url, phone=True, screenshots=screenshots, domain="example.org")
    else:
        run_chat_flow(browser, base_url, phone=True)


def test_a_wrong_code_says_so_and_the_right_one_still_works(browser: Browser, embedded_site: str) -> None:
    errors = ConsoleErrors()
    dave = new_person(browser, "dave", "wrong-code.example.com", phone=False, errors=errors)
    page = dave.page
    try:
        page.goto(f"{embedded_site}/login")
        page.get_by_test_id("email-input").fill(dave.email)
        page.get_by_test_id("send-code-button").click()
        expect(page).to_have_url(re.compile(r"/verify\?"))
        code = wait_for_code(embedded_site, dave.email)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        page.get_by_test_id("otp-0").click()
        page.keyboard.type(wrong)
        alert = page.locator("form").get_by_role("alert")
        expect(alert).to_have_text(re.compile(r"That code is wrong\. Check it"), timeout=LIVE)
        expect(page.get_by_test_id("otp-0")).to_have_attribute("aria-invalid", "true")
        expect(page).to_have_url(re.compile(r"/verify\?"))
        # The boxes are cleared for another try, and the right code still logs in.
        expect(page.get_by_test_id("otp-0")).to_have_value("")
        expect(page.get_by_test_id("otp-0")).to_be_focused()
        page.keyboard.type(code)
        expect(page).to_have_url(re.compile(r"/chats$"))
        expect(page.get_by_test_id("profile-link")).to_contain_text("dave")
        assert len(mails_to(embedded_site, dave.email)) == 1
    finally:
        dave.context.close()
    # The browser reports the refused verify request itself; nothing else may go wrong.
    errors.assert_none(allowed=(re.compile(r"status of 400 .*/api/v1/verify"),))
