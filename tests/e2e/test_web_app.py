"""The web app as people use it: long words, the length limit, dialogs and Escape, group admins,
dead login codes, unread messages after a restart, writing offline, and accessibility (axe-core).

Most tests share one site and three people logged in once (``trio``); the restart test runs its
own site, since it stops it.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.flow import (
    CSRF_COOKIE,
    DESKTOP,
    LIVE,
    PHONE,
    ConsoleErrors,
    Person,
    chat_item,
    create_group,
    log_in,
    new_person,
    open_chat,
    received,
    send_text,
    show_list,
    start_chat,
)
from tests.e2e.site import free_port, parley_up, png_bytes, wait_for_code

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VIEWPORTS = [pytest.param(False, id="desktop"), pytest.param(True, id="phone")]
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
# The browser logs requests the server refuses (wrong codes, a member's 403) and, while a site is
# down or a context offline, the failed requests and socket attempts; the app shows them itself.
EXPECTED = (
    re.compile(r"status of (400|403|429) "),
    re.compile(r"ERR_(INTERNET_DISCONNECTED|CONNECTION_REFUSED|NETWORK_CHANGED)"),
    re.compile(r"WebSocket connection .* failed"),
    re.compile(r"Failed to load resource"),
)


@dataclass
class Trio:
    base: str
    alice: Person
    bob: Person
    carol: Person
    direct: str
    group: str


@pytest.fixture(scope="module")
def trio(browser: Browser, embedded_site: str) -> Iterator[Trio]:
    """Alice, Bob and Carol logged in at a desktop size; Alice has a chat with Bob and a group."""
    errors = ConsoleErrors()
    domain = f"{secrets.token_hex(4)}.example.com"
    people = [
        new_person(browser, name, domain, phone=False, errors=errors) for name in ("alice", "bob", "carol")
    ]
    alice, bob, carol = people
    try:
        for person in people:
            log_in(person, embedded_site)
        direct = start_chat(alice, bob, phone=False)
        send_text(alice, "Hello Bob")
        group = create_group(alice, "Book club", [bob, carol], phone=False)
        yield Trio(embedded_site, alice, bob, carol, direct, group)
    finally:
        for person in people:
            person.context.close()
    errors.assert_none(allowed=EXPECTED)


def viewport(page: Page, phone: bool) -> None:
    page.set_viewport_size(PHONE if phone else DESKTOP)


def post_messages(person: Person, base_url: str, chat_id: str, texts: list[str]) -> None:
    """Send messages through the API as ``person`` (their session cookie and CSRF token)."""
    csrf = next(c["value"] for c in person.context.cookies() if c["name"] == CSRF_COOKIE)
    for text in texts:
        response = person.context.request.post(
            f"{base_url}/api/v1/message",
            multipart={"chatId": chat_id, "text": text},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status == 201, response.text()


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).last.bounding_box()
    assert found is not None, selector
    return found


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_a_long_unbroken_word_wraps_inside_its_bubble(trio: Trio, phone: bool) -> None:
    alice, bob = trio.alice, trio.bob
    for person in (alice, bob):
        viewport(person.page, phone)
    word = "Supercalifragilistic" * 15
    open_chat(alice, trio.direct, "bob", phone)
    send_text(alice, word)
    open_chat(bob, trio.direct, "alice", phone)
    received(bob, word)
    for person in (alice, bob):
        page = person.page
        bubble = box(page, f'[data-testid="message"]:has-text("{word[:40]}") p')
        conversation = box(page, '[data-testid="conversation-pane"]')
        width = (PHONE if phone else DESKTOP)["width"]
        # Inside the conversation (not under the list on a desktop) and on the screen (a phone).
        assert bubble["x"] >= conversation["x"], (bubble, conversation)
        assert bubble["x"] + bubble["width"] <= conversation["x"] + conversation["width"] + 0.5
        assert bubble["x"] + bubble["width"] <= width
        assert bubble["height"] > 60  # it wrapped onto several lines
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width
        show_list(person, phone)
        viewport(person.page, False)


def test_the_counter_warns_near_the_limit_and_an_over_long_message_is_not_sent(trio: Trio) -> None:
    alice = trio.alice
    open_chat(alice, trio.direct, "bob", phone=False)
    composer = alice.page.get_by_test_id("composer")
    counter = alice.page.get_by_test_id("length-counter")
    composer.fill("a" * 3000)
    expect(counter).to_be_hidden()
    composer.fill("a" * 3990)
    expect(counter).to_have_text("10 characters left")
    composer.fill("é" * 4001)  # counted as the server counts: characters, not bytes
    expect(counter).to_have_text(re.compile(r"^1 characters too long"))
    expect(composer).to_have_attribute("aria-invalid", "true")
    expect(alice.page.get_by_test_id("send-button")).to_be_disabled()
    bubbles = alice.page.get_by_test_id("message").count()
    composer.press("Enter")
    expect(composer).to_have_value("é" * 4001)  # kept, not sent
    assert alice.page.get_by_test_id("message").count() == bubbles
    composer.fill("")
    expect(counter).to_be_hidden()


def test_a_draft_survives_a_reload_and_shows_in_the_list(trio: Trio) -> None:
    alice = trio.alice
    open_chat(alice, trio.direct, "bob", phone=False)
    alice.page.get_by_test_id("composer").fill("Half a thought")
    open_chat(alice, trio.group, "Book club", phone=False)
    expect(chat_item(alice, trio.direct)).to_contain_text("Draft: Half a thought")
    alice.page.reload()
    expect(chat_item(alice, trio.direct)).to_contain_text("Draft: Half a thought")
    open_chat(alice, trio.direct, "bob", phone=False)
    expect(alice.page.get_by_test_id("composer")).to_have_value("Half a thought")
    alice.page.get_by_test_id("composer").fill("")
    open_chat(alice, trio.group, "Book club", phone=False)
    expect(chat_item(alice, trio.direct)).not_to_contain_text("Draft:")


def test_the_group_name_field_keeps_its_height_on_a_small_screen(trio: Trio) -> None:
    page = trio.alice.page
    page.set_viewport_size({"width": 390, "height": 480})
    try:
        show_list(trio.alice, phone=True)
        page.get_by_test_id("new-group-button").click()
        dialog = page.get_by_test_id("new-group-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_test_id("user-search").fill("a")
        name = dialog.get_by_test_id("group-name-input").bounding_box()
        assert name is not None and name["height"] >= 36, name
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    finally:
        viewport(page, False)


def test_one_escape_closes_a_dialog_from_its_search_box_and_the_details_from_anywhere(trio: Trio) -> None:
    page = trio.alice.page
    page.get_by_test_id("new-chat-button").click()
    dialog = page.get_by_test_id("new-chat-dialog")
    dialog.get_by_test_id("user-search").fill("bob")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    open_chat(trio.alice, trio.group, "Book club", phone=False)
    page.get_by_test_id("chat-details-button").click()
    details = page.get_by_test_id("chat-details")
    expect(details).to_be_visible()
    page.get_by_test_id("composer").click()  # focus leaves the panel
    page.keyboard.press("Escape")
    expect(details).to_be_hidden()


def test_only_group_admins_are_offered_to_add_people(trio: Trio) -> None:
    for person, admin in ((trio.alice, True), (trio.bob, False)):
        open_chat(person, trio.group, "Book club", phone=False)
        person.page.get_by_test_id("chat-details-button").click()
        details = person.page.get_by_test_id("chat-details")
        expect(details.get_by_test_id("member")).to_have_count(3)
        expect(details.get_by_test_id("add-members-button")).to_have_count(1 if admin else 0)
        person.page.keyboard.press("Escape")
        expect(details).to_be_hidden()


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_a_void_code_says_so_and_a_new_code_is_offered_at_once(
    browser: Browser, embedded_site: str, phone: bool
) -> None:
    errors = ConsoleErrors()
    erin = new_person(browser, "erin", f"{secrets.token_hex(4)}.example.com", phone=phone, errors=errors)
    page = erin.page
    alert = page.locator("form").get_by_role("alert")
    resend = page.get_by_test_id("resend-button")
    try:
        page.goto(f"{embedded_site}/login")
        page.get_by_test_id("email-input").fill(erin.email)
        page.get_by_test_id("send-code-button").click()
        expect(page).to_have_url(re.compile(r"/verify\?"))
        code = wait_for_code(embedded_site, erin.email)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        expect(resend).to_be_disabled()  # the resend cooldown
        for attempt in range(5):
            page.get_by_test_id("otp-0").click()
            page.keyboard.type(wrong)
            expect(alert).to_contain_text("last try" if attempt == 4 else "That code is wrong. Check it")
        # The code is dead: a new one can be asked for now, with the focus on the button.
        expect(resend).to_be_enabled()
        expect(resend).to_have_text("Resend code")
        expect(resend).to_be_focused()
        page.get_by_test_id("otp-0").click()
        page.keyboard.type(code)  # the right code, too late
        expect(alert).to_contain_text("no longer works")
        expect(alert).not_to_contain_text("wrong or")
        expect(resend).to_be_enabled()
        resend.click()
        expect(page.get_by_role("status")).to_contain_text("We sent a new code")
        fresh = wait_for_code(embedded_site, erin.email, seen=1)
        page.get_by_test_id("otp-0").click()
        page.keyboard.type(fresh)
        expect(page).to_have_url(re.compile(r"/chats$"))
        # A first login offers to pick a name instead of the one taken from the address.
        offer = page.get_by_test_id("name-offer")
        expect(offer).to_contain_text("Others see you as erin")
        offer.get_by_role("link", name="Set your name").click()
        expect(page).to_have_url(re.compile(r"/profile$"))
        page.go_back()
        expect(page.get_by_test_id("profile-link")).to_be_visible()
        expect(offer).to_be_hidden()
    finally:
        erin.context.close()
    # Chromium may ask for /favicon.ico on a history navigation; the app's icon is /icon.svg.
    errors.assert_none(allowed=(re.compile(r"status of 400 .*/api/v1/verify"), re.compile(r"/favicon\.ico")))


def test_writing_offline_survives_a_restart_and_a_reload_and_goes_out_once_in_order(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Alice on a desktop, Bob on a phone; the server stops while Alice writes, then comes back.

    Bob opens his 40 unread messages at the first of them (a divider marks it); while he reads,
    the server goes down. Alice switches chats and writes anyway: the app stays, the messages
    wait (also across a reload, which the service worker serves). Back up, they go out once, in
    order, and Alice's history comes back; Bob, scrolled up, gets a "new messages" pill and no
    unread badge for the open chat.
    """
    errors = ConsoleErrors()
    data_dir = tmp_path_factory.mktemp("parley-restart")
    port = free_port()
    domain = f"{secrets.token_hex(4)}.example.com"
    alice = new_person(browser, "alice", domain, phone=False, errors=errors)
    bob = new_person(browser, "bob", domain, phone=True, errors=errors)
    carol = new_person(browser, "carol", domain, phone=False, errors=errors)
    try:
        with parley_up(data_dir, port=port) as base:
            for person in (alice, bob, carol):
                log_in(person, base)
            direct = start_chat(alice, bob, phone=False)
            other = start_chat(alice, carol, phone=False)
            send_text(alice, "Hi Carol")
            post_messages(alice, base, direct, [f"Chapter {n}" for n in range(1, 41)])
            expect(chat_item(bob, direct).get_by_test_id("unread-badge")).to_have_text("40")
            open_chat(bob, direct, "alice", phone=True)
            divider = bob.page.get_by_test_id("unread-divider")
            expect(divider).to_be_in_viewport()
            first = bob.page.get_by_test_id("message-list").get_by_text("Chapter 1", exact=True)
            expect(first).to_be_in_viewport()
            expect(
                bob.page.get_by_test_id("message-list").get_by_text("Chapter 40", exact=True)
            ).not_to_be_in_viewport()
            # Alice's app is installed for offline use before the server goes; she reads both chats.
            alice.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            alice.page.reload()
            alice.page.wait_for_function("navigator.serviceWorker.controller !== null")
            open_chat(alice, direct, "bob", phone=False)
            expect(
                alice.page.get_by_test_id("message-list").get_by_text("Chapter 40", exact=True)
            ).to_be_visible()
            open_chat(alice, other, "carol", phone=False)
            expect(alice.page.get_by_test_id("message").filter(has_text="Hi Carol")).to_be_visible()
        # The server is down. Switching chats keeps the app (no full page load, no error page).
        alice.page.evaluate("window.stayed = true")
        chat_item(alice, direct).click()
        expect(alice.page).to_have_url(re.compile(rf"/chats\?c={direct}$"))
        expect(
            alice.page.get_by_test_id("message-list").get_by_text("Chapter 40", exact=True)
        ).to_be_visible()
        chat_item(alice, other).click()
        expect(alice.page.get_by_test_id("message").filter(has_text="Hi Carol")).to_be_visible()
        chat_item(alice, direct).click()
        assert alice.page.evaluate("window.stayed") is True
        composer = alice.page.get_by_test_id("composer")
        for text in ("Are you still reading?", "I finished the book"):
            composer.fill(text)
            composer.press("Enter")
            expect(composer).to_have_value("")
        pending = alice.page.locator('[data-testid="message"][data-status="pending"]')
        expect(pending).to_have_count(2)
        # A reload while the server is down: the app opens from the service worker, the messages wait.
        alice.page.reload()
        expect(alice.page.get_by_test_id("conversation-title")).to_have_text("bob")
        expect(pending).to_have_count(2)
        expect(alice.page.get_by_test_id("offline-banner")).to_be_visible(timeout=LIVE)

        with parley_up(data_dir, port=port):
            for text in ("Are you still reading?", "I finished the book"):
                sent = alice.page.get_by_test_id("message").filter(has_text=text)
                expect(sent).to_have_attribute("data-status", re.compile(r"^(sent|seen)$"), timeout=3 * LIVE)
            # The history, which the reload could not fetch offline, comes back with the connection.
            history = alice.page.get_by_test_id("message-list").get_by_text("Chapter 40", exact=True)
            expect(history).to_have_count(1, timeout=LIVE)
            pill = bob.page.get_by_test_id("new-messages-button")
            expect(pill).to_have_text("2 new messages", timeout=3 * LIVE)
            pill.click()
            last = bob.page.get_by_test_id("message").filter(has_text="I finished the book")
            expect(last).to_be_in_viewport()
            texts = bob.page.get_by_test_id("message").all_inner_texts()
            mine = [t for t in texts if "still reading" in t or "finished the book" in t]
            assert len(mine) == 2 and "still reading" in mine[0], mine  # once each, in order
            show_list(bob, phone=True)
            expect(chat_item(bob, direct).get_by_test_id("unread-badge")).to_have_count(0)
    finally:
        for person in (alice, bob, carol):
            person.context.close()
    errors.assert_none(allowed=EXPECTED)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the browser's debugging channel: the pages' CSP allows no inline script.
        page.evaluate(AXE.read_text() + "\n;true")
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    return json.dumps(
        [
            {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"][:5]]}
            for v in violations
        ],
        indent=1,
    )


@pytest.mark.parametrize("phone", VIEWPORTS)
def test_every_screen_has_no_serious_accessibility_problem(browser: Browser, trio: Trio, phone: bool) -> None:
    """axe-core on each screen: login, code entry, chat list, conversation, details, dialogs, profile."""
    found: dict[str, list[dict[str, Any]]] = {}
    errors = ConsoleErrors()
    guest = new_person(browser, "guest", f"{secrets.token_hex(4)}.example.com", phone=phone, errors=errors)
    try:
        guest.page.goto(f"{trio.base}/login")
        expect(guest.page.get_by_test_id("email-input")).to_be_visible()
        found["login"] = axe_violations(guest.page)
        guest.page.get_by_test_id("email-input").fill(guest.email)
        guest.page.get_by_test_id("send-code-button").click()
        expect(guest.page.get_by_test_id("otp-0")).to_be_focused()
        found["code entry"] = axe_violations(guest.page)
    finally:
        guest.context.close()

    alice = trio.alice
    page = alice.page
    viewport(page, phone)
    try:
        page.goto(f"{trio.base}/chats")
        expect(chat_item(alice, trio.direct)).to_be_visible()
        found["chat list"] = axe_violations(page)
        open_chat(alice, trio.direct, "bob", phone)
        expect(page.get_by_test_id("message").first).to_be_visible()
        found["conversation"] = axe_violations(page)
        open_chat(alice, trio.group, "Book club", phone)
        page.get_by_test_id("chat-details-button").click()
        expect(page.get_by_test_id("chat-details")).to_be_visible()
        found["group details"] = axe_violations(page)
        page.keyboard.press("Escape")
        show_list(alice, phone)
        page.get_by_test_id("new-group-button").click()
        expect(page.get_by_test_id("new-group-dialog")).to_be_visible()
        found["new group"] = axe_violations(page)
        page.keyboard.press("Escape")
        page.get_by_test_id("profile-link").click()
        expect(page).to_have_url(re.compile(r"/profile"))
        page.wait_for_load_state()
        found["profile"] = axe_violations(page)
    finally:
        viewport(page, False)
        page.goto(f"{trio.base}/chats")
    problems = {screen: describe(v) for screen, v in found.items() if v}
    assert not problems, "\n".join(f"{screen}: {text}" for screen, text in problems.items())


def test_a_group_preview_names_the_sender_before_the_group_is_opened(trio: Trio) -> None:
    # Carol shares no other chat with Bob and has not opened the group: his name is looked up.
    post_messages(trio.bob, trio.base, trio.group, ["Who has read chapter 3?"])
    expect(chat_item(trio.carol, trio.group)).to_contain_text("bob: Who has read chapter 3?")


DROP = """async ([type, b64]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
    const zone = document.querySelector("[data-drop-zone]");
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
}"""


def test_an_image_dragged_onto_the_conversation_is_sent(trio: Trio) -> None:
    alice, bob = trio.alice, trio.bob
    open_chat(alice, trio.direct, "bob", phone=False)
    image = base64.b64encode(png_bytes(320, 240)).decode()
    alice.page.evaluate(DROP, ["dragover", image])
    expect(alice.page.get_by_test_id("drop-overlay")).to_be_visible()
    alice.page.evaluate(DROP, ["drop", image])
    expect(alice.page.get_by_test_id("drop-overlay")).to_be_hidden()
    expect(alice.page.get_by_test_id("image-preview")).to_contain_text("dropped.png")
    alice.page.get_by_test_id("composer").fill("Dropped in")
    alice.page.get_by_test_id("send-button").click()
    own = alice.page.get_by_test_id("message").filter(has_text="Dropped in")
    expect(own).to_have_attribute("data-status", re.compile(r"^(sent|seen)$"))
    open_chat(bob, trio.direct, "alice", phone=False)
    picture = received(bob, "Dropped in")
    expect(picture.get_by_test_id("message-image")).to_be_visible()
