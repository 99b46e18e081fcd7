"""The web app's defences in a real browser: where a login may lead, the session cookie, the page's
Content-Security-Policy, the daily limit on wrong codes, and signing out other sessions."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from playwright.sync_api import Browser, Route, expect

from tests.e2e.flow import (
    LIVE,
    SESSION_COOKIE,
    ConsoleErrors,
    Person,
    assert_session_in_cookie,
    log_in,
    new_person,
    send_text,
    session_cookie,
    start_chat,
)
from tests.e2e.site import mails_to, wait_for_code

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VIEWPORTS = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]
EVIL = re.compile(r"^https?://([^/]*\.)?evil\.example([:/]|$)")
# As typed into the address bar: the browser sends them as they are and the app decodes `next`.
NASTY_NEXT = ["/%5Cevil.example", "/%09/evil.example", "//evil.example", "https://evil.example/"]
# A request the server refuses is logged by the browser itself; these tests cause some on purpose.
REFUSED = (re.compile(r"status of 40[01] "), re.compile(r"status of 429 .*/api/v1/verify"))


def domain() -> str:
    return f"{secrets.token_hex(4)}.example.com"


def request_code(person: Person, base_url: str, query: str = "") -> None:
    page = person.page
    page.goto(f"{base_url}/login{query}")
    page.get_by_test_id("email-input").fill(person.email)
    page.get_by_test_id("send-code-button").click()
    expect(page).to_have_url(re.compile(r"/verify\?"))
    expect(page.get_by_test_id("otp-0")).to_be_focused()


def enter_code(person: Person, code: str) -> None:
    person.page.get_by_test_id("otp-0").click()
    person.page.keyboard.type(code)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_a_login_follows_next_only_on_this_site(browser: Browser, embedded_site: str, phone: bool) -> None:
    errors = ConsoleErrors()
    visited: list[str] = []

    def other_site(route: Route) -> None:
        visited.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Evil</h1>")

    where = domain()
    for n, nasty in enumerate([*NASTY_NEXT, "/profile"]):
        person = new_person(browser, f"erin{n}", where, phone=phone, errors=errors)
        person.context.route(EVIL, other_site)
        try:
            request_code(person, embedded_site, f"?next={nasty}")
            enter_code(person, wait_for_code(embedded_site, person.email))
            if nasty == "/profile":
                # A path on this site is followed.
                expect(person.page).to_have_url(f"{embedded_site}/profile")
                expect(person.page.get_by_role("heading", name="Your profile")).to_be_visible()
                continue
            expect(person.page).to_have_url(f"{embedded_site}/chats")
            expect(person.page.get_by_test_id("profile-link")).to_contain_text(person.name)
            # Signed in already, the login page sends the visitor on, by the same rule.
            person.page.goto(f"{embedded_site}/login?next={nasty}")
            expect(person.page).to_have_url(f"{embedded_site}/chats")
            expect(person.page.get_by_test_id("profile-link")).to_be_visible()
        finally:
            person.context.close()
    assert not visited, f"the login led off the site: {visited}"
    errors.assert_none()


def test_a_page_runs_no_injected_script_and_keeps_no_token(browser: Browser, embedded_site: str) -> None:
    errors = ConsoleErrors()
    frank = new_person(browser, "frank", domain(), phone=False, errors=errors)
    page = frank.page
    try:
        # A token left by an older version of the app is deleted, and none is stored again.
        page.goto(f"{embedded_site}/login")
        page.evaluate("localStorage.setItem('parley.token', 'eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl')")
        log_in(frank, embedded_site)
        assert page.evaluate("localStorage.getItem('parley.token')") is None
        token = assert_session_in_cookie(frank)
        assert httpx.get(
            f"{embedded_site}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        ).is_success

        # What an injected piece of markup or script would try: both refused by the policy.
        ran = page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.head.append(script);
                return window.injected === true;
            }"""
        )
        assert ran is False
        # A script from another site is not loaded either, though that site would serve it.
        frank.context.route(
            EVIL, lambda route: route.fulfill(content_type="text/javascript", body="window.evil = 1")
        )
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.src = "https://evil.example/x.js";
                document.head.append(script);
            }"""
        )
        expect(page.locator('script[src="https://evil.example/x.js"]')).to_have_count(1)
        page.wait_for_function("() => window.cspViolations >= 2")
        assert page.evaluate("window.evil") is None

        # The app keeps working, and a write without the CSRF header is refused even with the cookie.
        expect(page.get_by_test_id("new-chat-button")).to_be_visible()
        status = page.evaluate(
            """async () => (await fetch("/api/v1/update/user", {
                method: "POST", headers: {"Content-Type": "application/json"}, body: '{"name": "mallory"}',
            })).status"""
        )
        assert status == 403
        assert (
            httpx.get(f"{embedded_site}/api/v1/me", cookies={SESSION_COOKIE: token}).json()["name"] == "frank"
        )
    finally:
        frank.context.close()
    refused = [e for e in errors.errors if "CSP violation" in e]
    assert any("script-src" in e for e in refused), errors.errors
    errors.assert_none(
        allowed=(
            re.compile(r"CSP violation: script-src"),
            re.compile(
                r"(Executing inline script|Loading the script .https://evil.example/x.js.) violates the following Content Security Policy"
            ),
            re.compile(r"status of 403 .*/api/v1/update/user"),
        )
    )


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_a_day_of_wrong_codes_is_explained_with_when_to_try_again(
    browser: Browser, strict_site: str, phone: bool
) -> None:
    errors = ConsoleErrors()
    gina = new_person(browser, "gina", domain(), phone=phone, errors=errors)
    page = gina.page
    alert = page.locator("form").get_by_role("alert")
    try:
        request_code(gina, strict_site)
        code = wait_for_code(strict_site, gina.email)
        # Three wrong codes is this site's daily limit (OTP_MAX_FAILURES_PER_DAY).
        for _ in range(3):
            enter_code(gina, wrong(code))
            expect(alert).to_have_text(re.compile(r"That code is wrong\. Check it"))
            expect(page.get_by_test_id("otp-0")).to_have_value("")
        # From now on even the right code is refused for this address, and the page says why and until when.
        enter_code(gina, code)
        # The server's words, and the local time from its Retry-After (a day away).
        expect(alert).to_contain_text(re.compile(r"Try again after \d{1,2}:\d{2}"))
        refused = httpx.post(f"{strict_site}/api/v1/verify", json={"email": gina.email, "otp": code})
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_failures"
        assert int(refused.headers["Retry-After"]) > 3600
        expect(alert).to_contain_text(refused.json()["message"].rstrip("."))
        expect(alert).not_to_contain_text("A code was sent moments ago")
        expect(page).to_have_url(re.compile(r"/verify\?"))
        assert session_cookie(gina.context) is None
        assert len(mails_to(strict_site, gina.email)) == 1
    finally:
        gina.context.close()
    errors.assert_none(allowed=(re.compile(r"status of (400|429) .*/api/v1/verify"),))


def test_signing_out_another_session_ends_it_there(browser: Browser, strict_site: str) -> None:
    """Hana on a laptop and on a phone: each is a session; the laptop signs the phone out, then all."""
    errors = ConsoleErrors()
    where = domain()
    laptop = new_person(browser, "hana", where, phone=False, errors=errors)
    phone = new_person(browser, "hana", where, phone=True, errors=errors)
    try:
        log_in(laptop, strict_site)
        seen = len(mails_to(strict_site, laptop.email))
        request_code(phone, strict_site)
        enter_code(phone, wait_for_code(strict_site, phone.email, seen=seen))
        expect(phone.page).to_have_url(f"{strict_site}/chats")
        phone_token = assert_session_in_cookie(phone)

        # The laptop's profile lists both; only the other one has a sign-out button.
        laptop.page.get_by_test_id("profile-link").click()
        expect(laptop.page).to_have_url(f"{strict_site}/profile")
        sessions = laptop.page.get_by_test_id("session")
        expect(sessions).to_have_count(2)
        expect(laptop.page.get_by_role("heading", name="Where you're signed in")).to_be_visible()
        this_one = sessions.and_(laptop.page.locator('[data-current="true"]'))
        expect(this_one).to_contain_text("This device")
        expect(this_one.get_by_test_id("session-sign-out")).to_have_count(0)
        other = sessions.and_(laptop.page.locator('[data-current="false"]'))
        sign_out = other.get_by_role("button", name=re.compile(r"^Sign out Chrome"))
        expect(sign_out).to_be_visible()
        sign_out.click()
        expect(sessions).to_have_count(1)
        expect(laptop.page.get_by_test_id("sessions-status")).to_contain_text("Signed out Chrome")
        assert httpx.get(f"{strict_site}/api/v1/me", cookies={SESSION_COOKIE: phone_token}).status_code == 401

        # The phone lands on the login page: at once, as the server drops its socket, or at the
        # latest on its next step, which the server refuses.
        expect(phone.page).to_have_url(re.compile(r"/login"), timeout=LIVE)
        expect(phone.page.get_by_test_id("email-input")).to_be_visible()

        # Signed in again on the phone, this time without a live connection (so the server cannot
        # tell it at once); "Sign out everywhere" on the laptop ends both sessions.
        phone.context.route(re.compile(r"/socket\.io/"), lambda route: route.abort())
        seen = len(mails_to(strict_site, phone.email))
        request_code(phone, strict_site)
        enter_code(phone, wait_for_code(strict_site, phone.email, seen=seen))
        expect(phone.page).to_have_url(f"{strict_site}/chats")
        laptop.page.reload()
        expect(sessions).to_have_count(2)
        laptop_token = assert_session_in_cookie(laptop)
        # This device is listed first. Asked to confirm, the laptop first changes its mind.
        expect(sessions.first).to_have_attribute("data-current", "true")
        everywhere = laptop.page.get_by_test_id("logout-everywhere")
        everywhere.click()
        confirm = laptop.page.get_by_test_id("logout-everywhere-confirm-button")
        expect(confirm).to_be_focused()
        laptop.page.get_by_role("button", name="Cancel").click()
        expect(everywhere).to_be_focused()
        everywhere.click()
        expect(confirm).to_be_focused()
        confirm.click()
        expect(laptop.page).to_have_url(f"{strict_site}/login")
        assert session_cookie(laptop.context) is None
        for token in (laptop_token, assert_session_in_cookie(phone)):
            assert httpx.get(f"{strict_site}/api/v1/me", cookies={SESSION_COOKIE: token}).status_code == 401
        # The phone's next step is refused, and takes it to the login page.
        assert phone.page.url == f"{strict_site}/chats"
        # (Opening the new-chat dialog lists people: a request.)
        phone.page.get_by_test_id("new-chat-button").click()
        expect(phone.page).to_have_url(re.compile(r"/login"), timeout=LIVE)
        expect(phone.page.get_by_test_id("email-input")).to_be_visible()
    finally:
        laptop.context.close()
        phone.context.close()
    errors.assert_none(allowed=(*REFUSED, re.compile(r"net::ERR_FAILED .*/socket\.io/")))


def test_tabs_of_one_browser_follow_its_login_and_logout(browser: Browser, embedded_site: str) -> None:
    errors = ConsoleErrors()
    jo = new_person(browser, "jo", domain(), phone=True, errors=errors)
    other_tab = jo.context.new_page()
    try:
        other_tab.goto(f"{embedded_site}/chats")
        expect(other_tab).to_have_url(f"{embedded_site}/login")
        log_in(jo, embedded_site)
        # The waiting login page goes on by itself, to the chats.
        expect(other_tab).to_have_url(f"{embedded_site}/chats")
        expect(other_tab.get_by_test_id("profile-link")).to_contain_text("jo")
        jo.page.get_by_test_id("logout-button").click()
        jo.page.get_by_test_id("confirm-logout-button").click()  # a phone asks first
        expect(jo.page).to_have_url(f"{embedded_site}/login")
        expect(other_tab).to_have_url(f"{embedded_site}/login")
        expect(other_tab.get_by_test_id("email-input")).to_be_visible()
    finally:
        jo.context.close()
    errors.assert_none()


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_a_rename_renews_the_session_and_everything_keeps_working(
    browser: Browser, embedded_site: str, phone: bool
) -> None:
    errors = ConsoleErrors()
    where = domain()
    kai = new_person(browser, "kai", where, phone=phone, errors=errors)
    lee = new_person(browser, "lee", where, phone=False, errors=errors)
    try:
        log_in(kai, embedded_site)
        log_in(lee, embedded_site)
        before = assert_session_in_cookie(kai)
        kai.page.get_by_test_id("profile-link").click()
        name = kai.page.get_by_test_id("profile-name-input")
        name.fill("Kai Renamed")
        kai.page.get_by_test_id("profile-save").click()
        expect(kai.page.get_by_test_id("profile-saved")).to_be_visible()
        # A new token in the same session: the old one is refused, the cookie holds the new one.
        after = assert_session_in_cookie(kai)
        assert after != before
        assert httpx.get(f"{embedded_site}/api/v1/me", cookies={SESSION_COOKIE: before}).status_code == 401
        # Writes carry the renewed CSRF value, and live events still arrive.
        name.fill("kai")
        kai.page.get_by_test_id("profile-save").click()
        expect(kai.page.get_by_test_id("profile-saved")).to_be_visible()
        kai.page.get_by_test_id("back-to-chats").click()
        expect(kai.page.get_by_test_id("profile-link")).to_contain_text("kai")
        start_chat(lee, kai, phone=False)
        send_text(lee, "Still there after the rename?")
        item = kai.page.locator('[data-testid="chat-item"]').filter(has_text="lee")
        expect(item.get_by_test_id("unread-badge")).to_have_text("1", timeout=LIVE)
    finally:
        kai.context.close()
        lee.context.close()
    errors.assert_none()
