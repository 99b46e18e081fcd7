"""The one-click unsubscribe link of notification emails: signed per user, no login (RFC 8058)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from parley.user.unsubscribe import UnsubscribeLinks
from tests.fixtures.stack import Person, Stack
from tests.user.helpers import settings_of


def links_of(stack: Stack) -> UnsubscribeLinks:
    links: UnsubscribeLinks = stack.apps["user"].state.unsubscribe_links
    return links


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_the_link_turns_email_notifications_off_without_login(stack: Stack, alice: Person) -> None:
    url = links_of(stack).url(alice.id)
    assert url.startswith(stack.settings.app.public_url.rstrip("/") + "/api/v1/user/unsubscribe?")
    anonymous = stack.client()
    # Opening the link changes nothing (mail scanners open links); it shows the one button.
    page = await anonymous.get("/api/v1/user/unsubscribe", params=query_of(url))
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert (await settings_of(alice))["emailNotifications"] is True

    # The one click, as RFC 8058 mail clients send it.
    response = await anonymous.post(
        "/api/v1/user/unsubscribe",
        params=query_of(url),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"]
    assert (await settings_of(alice)) == {"emailNotifications": False, "readReceipts": True}
    # Using it again changes nothing and still answers.
    again = await anonymous.post("/api/v1/user/unsubscribe", params=query_of(url))
    assert again.status_code == 200
    assert (await settings_of(alice))["emailNotifications"] is False


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_forged_or_altered_link_is_refused(
    stack: Stack, alice: Person, bob: Person, method: str
) -> None:
    mine = query_of(links_of(stack).url(alice.id))
    forged = [
        {"user": bob.id, "sig": mine["sig"]},  # Alice's signature on Bob's id
        {"user": bob.id, "sig": ""},
        {"user": bob.id},
        {"user": bob.id, "sig": mine["sig"][:-1] + ("A" if mine["sig"][-1] != "A" else "B")},
        {"user": "not-an-id", "sig": mine["sig"]},
        {},
    ]
    anonymous = stack.client()
    for params in forged:
        response = await anonymous.request(method, "/api/v1/user/unsubscribe", params=params)
        assert response.status_code == 400, (params, response.text)
        if method == "POST":
            assert response.json()["code"] == "invalid_unsubscribe_link"
            assert response.json()["message"]
    assert (await settings_of(bob))["emailNotifications"] is True


def test_a_key_makes_its_own_signatures() -> None:
    one = UnsubscribeLinks(b"one key of at least thirty-two characters", "http://x")
    other = UnsubscribeLinks(b"another key of thirty-two characters!!", "http://x")
    user = "6b133b7203133f0072c7f160"
    assert one.valid(user, one.signature(user))
    assert not other.valid(user, one.signature(user))
    assert not one.valid("6b133b7203133f0072c7f161", one.signature(user))
