"""The browser flow a person goes through, runnable against any Parley site.

``run_chat_flow(browser, base_url)`` drives three people (alice, bob, carol) in three browser
contexts through the product: log in with a code from the dev mailbox, start a chat by searching
for someone, talk both ways live with typing and seen ticks, share an image and view it large,
watch unread badges and the page title, make a group, log out. It asserts as it goes and fails on
any console error or uncaught page error, Content-Security-Policy violations included. It takes only
the site's base URL, so the same flow runs against ``parley up`` and against the services deployed
separately behind ``parley serve web``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Cookie,
    Locator,
    Page,
    ViewportSize,
    expect,
)

from tests.e2e.site import png_bytes, wait_for_code

DESKTOP = ViewportSize(width=1180, height=740)
PHONE = ViewportSize(width=390, height=844)
# Live events reach the other browser within a second on an idle system; this leaves room for a
# busy machine without hiding a lost event.
LIVE = 10_000
SESSION_COOKIE = "parley_session"
CSRF_COOKIE = "parley_csrf"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# Chromium logs a refused script or connection itself; this makes every violation an error
# with its directive, also those it only reports to listeners.
REPORT_CSP = """window.cspViolations = 0;
document.addEventListener("securitypolicyviolation", (e) => {
    window.cspViolations += 1;
    console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || "inline code"}`);
});"""


@dataclass
class ConsoleErrors:
    """Console errors and uncaught exceptions of every page in the contexts it watches."""

    errors: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext, who: str) -> None:
        context.add_init_script(REPORT_CSP)
        context.on("console", lambda message: self._console(who, message))
        context.on("weberror", lambda error: self.errors.append(f"{who}: uncaught {error.error}"))

    def _console(self, who: str, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{who}: {message.text} ({message.location.get('url', '')})")

    def assert_none(self, allowed: tuple[re.Pattern[str], ...] = ()) -> None:
        unexpected = [e for e in self.errors if not any(p.search(e) for p in allowed)]
        assert not unexpected, "errors in the browser console:\n" + "\n".join(unexpected)


@dataclass
class Person:
    name: str
    email: str
    context: BrowserContext
    page: Page


@dataclass
class Shots:
    """Screenshots of the main screens, written as ``<folder>/<name>.png`` when a folder is given."""

    folder: Path | None

    def take(self, page: Page, name: str) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # A moment for transitions to settle, so the picture shows the finished state.
        page.wait_for_timeout(250)
        page.screenshot(path=str(self.folder / f"{name}.png"), animations="disabled", caret="hide")


def new_person(browser: Browser, name: str, domain: str, *, phone: bool, errors: ConsoleErrors) -> Person:
    context = browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        device_scale_factor=1,
        is_mobile=phone,
        has_touch=phone,
        color_scheme="light",
        locale="en-GB",
        timezone_id="Europe/London",
    )
    errors.watch(context, name)
    return Person(name, f"{name}@{domain}", context, context.new_page())


def session_cookie(context: BrowserContext) -> Cookie | None:
    found = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    return found[0] if found else None


def assert_session_in_cookie(person: Person) -> str:
    """The session is an HttpOnly, SameSite=Strict cookie, and no token is anywhere scripts can read."""
    session = session_cookie(person.context)
    assert session is not None, "no session cookie in the browser"
    assert session["httpOnly"] and session["sameSite"] == "Strict", session
    csrf = [c for c in person.context.cookies() if c["name"] == CSRF_COOKIE]
    assert csrf and not csrf[0]["httpOnly"], csrf
    readable = person.page.evaluate(
        """() => [document.cookie,
            ...Object.entries(localStorage).flat(),
            ...Object.entries(sessionStorage).flat()].join("\\n")"""
    )
    assert session["value"] not in readable
    assert not JWT.search(readable), "a token is readable by the page's scripts"
    return session["value"]


def log_in(person: Person, base_url: str, shots: Shots | None = None) -> None:
    """Log in through the two forms with the code from the dev mailbox."""
    page = person.page
    response = page.goto(f"{base_url}/login")
    # The pages run under a Content-Security-Policy: no inline script unless hashed, no eval.
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self' 'sha256-" in policy and "unsafe" not in policy, policy
    expect(page.get_by_test_id("email-input")).to_be_visible()
    if shots:
        shots.take(page, "login")
    page.get_by_test_id("email-input").fill(person.email)
    page.get_by_test_id("send-code-button").click()
    expect(page).to_have_url(re.compile(r"/verify\?"))
    expect(page.get_by_test_id("otp-0")).to_be_focused()
    code = wait_for_code(base_url, person.email)
    expect(page.get_by_test_id("dev-mail-link")).to_be_visible()
    if shots:
        shots.take(page, "code-entry")
    # Six digits submit the form by themselves.
    page.keyboard.type(code)
    expect(page).to_have_url(re.compile(r"/chats$"))
    expect(page.get_by_test_id("profile-link")).to_contain_text(person.name)
    expect(page).to_have_title("Parley")
    assert_session_in_cookie(person)


def chat_item(person: Person, chat_id: str) -> Locator:
    return person.page.locator(f'[data-testid="chat-item"][data-chat-id="{chat_id}"]')


def open_chat_id(person: Person) -> str:
    expect(person.page).to_have_url(re.compile(r"/chats\?c="))
    match = re.search(r"[?&]c=([^&]+)", person.page.url)
    assert match
    return match.group(1)


def show_list(person: Person, phone: bool) -> None:
    """On a phone the list and a conversation take turns: go back to the list."""
    if not phone:
        return
    back = person.page.get_by_test_id("back-button")
    if back.is_visible():
        back.click()
    expect(person.page).to_have_url(re.compile(r"/chats$"))
    expect(person.page.get_by_test_id("new-chat-button")).to_be_visible()


def expect_conversation(person: Person, title: str, phone: bool) -> None:
    page = person.page
    expect(page.get_by_test_id("conversation-title")).to_have_text(title)
    expect(page.get_by_test_id("composer")).to_be_visible()
    if phone:
        # One at a time on a phone: the conversation with a way back, the list out of sight.
        expect(page.get_by_test_id("back-button")).to_be_visible()
        expect(page.get_by_test_id("new-chat-button")).to_be_hidden()
    else:
        expect(page.get_by_test_id("back-button")).to_be_hidden()
        expect(page.get_by_test_id("new-chat-button")).to_be_visible()


def open_chat(person: Person, chat_id: str, title: str, phone: bool) -> None:
    show_list(person, phone)
    chat_item(person, chat_id).click()
    expect(person.page).to_have_url(re.compile(rf"/chats\?c={chat_id}$"))
    expect(chat_item(person, chat_id).get_by_test_id("unread-badge")).to_have_count(0)
    expect_conversation(person, title, phone)


def send_text(person: Person, text: str) -> Locator:
    """Type ``text`` and press Enter; the own bubble it makes, once the server stored it."""
    composer = person.page.get_by_test_id("composer")
    composer.fill(text)
    composer.press("Enter")
    expect(composer).to_have_value("")
    bubble = person.page.get_by_test_id("message").filter(has_text=text).last
    expect(bubble).to_have_attribute("data-own", "true")
    expect(bubble).to_have_attribute("data-status", re.compile(r"^(sent|seen)$"), timeout=LIVE)
    return bubble


def received(person: Person, text: str) -> Locator:
    bubble = person.page.get_by_test_id("message").filter(has_text=text).last
    expect(bubble).to_be_visible(timeout=LIVE)
    expect(bubble).to_have_attribute("data-own", "false")
    return bubble


def expect_image_loaded(image: Locator) -> None:
    """The <img> finished loading and decoded to real pixels (a broken image has no natural size)."""
    expect(image).to_be_visible(timeout=LIVE)
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=LIVE
    )


def start_chat(person: Person, other: Person, phone: bool) -> str:
    """Find ``other`` by email in the new-chat dialog and open the chat; its id."""
    page = person.page
    show_list(person, phone)
    page.get_by_test_id("new-chat-button").click()
    dialog = page.get_by_test_id("new-chat-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("user-search").fill(other.email)
    result = dialog.get_by_test_id("user-result").filter(has_text=other.email)
    expect(result).to_have_count(1)
    expect(dialog.get_by_test_id("user-result")).to_have_count(1)
    result.click()
    expect(dialog).to_be_hidden()
    # The conversation first: until it shows, the address may still name the chat open before.
    expect_conversation(person, other.name, phone)
    return open_chat_id(person)


def create_group(person: Person, name: str, members: list[Person], phone: bool) -> str:
    page = person.page
    show_list(person, phone)
    page.get_by_test_id("new-group-button").click()
    dialog = page.get_by_test_id("new-group-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("group-name-input").fill(name)
    for member in members:
        # By the whole address: the directory shows addresses only to contacts or to an exact search.
        dialog.get_by_test_id("user-search").fill(member.email)
        result = dialog.get_by_test_id("user-result").filter(has_text=member.email)
        result.click()
        expect(result).to_have_attribute("aria-pressed", "true")
    dialog.get_by_test_id("create-group-button").click()
    expect(dialog).to_be_hidden()
    # The conversation first: until it shows, the address may still name the chat open before.
    expect_conversation(person, name, phone)
    return open_chat_id(person)


def assert_dark(page: Page) -> None:
    """The page follows the system's dark preference: a dark background behind the app."""
    # A 1×1 canvas turns any CSS colour (the app uses oklch) into sRGB channels.
    channels = page.evaluate(
        """() => {
            const context = document.createElement("canvas").getContext("2d");
            context.fillStyle = getComputedStyle(document.body).backgroundColor;
            context.fillRect(0, 0, 1, 1);
            return Array.from(context.getImageData(0, 0, 1, 1).data.slice(0, 3));
        }"""
    )
    assert max(channels) < 80, channels


def log_out(person: Person, base_url: str, phone: bool) -> None:
    show_list(person, phone)
    token = assert_session_in_cookie(person)
    person.page.get_by_test_id("logout-button").click()
    if phone:
        # On a phone logging out asks first; Cancel keeps the session.
        dialog = person.page.get_by_test_id("logout-dialog")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        expect(person.page).to_have_url(re.compile(r"/chats"))
        person.page.get_by_test_id("logout-button").click()
        person.page.get_by_test_id("confirm-logout-button").click()
    expect(person.page).to_have_url(re.compile(r"/login"))
    # Logging out revokes the token on the server, not only in this browser.
    me = httpx.get(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert me.status_code == 401, me.text
    assert session_cookie(person.context) is None
    # The session is gone: the app sends a fresh visit to the login page.
    person.page.goto(f"{base_url}/chats")
    expect(person.page).to_have_url(re.compile(r"/login"))
    expect(person.page.get_by_test_id("email-input")).to_be_visible()


@contextmanager
def people(
    browser: Browser, domain: str, *, phone: bool, errors: ConsoleErrors
) -> Iterator[tuple[Person, Person, Person]]:
    alice, bob, carol = (
        new_person(browser, name, domain, phone=phone, errors=errors) for name in ("alice", "bob", "carol")
    )
    trio = (alice, bob, carol)
    try:
        yield trio
    finally:
        for person in trio:
            person.context.close()


def run_chat_flow(
    browser: Browser,
    base_url: str,
    *,
    phone: bool = False,
    screenshots: Path | None = None,
    domain: str | None = None,
) -> None:
    """The whole flow at a desktop (or, with ``phone``, a 390×844 phone) viewport.

    With ``screenshots`` it saves the main screens there as PNG files: at a desktop size
    ``login``, ``code-entry``, ``chat``, ``chat-dark`` and ``group``; on a phone ``phone-list``
    and ``phone-chat``. The three people's emails are ``alice@<domain>`` and so on; by default a
    fresh domain, so the flow can run again against the same site (codes have a resend cooldown).
    """
    base_url = base_url.rstrip("/")
    expect.set_options(timeout=LIVE)
    errors = ConsoleErrors()
    shots = Shots(screenshots)
    domain = domain or f"{secrets.token_hex(4)}.example.com"
    with people(browser, domain, phone=phone, errors=errors) as (alice, bob, carol):
        log_in(alice, base_url, None if phone else shots)
        log_in(bob, base_url)
        log_in(carol, base_url)

        # Alice finds Bob and says hello; Bob's list shows the new chat live, unread.
        direct = start_chat(alice, bob, phone)
        hello = send_text(alice, "Hi Bob! Are you there?")
        bob_item = chat_item(bob, direct)
        expect(bob_item).to_be_visible(timeout=LIVE)
        expect(bob_item).to_contain_text("alice")
        expect(bob_item.get_by_test_id("unread-badge")).to_have_text("1")
        expect(bob.page).to_have_title("(1) Parley")
        expect(hello).to_have_attribute("data-status", "sent")
        if phone:
            shots.take(bob.page, "phone-list")

        # Bob opens it: his badge and title clear, Alice's message turns seen.
        open_chat(bob, direct, "alice", phone)
        received(bob, "Hi Bob! Are you there?")
        expect(bob.page).to_have_title("Parley")
        expect(hello).to_have_attribute("data-status", "seen", timeout=LIVE)

        # Bob types: Alice sees it; Bob sends: Alice gets it live and, reading it, marks it seen.
        bob.page.get_by_test_id("composer").press_sequentially("Yes, hi Alice", delay=20)
        typing = alice.page.get_by_test_id("typing-indicator")
        expect(typing).to_contain_text("bob", timeout=LIVE)
        bob.page.get_by_test_id("composer").press("Enter")
        reply = bob.page.get_by_test_id("message").filter(has_text="Yes, hi Alice").last
        received(alice, "Yes, hi Alice")
        expect(typing).to_be_hidden(timeout=LIVE)
        expect(reply).to_have_attribute("data-status", "seen", timeout=LIVE)

        # Alice shares a picture with a caption; Bob sees it and opens it large.
        alice.page.get_by_test_id("image-input").set_input_files(
            {"name": "squares.png", "mimeType": "image/png", "buffer": png_bytes()}
        )
        expect(alice.page.get_by_test_id("image-preview")).to_be_visible()
        alice.page.get_by_test_id("composer").fill("Four squares")
        alice.page.get_by_test_id("send-button").click()
        expect(alice.page.get_by_test_id("image-preview")).to_be_hidden()
        own_picture = alice.page.get_by_test_id("message").filter(has_text="Four squares").last
        expect(own_picture).to_have_attribute("data-status", re.compile(r"^(sent|seen)$"), timeout=LIVE)
        expect_image_loaded(own_picture.locator("img"))
        picture = received(bob, "Four squares")
        expect_image_loaded(picture.get_by_test_id("message-image").locator("img"))
        picture.get_by_test_id("message-image").click()
        lightbox = bob.page.get_by_test_id("lightbox")
        expect(lightbox).to_be_visible()
        expect_image_loaded(lightbox.locator("img"))
        large = lightbox.locator("img").bounding_box()
        small = picture.get_by_test_id("message-image").bounding_box()
        assert large and small and large["width"] > small["width"], (large, small)
        bob.page.keyboard.press("Escape")
        expect(lightbox).to_be_hidden()
        expect(own_picture).to_have_attribute("data-status", "seen", timeout=LIVE)
        send_text(bob, "Nice colours!")
        received(alice, "Nice colours!")
        if phone:
            shots.take(bob.page, "phone-chat")
        else:
            shots.take(alice.page, "chat")
            alice.page.emulate_media(color_scheme="dark")
            assert_dark(alice.page)
            shots.take(alice.page, "chat-dark")
            alice.page.emulate_media(color_scheme="light")

        # Alice makes a group with Bob and Carol; it appears in their lists live.
        group = create_group(alice, "Weekend trip", [bob, carol], phone)
        for member in (bob, carol):
            expect(chat_item(member, group)).to_contain_text("Weekend trip", timeout=LIVE)
        send_text(alice, "Who is in for Saturday?")
        carol_item = chat_item(carol, group)
        expect(carol_item.get_by_test_id("unread-badge")).to_have_text("1")
        expect(carol.page).to_have_title("(1) Parley")
        open_chat(carol, group, "Weekend trip", phone)
        received(carol, "Who is in for Saturday?")
        expect(carol.page).to_have_title("Parley")
        send_text(carol, "Count me in!")
        received(alice, "Count me in!")

        # Bob is still in the chat with Alice: the group counts two unread for him, then none.
        show_list(bob, phone)
        bob_group = chat_item(bob, group)
        expect(bob_group.get_by_test_id("unread-badge")).to_have_text("2", timeout=LIVE)
        expect(bob.page).to_have_title("(2) Parley")
        open_chat(bob, group, "Weekend trip", phone)
        received(bob, "Count me in!")
        expect(bob.page).to_have_title("Parley")
        send_text(bob, "Me too")
        received(alice, "Me too")
        received(carol, "Me too")
        if not phone:
            shots.take(alice.page, "group")

        for person in (alice, bob, carol):
            log_out(person, base_url, phone)
    errors.assert_none()
