"""Muting a chat: for the caller only, shown as ``mutedUntil`` in the chat list, undone with null."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.chat.helpers import direct_chat, listed
from tests.fixtures.stack import Person


async def mute(person: Person, chat_id: str, until: Any) -> Any:
    return await person.client.post(f"/api/v1/chat/{chat_id}/mute", json={"until": until})


async def test_a_mute_shows_in_the_chat_list_of_the_one_who_muted(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    assert (await listed(alice, chat_id))["chat"]["mutedUntil"] is None

    until = datetime.now(UTC) + timedelta(hours=8)
    response = await mute(alice, chat_id, until.isoformat())
    assert response.status_code == 200, response.text
    expected = until.strftime("%Y-%m-%dT%H:%M:%S.") + f"{until.microsecond // 1000:03d}Z"
    assert response.json() == {"message": "Chat muted", "chatId": chat_id, "mutedUntil": expected}
    assert (await listed(alice, chat_id))["chat"]["mutedUntil"] == expected
    assert (await alice.client.get(f"/api/v1/chat/{chat_id}")).json()["chat"]["mutedUntil"] == expected
    assert (await listed(bob, chat_id))["chat"]["mutedUntil"] is None

    response = await mute(alice, chat_id, None)
    assert response.status_code == 200, response.text
    assert response.json()["mutedUntil"] is None
    assert (await listed(alice, chat_id))["chat"]["mutedUntil"] is None


async def test_always_is_a_far_future_time_and_a_time_without_zone_is_utc(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    assert (await mute(alice, chat_id, "9999-12-31T23:59:59Z")).status_code == 200
    assert (await listed(alice, chat_id))["chat"]["mutedUntil"] == "9999-12-31T23:59:59.000Z"
    assert (await mute(alice, chat_id, "9000-01-01T10:00:00")).status_code == 200
    assert (await listed(alice, chat_id))["chat"]["mutedUntil"] == "9000-01-01T10:00:00.000Z"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"until": "2000-01-01T00:00:00Z"}, 400),
        ({"until": "tomorrow"}, 422),
        ({"until": 5.5e30}, 422),
        ({}, 422),
    ],
)
async def test_bad_mutes_are_refused_and_change_nothing(
    alice: Person, bob: Person, body: dict[str, Any], status: int
) -> None:
    chat_id = await direct_chat(alice, bob)
    assert (await mute(alice, chat_id, "9999-12-31T23:59:59Z")).status_code == 200
    response = await alice.client.post(f"/api/v1/chat/{chat_id}/mute", json=body)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert (await listed(alice, chat_id))["chat"]["mutedUntil"] == "9999-12-31T23:59:59.000Z"


async def test_an_unknown_chat_is_404(alice: Person) -> None:
    response = await mute(alice, "0" * 24, None)
    assert response.status_code == 404
