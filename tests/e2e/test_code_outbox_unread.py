"""The code screen's real lifetime, images written offline, and more unread than one page.

- The code screen counts down the lifetime the server gave (``expiresIn``), says when the code
  has expired and offers a new one; a site with a short lifetime shows it without waiting minutes.
- An image picked while the server is down waits with the text around it, survives a reload
  (IndexedDB) and goes out once the server is back, in the order written.
- With 120 unread messages the chat opens at the first of them (older pages load first), and
  "Jump to first unread" brings the reader back there from further down.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.flow import (
    LIVE,
    ConsoleErrors,
    chat_item,
    expect_image_loaded,
    log_in,
    new_person,
    open_chat,
    received,
    send_text,
    show_list,
    start_chat,
)
from tests.e2e.site import free_port, parley_up, png_bytes, wait_for_code
from tests.e2e.test_web_app import EXPECTED, VIEWPORTS, axe_violations, describe, post_messages

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Long enough to type a fresh code on a busy machine, short enough to see a code expire.
CODE_SECONDS = 12


@pytest.fixture(scope="module")
def short_code_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``parley up`` whose codes live :data:`CODE_SECONDS` and may be asked for again after 2 s."""
    settings = {"OTP_TTL_SECONDS": str(CODE_SECONDS), "OTP_RESEND_SECONDS": "2"}
    with parley_up(tmp_path_factory.mktemp("parley-short-code"), settings) as base_url:
        yield base_url


def no_serious_problems(found: dict[str, list[dict[str, Any]]]) -> None:
    problems = {screen: describe(v) for screen, v in found.items() if v}
    assert not problems, "\n".join(f"{screen}: {text}" for screen, text in problems.items())


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_the_code_screen_counts_down_the_real_lifetime_and_says_when_it_expired(
    browser: Browser, short_code_site: str, phone: bool
) -> None:
    errors = ConsoleErrors()
    found: dict[str, list[dict[str, Any]]] = {}
    fay = new_person(browser, "fay", f"{secrets.token_hex(4)}.example.com", phone=phone, errors=errors)
    page = fay.page
    expiry = page.get_by_test_id("code-expiry")
    expired = page.get_by_test_id("code-expired")
    resend = page.get_by_test_id("resend-button")
    try:
        page.goto(f"{short_code_site}/login")
        page.get_by_test_id("email-input").fill(fay.email)
        page.get_by_test_id("send-code-button").click()
        expect(page).to_have_url(re.compile(r"/verify\?"))
        # The lifetime the server answered, counting down (not "a few minutes").
        expect(expiry).to_have_text(re.compile(rf"^([1-9]|1[0-{CODE_SECONDS % 10}]) s$"))
        expect(page.locator("form")).not_to_contain_text("a few minutes")
        wait_for_code(short_code_site, fay.email)
        found["code entry"] = axe_violations(page)
        # It runs out: the screen says so and a new code can be asked for.
        expect(expired).to_contain_text("This code has expired", timeout=(CODE_SECONDS + 5) * 1000)
        expect(expiry).to_be_hidden()
        expect(resend).to_be_enabled()
        found["expired code"] = axe_violations(page)
        # A reload keeps what the screen knows.
        page.reload()
        expect(expired).to_be_visible()
        resend.click()
        expect(page.get_by_role("status")).to_contain_text("We sent a new code")
        expect(expired).to_be_hidden()
        expect(expiry).to_have_text(re.compile(r"^\d+ s$"))
        fresh = wait_for_code(short_code_site, fay.email, seen=1)
        page.get_by_test_id("otp-0").click()
        page.keyboard.type(fresh)
        expect(page).to_have_url(re.compile(r"/chats$"))
    finally:
        fay.context.close()
    errors.assert_none()
    no_serious_problems(found)


def pending(page: Page) -> Any:
    return page.locator('[data-testid="message"][data-status="pending"]')


def test_an_image_picked_offline_waits_survives_a_reload_and_goes_out_in_order(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Alice on a desktop writes text, a picture and text while the server is down; Bob on a phone."""
    errors = ConsoleErrors()
    found: dict[str, list[dict[str, Any]]] = {}
    data_dir = tmp_path_factory.mktemp("parley-offline-image")
    port = free_port()
    domain = f"{secrets.token_hex(4)}.example.com"
    alice = new_person(browser, "alice", domain, phone=False, errors=errors)
    bob = new_person(browser, "bob", domain, phone=True, errors=errors)
    texts = ["First a word", "A picture", "Then more words"]
    try:
        with parley_up(data_dir, port=port) as base:
            for person in (alice, bob):
                log_in(person, base)
            direct = start_chat(alice, bob, phone=False)
            send_text(alice, "Hello Bob")
            # Alice's app is installed for offline use before the server goes.
            alice.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            alice.page.reload()
            alice.page.wait_for_function("navigator.serviceWorker.controller !== null")
            open_chat(alice, direct, "bob", phone=False)
            open_chat(bob, direct, "alice", phone=True)
            received(bob, "Hello Bob")
        # The server is down: text, a picture with a caption, text.
        composer = alice.page.get_by_test_id("composer")
        composer.fill(texts[0])
        composer.press("Enter")
        alice.page.get_by_test_id("image-input").set_input_files(
            {"name": "offline.png", "mimeType": "image/png", "buffer": png_bytes(320, 240)}
        )
        expect(alice.page.get_by_test_id("image-preview")).to_be_visible()
        composer.fill(texts[1])
        alice.page.get_by_test_id("send-button").click()
        expect(alice.page.get_by_test_id("image-preview")).to_be_hidden()
        composer.fill(texts[2])
        composer.press("Enter")
        expect(pending(alice.page)).to_have_count(3)
        # A reload while the server is down: the picture is still there, read back from storage.
        alice.page.reload()
        expect(alice.page.get_by_test_id("conversation-title")).to_have_text("bob")
        expect(pending(alice.page)).to_have_count(3)
        waiting = pending(alice.page).filter(has_text=texts[1])
        expect_image_loaded(waiting.locator("img"))
        expect(alice.page.get_by_test_id("offline-banner")).to_be_visible(timeout=LIVE)
        assert [t for t in texts if t in " ".join(pending(alice.page).all_inner_texts())] == texts
        found["offline, a picture waiting"] = axe_violations(alice.page)

        with parley_up(data_dir, port=port):
            for text in texts:
                sent = alice.page.get_by_test_id("message").filter(has_text=text)
                expect(sent).to_have_attribute("data-status", re.compile(r"^(sent|seen)$"), timeout=3 * LIVE)
            picture = received(bob, texts[1])
            expect_image_loaded(picture.get_by_test_id("message-image").locator("img"))
            received(bob, texts[2])
            shown = bob.page.get_by_test_id("message").all_inner_texts()
            order = [t for line in shown for t in texts if t in line]
            assert order == texts, shown  # once each, in the order written
            found["phone, the picture arrived"] = axe_violations(bob.page)
            # The stored picture is what the server has now; nothing waits in the browser any more.
            expect(pending(alice.page)).to_have_count(0)
            left = alice.page.evaluate(
                """() => new Promise((resolve) => {
                    const open = indexedDB.open("parley-outbox");
                    open.onsuccess = () => {
                        const db = open.result;
                        const count = db.transaction("images").objectStore("images").count();
                        count.onsuccess = () => resolve(count.result);
                    };
                })"""
            )
            assert left == 0
    finally:
        for person in (alice, bob):
            person.context.close()
    errors.assert_none(allowed=EXPECTED)
    no_serious_problems(found)


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_more_unread_than_a_page_opens_at_the_first_and_offers_a_jump_back(
    browser: Browser, embedded_site: str, phone: bool
) -> None:
    errors = ConsoleErrors()
    domain = f"{secrets.token_hex(4)}.example.com"
    alice = new_person(browser, "alice", domain, phone=False, errors=errors)
    bob = new_person(browser, "bob", domain, phone=phone, errors=errors)
    try:
        for person in (alice, bob):
            log_in(person, embedded_site)
        direct = start_chat(alice, bob, phone=False)
        # Bob wrote last; then 120 messages arrive: more than two pages.
        post_messages(bob, embedded_site, direct, [f"Earlier {n}" for n in range(1, 4)])
        post_messages(alice, embedded_site, direct, [f"Chapter {n}" for n in range(1, 121)])
        expect(chat_item(bob, direct)).to_have_attribute("data-unread", "120", timeout=LIVE)

        open_chat(bob, direct, "alice", phone)
        page = bob.page
        divider = page.get_by_test_id("unread-divider")
        first = page.get_by_test_id("message-list").get_by_text("Chapter 1", exact=True)
        last = page.get_by_test_id("message-list").get_by_text("Chapter 120", exact=True)
        expect(divider).to_be_in_viewport(timeout=LIVE)
        expect(first).to_be_in_viewport()
        expect(last).not_to_be_in_viewport()
        # The divider sits exactly between what was read and the first unread message.
        around = divider.evaluate(
            """d => [d.previousElementSibling, d.nextElementSibling].map(
                (m) => m?.querySelector("p > span")?.textContent ?? "")"""
        )
        assert around == ["Earlier 3", "Chapter 1"], around
        jump = page.get_by_test_id("jump-to-unread-button")
        expect(jump).to_be_hidden()

        # Read on to the end: a way back to the first unread message is offered.
        page.get_by_test_id("message-list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        expect(last).to_be_in_viewport()
        expect(jump).to_be_visible()
        violations = axe_violations(page)
        jump.click()
        expect(divider).to_be_in_viewport()
        expect(first).to_be_in_viewport()
        expect(jump).to_be_hidden()
        show_list(bob, phone)
        expect(chat_item(bob, direct).get_by_test_id("unread-badge")).to_have_count(0)
    finally:
        for person in (alice, bob):
            person.context.close()
    errors.assert_none(allowed=EXPECTED)
    assert not violations, describe(violations)
