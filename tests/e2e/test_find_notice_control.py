"""Finding, noticing and controlling, in real browsers at a desktop and a phone size.

- Search: bob finds a message by a word written with another case and accent, in the chat list's
  search box and in the chat's own; choosing the result opens the chat at that message, which is
  older than the page the chat opens with. The chat exports as JSON and as a web page.
- Notifications: with desktop notifications on (the browser grants the permission; an init script
  records every ``Notification`` the page makes), bob is told about a message in another chat,
  never about one in the chat he is reading, one he sent, or one in a muted chat; the tab's title
  and icon count what is unread outside muted chats. Settings survive a reload.
- Blocking: alice blocks bob from their chat's menu; bob's next message is refused with a notice in
  place of the composer; alice unblocks him from her settings, and bob writes again.

Each screen is checked with axe-core (no serious or critical findings).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.flow import (
    LIVE,
    ConsoleErrors,
    Person,
    chat_item,
    log_in,
    open_chat,
    people,
    received,
    send_text,
    session_cookie,
    show_list,
    start_chat,
)
from tests.e2e.test_web_app import EXPECTED, VIEWPORTS, axe_violations, describe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Records the desktop notifications a page makes (the real constructor still runs).
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.shownNotifications = [];
  class Recorded extends Real {
    constructor(title, options) {
      window.shownNotifications.push({ title, body: (options && options.body) || "" });
      super(title, options);
    }
  }
  window.Notification = Recorded;
})();
"""


def api_client(base_url: str, person: Person) -> httpx.Client:
    cookie = session_cookie(person.context)
    assert cookie
    return httpx.Client(
        base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {cookie['value']}"}, timeout=10
    )


def message_by_id(person: Person, message_id: str) -> Locator:
    return person.page.locator(f'[data-testid="message"][data-message-id="{message_id}"]')


def open_menu(person: Person) -> Locator:
    person.page.get_by_test_id("chat-menu-button").click()
    menu = person.page.get_by_test_id("chat-menu")
    expect(menu).to_be_visible()
    return menu


def check(found: dict[str, list[dict[str, Any]]], errors: ConsoleErrors) -> None:
    errors.assert_none(EXPECTED)
    problems = {screen: describe(v) for screen, v in found.items() if v}
    assert not problems, "\n".join(f"{screen}: {text}" for screen, text in problems.items())


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_search_finds_an_older_message_and_jumps_to_it(browser: Browser, site: str, phone: bool) -> None:
    errors = ConsoleErrors()
    found: dict[str, list[dict[str, Any]]] = {}
    domain = f"search-{'phone' if phone else 'desktop'}.example.com"
    with people(browser, domain, phone=phone, errors=errors) as (alice, bob, _):
        for person in (alice, bob):
            log_in(person, site)
        chat_id = start_chat(alice, bob, phone)
        with api_client(site, alice) as api:
            first = api.post(
                "/message", json={"chatId": chat_id, "text": "Meet me at the Café Crème at noon"}
            )
            assert first.status_code == 201, first.text
            target_id = first.json()["message"]["_id"]
            # More than a page (50) after it: the chat opens without it.
            for n in range(60):
                assert (
                    api.post("/message", json={"chatId": chat_id, "text": f"filler {n}"}).status_code == 201
                )
        expect(chat_item(bob, chat_id)).to_be_visible(timeout=LIVE)

        # Over all chats, from the list's search box: "CAFE creme" finds "Café Crème".
        bob.page.get_by_test_id("chat-filter").fill("CAFE creme")
        result = bob.page.get_by_test_id("search-result").filter(has_text="noon")
        expect(result).to_have_count(1, timeout=LIVE)
        expect(result).to_contain_text("alice")
        expect(result.get_by_test_id("search-match")).to_have_text(["Café", "Crème"])
        found["search results"] = axe_violations(bob.page)
        # Keyboard: the result is a button reached with Tab and chosen with Enter.
        result.focus()
        bob.page.keyboard.press("Enter")
        expect(bob.page).to_have_url(re.compile(rf"/chats\?c={chat_id}$"))
        target = message_by_id(bob, target_id)
        expect(target).to_be_in_viewport(timeout=LIVE)
        expect(target).to_contain_text("Café Crème")

        # Within the chat: its own search box; the history goes back to the newest page first.
        bob.page.reload()
        received(bob, "filler 59")
        expect(target).to_have_count(0)
        bob.page.get_by_test_id("chat-search-button").click()
        box = bob.page.get_by_test_id("chat-search-input")
        expect(box).to_be_focused()
        box.fill("creme")
        in_chat = bob.page.get_by_test_id("chat-search").get_by_test_id("search-result")
        expect(in_chat).to_have_count(1, timeout=LIVE)
        expect(in_chat.get_by_test_id("search-match")).to_have_text("Crème")
        found["search in a chat"] = axe_violations(bob.page)
        box.press("ArrowDown")
        expect(in_chat).to_be_focused()
        bob.page.keyboard.press("Enter")
        expect(bob.page.get_by_test_id("chat-search")).to_have_count(0)
        expect(target).to_be_in_viewport(timeout=LIVE)

        # Nothing found says so.
        bob.page.get_by_test_id("chat-search-button").click()
        bob.page.get_by_test_id("chat-search-input").fill("zzzqqq")
        expect(bob.page.get_by_test_id("search-empty")).to_be_visible(timeout=LIVE)
        bob.page.keyboard.press("Escape")
        expect(bob.page.get_by_test_id("chat-search")).to_have_count(0)
        expect(bob.page.get_by_test_id("chat-search-button")).to_be_focused()

        # Export: the whole conversation as JSON, and as a web page.
        open_menu(bob)
        found["chat menu"] = axe_violations(bob.page)
        with bob.page.expect_download() as download:
            bob.page.get_by_test_id("export-json").click()
        exported = json.loads(download.value.path().read_text())
        assert len(exported["messages"]) == 61
        assert exported["messages"][0]["text"] == "Meet me at the Café Crème at noon"
        assert download.value.suggested_filename.endswith(".json")
        open_menu(bob)
        with bob.page.expect_download() as download:
            bob.page.get_by_test_id("export-html").click()
        assert "Café Crème" in download.value.path().read_text()
        assert download.value.suggested_filename.endswith(".html")
    check(found, errors)


def shown_notifications(page: Page) -> list[dict[str, str]]:
    return list(page.evaluate("window.shownNotifications || []"))


def preview_arrived(person: Person, chat_id: str, text: str) -> None:
    """The chat list shows ``text`` as the chat's latest message: the app has handled it."""
    expect(chat_item(person, chat_id)).to_contain_text(text, timeout=LIVE)


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_notifications_title_mute_and_settings(browser: Browser, embedded_site: str, phone: bool) -> None:
    errors = ConsoleErrors()
    found: dict[str, list[dict[str, Any]]] = {}
    domain = f"notify-{'phone' if phone else 'desktop'}.example.com"
    with people(browser, domain, phone=phone, errors=errors) as (alice, bob, carol):
        bob.context.grant_permissions(["notifications"], origin=embedded_site)
        bob.context.add_init_script(RECORD_NOTIFICATIONS)
        for person in (alice, bob, carol):
            log_in(person, embedded_site)
        with_alice = start_chat(bob, alice, phone)
        with_carol = start_chat(bob, carol, phone)
        page = bob.page
        # Nothing is asked on page load: the permission request waits for the switch.
        assert page.evaluate("Notification.permission") == "granted"

        # Settings: desktop notifications and sound (this device), email and read receipts (the account).
        show_list(bob, phone)
        page.get_by_test_id("profile-link").click()
        desktop = page.get_by_test_id("setting-desktop")
        expect(desktop).to_have_attribute("aria-checked", "false")
        desktop.click()
        expect(desktop).to_have_attribute("aria-checked", "true")
        page.get_by_test_id("setting-sound").click()
        email = page.get_by_test_id("setting-email")
        receipts = page.get_by_test_id("setting-read-receipts")
        expect(email).to_have_attribute("aria-checked", "true")
        email.click()
        expect(email).to_have_attribute("aria-checked", "false")
        receipts.click()
        expect(receipts).to_have_attribute("aria-checked", "false")
        expect(page.get_by_test_id("privacy-settings")).to_contain_text(
            "you don't see when they've read yours"
        )
        found["settings"] = axe_violations(page)
        page.reload()
        for switch in ("setting-desktop", "setting-sound"):
            expect(page.get_by_test_id(switch)).to_have_attribute("aria-checked", "true")
        for switch in ("setting-email", "setting-read-receipts"):
            expect(page.get_by_test_id(switch)).to_have_attribute("aria-checked", "false")
        with api_client(embedded_site, bob) as api:
            assert api.get("/me/settings").json() == {"emailNotifications": False, "readReceipts": False}
        page.get_by_test_id("setting-read-receipts").click()
        expect(page.get_by_test_id("setting-read-receipts")).to_have_attribute("aria-checked", "true")
        page.get_by_test_id("back-to-chats").click()

        # Bob reads the chat with alice: her message there is no news; carol's in the other chat is.
        open_chat(bob, with_alice, "alice", phone)
        open_chat(alice, with_alice, "bob", phone)
        open_chat(carol, with_carol, "bob", phone)
        send_text(alice, "in the open chat")
        received(bob, "in the open chat")
        send_text(carol, "news from carol")
        page.wait_for_function("window.shownNotifications.length === 1", timeout=LIVE)
        assert shown_notifications(page) == [{"title": "carol", "body": "news from carol"}]
        expect(page).to_have_title("(1) Parley")
        icon = page.locator('link[rel~="icon"][data-unread="1"]')
        expect(icon.first).to_have_attribute("href", re.compile(r"^data:image/png;base64,"))
        # His own messages never notify.
        send_text(bob, "my own words")
        preview_arrived(bob, with_alice, "my own words")
        assert len(shown_notifications(page)) == 1

        # Mute the chat with carol for good: an icon in the list, no notification, no count in the title.
        open_chat(bob, with_carol, "carol", phone)
        expect(page).to_have_title("Parley")
        open_menu(bob).get_by_test_id("mute-always").click()
        expect(chat_item(bob, with_carol)).to_have_attribute("data-muted", "true")
        expect(chat_item(bob, with_carol).get_by_test_id("muted-icon")).to_have_count(1)
        expect(page.get_by_test_id("conversation-muted")).to_have_count(1)
        open_chat(bob, with_alice, "alice", phone)
        send_text(carol, "quiet please")
        preview_arrived(bob, with_carol, "quiet please")
        expect(chat_item(bob, with_carol)).to_have_attribute("data-unread", "1")
        assert len(shown_notifications(page)) == 1
        expect(page).to_have_title("Parley")
        show_list(bob, phone)
        found["muted chat in the list"] = axe_violations(page)

        # Unmute it: carol's next message is news again, and counts.
        open_chat(bob, with_carol, "carol", phone)
        menu = open_menu(bob)
        expect(menu.get_by_test_id("muted-until")).to_have_text("Muted")
        menu.get_by_test_id("unmute").click()
        expect(chat_item(bob, with_carol)).not_to_have_attribute("data-muted", "true")
        expect(page.get_by_test_id("conversation-muted")).to_have_count(0)
        open_chat(bob, with_alice, "alice", phone)
        send_text(carol, "loud again")
        page.wait_for_function("window.shownNotifications.length === 2", timeout=LIVE)
        assert shown_notifications(page)[-1] == {"title": "carol", "body": "loud again"}
        expect(page).to_have_title("(1) Parley")
    check(found, errors)


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_blocking_stops_the_other_and_unblocking_lets_them_write(
    browser: Browser, embedded_site: str, phone: bool
) -> None:
    errors = ConsoleErrors()
    found: dict[str, list[dict[str, Any]]] = {}
    domain = f"block-{'phone' if phone else 'desktop'}.example.com"
    with people(browser, domain, phone=phone, errors=errors) as (alice, bob, _):
        for person in (alice, bob):
            log_in(person, embedded_site)
        chat_id = start_chat(alice, bob, phone)
        send_text(alice, "hello bob")
        expect(chat_item(bob, chat_id)).to_be_visible(timeout=LIVE)
        open_chat(bob, chat_id, "alice", phone)
        received(bob, "hello bob")

        # Alice blocks bob, after a confirmation; her composer gives way to a notice.
        open_menu(alice).get_by_test_id("block-user").click()
        dialog = alice.page.get_by_test_id("block-dialog")
        expect(dialog).to_be_visible()
        alice.page.mouse.move(0, 0)
        found["block dialog"] = axe_violations(alice.page)
        dialog.get_by_test_id("confirm-block").click()
        notice = alice.page.get_by_test_id("blocked-notice")
        expect(notice).to_have_attribute("data-blocking", "true")
        expect(alice.page.get_by_test_id("composer")).to_have_count(0)

        # Bob's next message is refused, and said so.
        composer = bob.page.get_by_test_id("composer")
        composer.fill("are you there")
        composer.press("Enter")
        refused = bob.page.get_by_test_id("message").filter(has_text="are you there")
        expect(refused).to_have_attribute("data-status", "failed", timeout=LIVE)
        expect(refused).to_contain_text("can't message this person")
        bob_notice = bob.page.get_by_test_id("blocked-notice")
        expect(bob_notice).to_have_attribute("data-blocking", "false", timeout=LIVE)
        expect(bob.page.get_by_test_id("composer")).to_have_count(0)
        found["blocked chat"] = axe_violations(bob.page)

        # Alice unblocks him from her settings' list of blocked people.
        show_list(alice, phone)
        alice.page.get_by_test_id("profile-link").click()
        blocked = alice.page.get_by_test_id("blocked-person")
        expect(blocked).to_have_count(1)
        expect(blocked).to_contain_text("bob")
        found["blocked people"] = axe_violations(alice.page)
        blocked.get_by_role("button", name="Unblock bob").click()
        expect(alice.page.get_by_test_id("blocked-empty")).to_be_visible()

        # Bob checks again and writes; alice reads it.
        bob_notice.get_by_test_id("blocked-notice-check").click()
        expect(bob.page.get_by_test_id("composer")).to_be_visible(timeout=LIVE)
        send_text(bob, "back again")
        alice.page.get_by_test_id("back-to-chats").click()
        open_chat(alice, chat_id, "bob", phone)
        received(alice, "back again")
        expect(alice.page.get_by_test_id("blocked-notice")).to_have_count(0)
    check(found, errors)
