"""Messages that change: edits, deletions, replies, reactions and system messages (through the API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import update

from parley.chat import store
from tests.chat.helpers import (
    CapturingSink,
    direct_chat,
    group_chat,
    history,
    listed,
    send,
)
from tests.fixtures.stack import Person

PLAIN = {"editedAt": None, "deleted": False, "replyTo": None, "reactions": []}


async def edit(person: Person, message_id: str, text: str) -> Any:
    return await person.client.patch(f"/api/v1/message/{message_id}", json={"text": text})


async def delete(person: Person, message_id: str) -> Any:
    return await person.client.delete(f"/api/v1/message/{message_id}")


async def react(person: Person, message_id: str, emoji: str, *, add: bool = True) -> Any:
    method = "PUT" if add else "DELETE"
    return await person.client.request(method, f"/api/v1/message/{message_id}/reactions/{quote(emoji)}")


def texts(page: dict[str, Any]) -> list[str]:
    return [m["text"] for m in page["messages"] if m["messageType"] != "system"]


def user_messages(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in page["messages"] if m["messageType"] != "system"]


# --- the document -----------------------------------------------------------------------------------------


async def test_every_message_carries_the_four_newer_fields(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = await send(alice, chat_id, "hello")
    assert {k: sent[k] for k in PLAIN} == PLAIN
    response = await alice.client.post("/api/v1/message", json={"chatId": chat_id, "text": "json"})
    assert response.status_code == 201, response.text
    assert {k: response.json()["message"][k] for k in PLAIN} == PLAIN
    for message in (await history(bob, chat_id))["messages"]:
        assert {k: message[k] for k in PLAIN} == PLAIN


# --- editing ----------------------------------------------------------------------------------------------


async def test_the_sender_edits_and_every_member_hears_it(
    alice: Person, bob: Person, carol: Person, events: CapturingSink
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    sent = await send(bob, chat_id, "helo")

    response = await edit(bob, sent["_id"], "  hello  ")
    assert response.status_code == 200, response.text
    edited = response.json()["message"]
    assert edited["text"] == "hello"
    assert edited["editedAt"] is not None
    assert edited["_id"] == sent["_id"] and edited["seq"] == sent["seq"]
    assert user_messages(await history(carol, chat_id)) == [{**edited, "seen": False, "seenAt": None}] or (
        texts(await history(carol, chat_id)) == ["hello"]
    )
    assert (await listed(alice, chat_id))["chat"]["latestMessage"] == {
        "text": "hello",
        "sender": bob.id,
        "deleted": False,
    }
    updates = events.named("messageUpdated")
    assert len(updates) == 1
    payload, to = updates[0]
    assert payload == edited
    assert sorted(to) == sorted([alice.id, bob.id, carol.id])


async def test_only_the_sender_may_edit(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol)  # alice is the admin: still not hers to edit
    sent = await send(bob, chat_id, "mine")
    for other in (alice, carol):
        response = await edit(other, sent["_id"], "theirs")
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "not_the_sender"
    assert texts(await history(bob, chat_id)) == ["mine"]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"text": ""}, 400), ({"text": "   "}, 400), ({"text": "x" * 4001}, 400), ({}, 422), ({"text": 5}, 422)],
)
async def test_bad_edits_change_nothing(alice: Person, bob: Person, body: Any, status: int) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = await send(alice, chat_id, "original")
    response = await alice.client.patch(f"/api/v1/message/{sent['_id']}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert user_messages(await history(alice, chat_id))[0]["editedAt"] is None


@pytest.mark.parametrize("message_id", ["not-an-id", "0" * 24])
async def test_editing_an_unknown_message_is_404(alice: Person, message_id: str) -> None:
    for response in (
        await edit(alice, message_id, "x"),
        await delete(alice, message_id),
        await react(alice, message_id, "👍"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "message_not_found"


async def test_the_edit_window_closes(alice: Person, bob: Person, chat_app: Any) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = await send(alice, chat_id, "fresh")
    assert (await edit(alice, sent["_id"], "still fresh")).status_code == 200
    async with chat_app.state.db.session() as session:
        await session.execute(
            update(store.Message)
            .where(store.Message.id == sent["_id"])
            .values(created_at=store.utcnow() - timedelta(seconds=3601))
        )
    response = await edit(alice, sent["_id"], "too late")
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "edit_window_passed"
    assert texts(await history(alice, chat_id)) == ["still fresh"]
    # Deleting has no window.
    assert (await delete(alice, sent["_id"])).status_code == 200
