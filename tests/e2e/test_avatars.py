"""Avatars in real browsers: Alice sets a picture on her profile, Bob sees it in his chat list and
in the conversation's header; Alice removes it and her initials come back. Desktop and phone.

(Others see a removal once their chat service's copy of her profile expires, within a minute; the
API tests show its files and addresses are gone at once.)"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, expect

from tests.e2e.flow import (
    LIVE,
    ConsoleErrors,
    Person,
    chat_item,
    expect_image_loaded,
    log_in,
    open_chat,
    people,
    send_text,
    show_list,
    start_chat,
)
from tests.e2e.test_web_app import axe_violations, describe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def portrait() -> bytes:
    """A photo-sized JPEG, taller than wide, with camera data the server must strip."""
    img = Image.new("RGB", (600, 900), (30, 90, 200))
    exif = Image.Exif()
    exif[0x010F] = "ParleyCam"  # Make
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def picture_of(scope: Locator) -> Locator:
    return scope.get_by_test_id("avatar-image").first


def open_profile(person: Person, phone: bool) -> None:
    show_list(person, phone)
    person.page.get_by_test_id("profile-link").click()
    expect(person.page.get_by_test_id("avatar-settings")).to_be_visible()


def back_to_chats(person: Person) -> None:
    person.page.get_by_test_id("back-to-chats").click()
    expect(person.page).to_have_url(re.compile(r"/chats"))


def run_avatars(browser: Browser, base_url: str, *, phone: bool, domain: str) -> None:
    errors = ConsoleErrors()
    found: dict[str, list[dict[str, Any]]] = {}
    with people(browser, domain, phone=phone, errors=errors) as (alice, bob, _):
        for person in (alice, bob):
            log_in(person, base_url)

        # Alice has no picture yet: her initials, and an offer to upload one.
        open_profile(alice, phone)
        settings = alice.page.get_by_test_id("avatar-settings")
        expect(settings.get_by_test_id("avatar-initials")).to_be_visible()
        expect(settings.get_by_test_id("avatar-upload-button")).to_have_text("Upload picture")
        found["profile without a picture"] = axe_violations(alice.page)

        # A file that is not a picture is refused with a message, and nothing changes.
        settings.get_by_test_id("avatar-file-input").set_input_files(
            {"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}
        )
        expect(settings.get_by_role("alert")).to_contain_text("isn't supported", timeout=LIVE)
        expect(settings.get_by_test_id("avatar-initials")).to_be_visible()

        settings.get_by_test_id("avatar-file-input").set_input_files(
            {"name": "me.jpg", "mimeType": "image/jpeg", "buffer": portrait()}
        )
        expect(settings.get_by_test_id("avatar-saved")).to_have_text(
            "Your picture was updated.", timeout=LIVE
        )
        expect(settings.get_by_role("alert")).to_have_count(0)
        expect_image_loaded(picture_of(settings))
        expect(settings.get_by_test_id("avatar-upload-button")).to_have_text("Change picture")
        found["profile with a picture"] = axe_violations(alice.page)

        # Her own picture is in the list's header too.
        back_to_chats(alice)
        expect_image_loaded(picture_of(alice.page.get_by_test_id("profile-link")))

        chat_id = start_chat(alice, bob, phone)
        send_text(alice, "here is my new picture")

        # Bob sees it in his chat list and in the conversation's header.
        item = chat_item(bob, chat_id)
        expect(item).to_be_visible(timeout=LIVE)
        expect_image_loaded(picture_of(item))
        src = picture_of(item).get_attribute("src") or ""
        assert re.search(r"/api/v1/user/avatar/[0-9a-f]{24}/64\?v=", src), src
        found["chat list with a picture"] = axe_violations(bob.page)
        open_chat(bob, chat_id, "alice", phone)
        header = bob.page.get_by_test_id("conversation-title").locator("xpath=ancestor::button[1]")
        expect_image_loaded(picture_of(header))
        # Bob has no picture: his initials are where Alice sees him.
        expect(alice.page.get_by_test_id("conversation-title")).to_have_text("bob")
        alice_header = alice.page.get_by_test_id("conversation-title").locator("xpath=ancestor::button[1]")
        expect(alice_header.get_by_test_id("avatar-initials")).to_be_visible()
        found["conversation with a picture"] = axe_violations(bob.page)

        # Alice removes it: her initials again.
        open_profile(alice, phone)
        settings = alice.page.get_by_test_id("avatar-settings")
        settings.get_by_test_id("avatar-remove-button").click()
        expect(settings.get_by_test_id("avatar-saved")).to_have_text(
            "Your picture was removed.", timeout=LIVE
        )
        expect(settings.get_by_test_id("avatar-initials")).to_be_visible()
        expect(settings.get_by_test_id("avatar-remove-button")).to_have_count(0)
        back_to_chats(alice)
        expect(alice.page.get_by_test_id("profile-link").get_by_test_id("avatar-initials")).to_be_visible()
    # The refused upload is a 415 the browser reports in the console.
    errors.assert_none(allowed=(re.compile(r"status of 415 .*/api/v1/user/avatar\)$"),))
    problems = {screen: describe(v) for screen, v in found.items() if v}
    assert not problems, "\n".join(f"{screen}: {text}" for screen, text in problems.items())


def test_avatars_on_a_desktop(browser: Browser, site: str) -> None:
    run_avatars(browser, site, phone=False, domain="avatars-desktop.example.com")


def test_avatars_on_a_phone(browser: Browser, site: str) -> None:
    run_avatars(browser, site, phone=True, domain="avatars-phone.example.com")
