"""Conversations that change, in real browsers: reply, react, edit, delete, copy, group changes.

Three people in a group; every change one of them makes shows up live on another's screen, at a
desktop and at a phone size (where actions open with a long press instead of the hover toolbar).
A member removed from the group sees the chat close: a notice in place of the composer, and the
chat gone from the list; the others see the change as a note in the history.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.e2e.flow import (
    LIVE,
    ConsoleErrors,
    Person,
    chat_item,
    create_group,
    log_in,
    open_chat,
    people,
    received,
    send_text,
    session_cookie,
    show_list,
    start_chat,
)
from tests.e2e.test_web_app import axe_violations, describe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def message(person: Person, text: str) -> Locator:
    return person.page.get_by_test_id("message").filter(has_text=text).last


def by_id(person: Person, message_id: str) -> Locator:
    """One message by its id (the same for everybody), not by text a reply's quote may repeat."""
    return person.page.locator(f'[data-testid="message"][data-message-id="{message_id}"]')


def open_actions(person: Person, bubble: Locator, phone: bool) -> Locator:
    """The message's actions menu: a long press on a phone, the toolbar's button on a desktop."""
    if phone:
        bubble.get_by_test_id("message-bubble").dispatch_event(
            "pointerdown", {"pointerType": "touch", "isPrimary": True, "bubbles": True}
        )
    else:
        bubble.hover()
        bubble.get_by_test_id("message-actions-button").click()
    menu = person.page.get_by_test_id("message-menu")
    expect(menu).to_be_visible()
    return menu


def chip(bubble: Locator, emoji: str) -> Locator:
    return bubble.locator(f'[data-testid="reaction-chip"][data-emoji="{emoji}"]')


def run_changes(browser: Browser, base_url: str, *, phone: bool, domain: str) -> None:
    errors = ConsoleErrors()
    # axe-core's serious and critical findings, by screen.
    found: dict[str, list[dict[str, Any]]] = {}
    with people(browser, domain, phone=phone, errors=errors) as (alice, bob, carol):
        if not phone:
            alice.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        for person in (alice, bob, carol):
            log_in(person, base_url)

        chat_id = create_group(alice, "Trip", [bob, carol], phone)
        created = alice.page.get_by_test_id("system-message")
        expect(created.first).to_have_text("You created the group “Trip”", timeout=LIVE)
        expect(chat_item(bob, chat_id)).to_be_visible(timeout=LIVE)
        open_chat(bob, chat_id, "Trip", phone)
        expect(bob.page.get_by_test_id("system-message").first).to_have_text(
            re.compile(r"alice created the group")
        )
        expect(chat_item(carol, chat_id)).to_be_visible(timeout=LIVE)
        open_chat(carol, chat_id, "Trip", phone)

        # Reply: the quote shows in bob's composer, then above the reply on alice's screen.
        send_text(alice, "hello team")
        original = received(bob, "hello team")
        original_id = original.get_attribute("data-message-id")
        assert original_id
        original = by_id(bob, original_id)
        open_actions(bob, original, phone).get_by_test_id("action-reply").click()
        expect(bob.page.get_by_test_id("reply-preview")).to_contain_text("hello team")
        # With the socket up, text goes over it (`sendMessage` with an acknowledgement), not HTTP.
        posts: list[str] = []
        bob.page.on(
            "request", lambda r: posts.append(r.url) if r.method == "POST" and "/message" in r.url else None
        )
        send_text(bob, "count me in")
        assert posts == [], posts
        expect(bob.page.get_by_test_id("reply-preview")).to_have_count(0)
        reply = received(alice, "count me in")
        expect(reply.get_by_test_id("reply-quote")).to_contain_text("hello team")

        # React: bob's chip is his own (pressed); alice sees it live and adds hers from the chip.
        open_actions(bob, original, phone).locator('[data-emoji="👍"]').click()
        expect(chip(original, "👍")).to_have_attribute("aria-pressed", "true", timeout=LIVE)
        mine_on_alice = chip(by_id(alice, original_id), "👍")
        expect(mine_on_alice).to_contain_text("1", timeout=LIVE)
        expect(mine_on_alice).to_have_attribute("aria-pressed", "false")
        mine_on_alice.click()
        expect(chip(original, "👍")).to_contain_text("2", timeout=LIVE)
        expect(chip(original, "👍")).to_have_attribute("aria-label", re.compile(r"alice"))
        # The full picker.
        menu = open_actions(carol, by_id(carol, original_id), phone)
        menu.get_by_test_id("more-emoji").click()
        expect(menu.get_by_test_id("emoji-grid")).to_be_visible()
        menu.locator('[data-emoji="🎉"]').click()
        expect(chip(by_id(alice, original_id), "🎉")).to_contain_text("1", timeout=LIVE)
        found["quotes and reactions"] = axe_violations(alice.page)

        # Copy (desktop: the page may read the clipboard there).
        if not phone:
            open_actions(alice, by_id(alice, original_id), phone).get_by_test_id("action-copy").click()
            expect(alice.page.get_by_test_id("conversation-notice")).to_have_text("Copied")
            assert alice.page.evaluate("navigator.clipboard.readText()") == "hello team"

        # Edit with the up arrow in the empty composer; "edited" shows for bob, his quote follows.
        composer = alice.page.get_by_test_id("composer")
        composer.click()
        composer.press("ArrowUp")
        expect(alice.page.get_by_test_id("edit-banner")).to_be_visible()
        expect(composer).to_have_value("hello team")
        composer.fill("hello everyone")
        composer.press("Enter")
        expect(alice.page.get_by_test_id("edit-banner")).to_have_count(0)
        edited = by_id(bob, original_id)
        expect(edited).to_contain_text("hello everyone", timeout=LIVE)
        expect(edited.get_by_test_id("edited-marker")).to_be_visible(timeout=LIVE)
        expect(message(bob, "count me in").get_by_test_id("reply-quote")).to_contain_text(
            "hello everyone", timeout=LIVE
        )
        # Bob may not edit or delete alice's message (not an admin); he may reply and copy.
        menu = open_actions(bob, edited, phone)
        expect(menu.get_by_test_id("action-edit")).to_have_count(0)
        expect(menu.get_by_test_id("action-delete")).to_have_count(0)
        found["message menu"] = axe_violations(bob.page)
        bob.page.keyboard.press("Escape")
        expect(menu).to_be_hidden()

        # Delete, after a confirmation: a tombstone in place for bob, and his quote says so.
        target = by_id(alice, original_id)
        open_actions(alice, target, phone).get_by_test_id("action-delete").click()
        dialog = alice.page.get_by_test_id("delete-dialog")
        expect(dialog).to_be_visible()
        alice.page.mouse.move(0, 0)  # not hovering a button (hover states may fade a colour)
        found["delete dialog"] = axe_violations(alice.page)
        dialog.get_by_test_id("confirm-delete").click()
        expect(dialog).to_be_hidden()
        tombstone = bob.page.locator('[data-testid="message"][data-deleted="true"]')
        expect(tombstone).to_have_count(1, timeout=LIVE)
        expect(tombstone).to_contain_text("This message was deleted")
        expect(bob.page.get_by_test_id("message").filter(has_text="hello everyone")).to_have_count(0)
        quote = message(bob, "count me in").get_by_test_id("reply-quote")
        expect(quote).to_have_attribute("data-deleted", "true", timeout=LIVE)
        # The quote leads to the original (here, its tombstone).
        quote.click()
        expect(tombstone).to_be_in_viewport()

        # Alice (the group's admin) removes carol: carol's app closes the chat, the others see a note.
        alice.page.get_by_test_id("chat-details-button").click()
        alice.page.get_by_role("button", name="Remove carol from the group").click()
        expect(alice.page.get_by_test_id("system-message").last).to_have_text(
            "You removed carol", timeout=LIVE
        )
        expect(bob.page.get_by_test_id("system-message").last).to_have_text(
            "alice removed carol", timeout=LIVE
        )
        expect(carol.page.get_by_test_id("removed-notice")).to_be_visible(timeout=LIVE)
        expect(carol.page.get_by_test_id("composer")).to_have_count(0)
        found["removed from the group"] = axe_violations(carol.page)
        show_list(carol, phone)
        expect(chat_item(carol, chat_id)).to_have_count(0, timeout=LIVE)

        # A rename reaches the others live: the title and a note.
        bob_title = bob.page.get_by_test_id("conversation-title")
        alice.page.get_by_test_id("rename-button").click()
        alice.page.get_by_test_id("rename-input").fill("Road trip")
        alice.page.get_by_test_id("rename-save").click()
        expect(bob_title).to_have_text("Road trip", timeout=LIVE)
        expect(bob.page.get_by_test_id("system-message").last).to_have_text(
            "alice renamed the group to “Road trip”", timeout=LIVE
        )
    errors.assert_none()
    problems = {screen: describe(v) for screen, v in found.items() if v}
    assert not problems, "\n".join(f"{screen}: {text}" for screen, text in problems.items())


def test_changes_are_live_on_a_desktop(browser: Browser, site: str) -> None:
    run_changes(browser, site, phone=False, domain="changes-desktop.example.com")


def test_changes_are_live_on_a_phone(browser: Browser, site: str) -> None:
    run_changes(browser, site, phone=True, domain="changes-phone.example.com")


def test_a_quote_leads_to_an_original_beyond_the_loaded_history(browser: Browser, embedded_site: str) -> None:
    """The original is older than the page the conversation opens with: clicking the quote loads it."""
    errors = ConsoleErrors()
    with people(browser, "quote-jump.example.com", phone=False, errors=errors) as (alice, bob, _):
        for person in (alice, bob):
            log_in(person, embedded_site)
        start_chat(alice, bob, phone=False)
        first = send_text(alice, "the very first")
        first_id = first.get_attribute("data-message-id")
        chat_id = alice.page.url.split("c=")[-1]
        # Bob reads along, so the history opens later at its latest page (nothing unread to show).
        expect(chat_item(bob, chat_id)).to_be_visible(timeout=LIVE)
        open_chat(bob, chat_id, "alice", phone=False)
        cookie = session_cookie(alice.context)
        assert cookie and first_id
        with httpx.Client(
            base_url=f"{embedded_site}/api/v1",
            headers={"Authorization": f"Bearer {cookie['value']}"},
            timeout=10,
        ) as api:
            for n in range(60):
                assert (
                    api.post("/message", json={"chatId": chat_id, "text": f"filler {n}"}).status_code == 201
                )
            reply = api.post("/message", json={"chatId": chat_id, "text": "about that", "replyTo": first_id})
            assert reply.status_code == 201, reply.text
        received(bob, "about that")
        bob.page.reload()
        answer = received(bob, "about that")
        original = by_id(bob, first_id)
        expect(original).to_have_count(0)
        answer.get_by_test_id("reply-quote").click()
        expect(original).to_be_in_viewport(timeout=LIVE)
        expect(original).to_contain_text("the very first")
    errors.assert_none()
