"""Messages that change: edits, deletions, replies, reactions and system messages (through the API)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import update

from parley.chat import store
from tests.chat.helpers import (
    CapturingSink,
    chat_list,
    direct_chat,
    group_chat,
    history,
    listed,
    photo_with_gps,
    send,
    user_messages,
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


# --- deleting ---------------------------------------------------------------------------------------------


TOMBSTONE = {"text": "", "deleted": True, "replyTo": None, "reactions": []}


async def test_the_sender_deletes_and_a_tombstone_remains(
    alice: Person, bob: Person, events: CapturingSink
) -> None:
    chat_id = await direct_chat(alice, bob)
    first = await send(alice, chat_id, "keep")
    gone = await send(bob, chat_id, "oops", replyTo=first["_id"])
    assert (await react(alice, gone["_id"], "👍")).status_code == 200
    assert (await listed(alice, chat_id))["chat"]["latestMessage"]["text"] == "oops"

    response = await delete(bob, gone["_id"])
    assert response.status_code == 200, response.text
    tombstone = response.json()["message"]
    assert {k: tombstone[k] for k in TOMBSTONE} == TOMBSTONE
    assert "image" not in tombstone
    assert tombstone["_id"] == gone["_id"] and tombstone["seq"] == gone["seq"]
    page = await history(alice, chat_id)
    assert [m["_id"] for m in page["messages"]] == [first["_id"], gone["_id"]]
    assert {k: page["messages"][1][k] for k in TOMBSTONE} == TOMBSTONE
    # The chat list's preview follows.
    assert (await listed(bob, chat_id))["chat"]["latestMessage"] == {
        "text": "",
        "sender": bob.id,
        "deleted": True,
    }
    payload, to = events.named("messageUpdated")[-1]
    assert payload == tombstone and sorted(to) == sorted([alice.id, bob.id])

    # Again: the same tombstone, no new event. Nobody edits or reacts to a tombstone.
    count = len(events.named("messageUpdated"))
    again = await delete(bob, gone["_id"])
    assert again.status_code == 200 and again.json()["message"]["deleted"] is True
    assert len(events.named("messageUpdated")) == count
    assert (await edit(bob, gone["_id"], "back")).json()["code"] == "message_deleted"
    assert (await react(alice, gone["_id"], "😀")).status_code == 403


async def test_a_group_admin_deletes_any_message_others_only_their_own(
    alice: Person, bob: Person, carol: Person
) -> None:
    group = await group_chat(alice, bob, carol)  # alice is the admin
    bobs = await send(bob, group, "from bob")
    response = await delete(carol, bobs["_id"])
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "not_the_sender"
    assert (await delete(alice, bobs["_id"])).json()["message"]["deleted"] is True

    # In a 1:1 chat nobody is an admin: only the sender.
    direct = await direct_chat(alice, bob)
    mine = await send(bob, direct, "mine")
    assert (await delete(alice, mine["_id"])).status_code == 403
    assert texts(await history(bob, direct)) == ["mine"]


async def test_deleting_an_image_removes_the_file_and_its_links_stop_working(
    alice: Person, bob: Person
) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await alice.client.post(
        "/api/v1/message",
        data={"chatId": chat_id, "text": "look"},
        files={"image": ("p.jpg", photo_with_gps((200, 100)), "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    sent = response.json()["message"]
    url = sent["image"]["url"]
    assert (await bob.client.get(url)).status_code == 200

    tombstone = (await delete(alice, sent["_id"])).json()["message"]
    assert "image" not in tombstone and tombstone["messageType"] == "image"
    assert (await bob.client.get(url)).status_code in (403, 404)
    assert "image" not in user_messages(await history(bob, chat_id))[0]


async def test_an_image_caption_can_be_edited_and_emptied(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    response = await alice.client.post(
        "/api/v1/message",
        data={"chatId": chat_id, "text": "caption"},
        files={"image": ("p.jpg", photo_with_gps((50, 50)), "image/jpeg")},
    )
    sent = response.json()["message"]
    edited = (await edit(alice, sent["_id"], "new caption")).json()["message"]
    assert edited["text"] == "new caption" and edited["image"]["publicId"] == sent["image"]["publicId"]
    emptied = await edit(alice, sent["_id"], "")
    assert emptied.status_code == 200, emptied.text
    assert (await listed(bob, chat_id))["chat"]["latestMessage"]["text"] == "📷 Image"


# --- reactions --------------------------------------------------------------------------------------------


async def test_reactions_count_people_in_order_of_first_use(
    alice: Person, bob: Person, carol: Person, events: CapturingSink
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    sent = await send(alice, chat_id, "react to me")
    assert (await react(bob, sent["_id"], "👍")).status_code == 200
    assert (await react(carol, sent["_id"], "👨‍👩‍👧")).status_code == 200
    assert (await react(carol, sent["_id"], "👍")).status_code == 200
    again = await react(carol, sent["_id"], "👍")  # idempotent
    assert again.status_code == 200
    expected = [{"emoji": "👍", "users": [bob.id, carol.id]}, {"emoji": "👨‍👩‍👧", "users": [carol.id]}]
    assert again.json()["message"]["reactions"] == expected
    assert user_messages(await history(alice, chat_id))[0]["reactions"] == expected
    assert len(events.named("messageUpdated")) == 3  # the repeat changed nothing

    taken_back = await react(bob, sent["_id"], "👍", add=False)
    assert taken_back.status_code == 200
    # The order is that of the reactions that remain: carol's 👍 came after her 👨‍👩‍👧.
    assert taken_back.json()["message"]["reactions"] == [
        {"emoji": "👨‍👩‍👧", "users": [carol.id]},
        {"emoji": "👍", "users": [carol.id]},
    ]
    assert (await react(bob, sent["_id"], "👍", add=False)).status_code == 200
    assert len(events.named("messageUpdated")) == 4


@pytest.mark.parametrize("emoji", ["a", "👍👍", "👍a", ":thumbsup:", "1", " ", "%F0%9F", "x" * 100])
async def test_a_reaction_is_exactly_one_emoji(alice: Person, bob: Person, emoji: str) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = await send(alice, chat_id, "hi")
    for add in (True, False):
        response = await react(bob, sent["_id"], emoji, add=add)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_emoji"
    assert user_messages(await history(alice, chat_id))[0]["reactions"] == []


async def test_at_most_twenty_different_emoji(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = await send(alice, chat_id, "hi")
    twenty = list("😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙🥲😚🙂")
    for emoji in twenty:
        assert (await react(bob, sent["_id"], emoji)).status_code == 200
    response = await react(alice, sent["_id"], "🤗")
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_reactions"
    # One already used still takes more people.
    assert (await react(alice, sent["_id"], "😀")).status_code == 200
    reactions = user_messages(await history(alice, chat_id))[0]["reactions"]
    assert [r["emoji"] for r in reactions] == twenty
    assert reactions[0]["users"] == [bob.id, alice.id]


# --- replies ----------------------------------------------------------------------------------------------


async def test_a_reply_quotes_its_original_through_json_and_forms(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    original = await send(alice, chat_id, "q" * 300)
    by_form = await send(bob, chat_id, "answer", replyTo=original["_id"])
    quote_doc = {
        "_id": original["_id"],
        "sender": alice.id,
        "text": "q" * 200,
        "messageType": "text",
        "deleted": False,
    }
    assert by_form["replyTo"] == quote_doc
    response = await bob.client.post(
        "/api/v1/message", json={"chatId": chat_id, "text": "again", "replyTo": original["_id"]}
    )
    assert response.status_code == 201, response.text
    assert response.json()["message"]["replyTo"] == quote_doc
    replies = user_messages(await history(alice, chat_id))[1:]
    assert [m["replyTo"] for m in replies] == [quote_doc, quote_doc]

    # A deleted original shows as deleted.
    await delete(alice, original["_id"])
    replies = user_messages(await history(bob, chat_id))[1:]
    assert [m["replyTo"] for m in replies] == [{**quote_doc, "text": "", "deleted": True}] * 2


async def test_a_reply_must_quote_a_message_of_the_same_chat(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_id = await direct_chat(alice, bob)
    elsewhere = await send(alice, await direct_chat(alice, carol), "elsewhere")
    group = await group_chat(alice, bob, carol)
    system = (await history(alice, group))["messages"][0]
    for reply_to in (elsewhere["_id"], system["_id"], "0" * 24, "nope"):
        for response in (
            await alice.client.post(
                "/api/v1/message", json={"chatId": chat_id, "text": "x", "replyTo": reply_to}
            ),
            await alice.client.post(
                "/api/v1/message", data={"chatId": chat_id, "text": "x", "replyTo": reply_to}
            ),
        ):
            assert response.status_code == 400, response.text
            assert response.json()["message"]
    assert (await history(alice, chat_id))["messages"] == []


# --- system messages --------------------------------------------------------------------------------------


async def test_group_changes_appear_as_system_messages_never_unread(
    alice: Person, bob: Person, carol: Person, dave: Person
) -> None:
    group = await group_chat(alice, bob, carol, name="Team")
    assert (await alice.client.post(f"/api/v1/chat/{group}/rename", json={"name": "Crew"})).status_code == 200
    assert (
        await alice.client.post(f"/api/v1/chat/{group}/members", json={"userIds": [dave.id]})
    ).status_code == 200
    assert (await alice.client.delete(f"/api/v1/chat/{group}/members/{carol.id}")).status_code == 200
    assert (await bob.client.post(f"/api/v1/chat/{group}/leave")).status_code == 200

    page = await history(dave, group)
    systems = [m for m in page["messages"] if m["messageType"] == "system"]
    assert [m["system"] for m in systems] == [
        {"action": "created", "actor": alice.id, "users": [bob.id, carol.id], "name": "Team"},
        {"action": "renamed", "actor": alice.id, "users": [], "name": "Crew"},
        {"action": "added", "actor": alice.id, "users": [dave.id], "name": "Crew"},
        {"action": "removed", "actor": alice.id, "users": [carol.id], "name": "Crew"},
        {"action": "left", "actor": bob.id, "users": [bob.id], "name": "Crew"},
    ]
    assert [m["sender"] for m in systems] == [alice.id] * 4 + [bob.id]
    assert [m["seq"] for m in systems] == [1, 2, 3, 4, 5]
    assert all({k: m[k] for k in PLAIN} == PLAIN and m["text"] == "" for m in systems)
    for person in (alice, dave):
        entry = await listed(person, group)
        assert entry["chat"]["unseenCount"] == 0
        assert entry["chat"]["latestMessage"] is None
    # Numbering goes on after them; a message from alice counts for dave, the system messages did not.
    sent = await send(alice, group, "after all that")
    assert sent["seq"] == 6
    assert (await listed(dave, group))["chat"]["unseenCount"] == 1

    for response in (
        await edit(alice, systems[0]["_id"], "x"),
        await delete(alice, systems[0]["_id"]),
        await react(alice, systems[0]["_id"], "👍"),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "system_message"


async def test_group_changes_emit_chat_updated_and_removed_from_chat(
    alice: Person, bob: Person, carol: Person, events: CapturingSink
) -> None:
    group = await group_chat(alice, bob, carol)
    await alice.client.delete(f"/api/v1/chat/{group}/members/{carol.id}")
    [(updated, to)] = events.named("chatUpdated")
    assert sorted(updated.pop("users")) == sorted(to) == sorted([alice.id, bob.id])
    assert updated == {"chatId": group, "name": "Team", "admins": [alice.id]}
    assert events.named("removedFromChat") == [({"chatId": group}, [carol.id])]
    system_news = [(p, to) for p, to in events.named("newMessage") if p["messageType"] == "system"]
    assert [p["system"]["action"] for p, _ in system_news] == ["created", "removed"]
    assert sorted(system_news[1][1]) == sorted([alice.id, bob.id])

    await alice.client.post(f"/api/v1/chat/{group}/leave")
    assert events.named("chatUpdated")[-1] == (
        {"chatId": group, "name": "Team", "users": [bob.id], "admins": [bob.id]},
        [bob.id],
    )
    assert events.named("removedFromChat")[-1] == ({"chatId": group}, [alice.id])


# --- races ------------------------------------------------------------------------------------------------


async def test_an_edit_racing_a_deletion_ends_in_one_state(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    for round_ in range(5):
        sent = await send(alice, chat_id, f"race {round_}")
        edited, deleted = await asyncio.gather(edit(alice, sent["_id"], "edited"), delete(alice, sent["_id"]))
        assert deleted.status_code == 200, deleted.text
        assert edited.status_code in (200, 403), edited.text
        final = next(m for m in (await history(bob, chat_id))["messages"] if m["_id"] == sent["_id"])
        assert {k: final[k] for k in TOMBSTONE} == TOMBSTONE


async def test_concurrent_edits_leave_one_of_them(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = await send(alice, chat_id, "start")
    answers = await asyncio.gather(*(edit(alice, sent["_id"], f"version {n}") for n in range(6)))
    assert all(a.status_code == 200 for a in answers)
    final = user_messages(await history(bob, chat_id))[0]
    assert final["text"] in {f"version {n}" for n in range(6)}
    assert (await listed(bob, chat_id))["chat"]["latestMessage"]["text"] == final["text"]
    assert [c["chat"]["_id"] for c in await chat_list(bob)].count(chat_id) == 1


async def test_invalid_unicode_in_changes_is_4xx_never_500(alice: Person, bob: Person) -> None:
    chat_id = await direct_chat(alice, bob)
    sent = await send(alice, chat_id, "hi")
    path = f"/api/v1/message/{sent['_id']}"
    headers = {"content-type": "application/json"}
    attempts = [
        await alice.client.patch(path, content=b'{"text": "\\ud800"}', headers=headers),
        await alice.client.put(f"{path}/reactions/%ED%A0%80"),
        await alice.client.put(f"{path}/reactions/%ff"),
        await alice.client.delete(f"{path}/reactions/%F0%9F"),
        await alice.client.patch("/api/v1/message/%ED%A0%80", json={"text": "x"}),
        await alice.client.post(
            "/api/v1/message",
            content=b'{"chatId": "%s", "text": "x", "replyTo": "\\udfff"}' % chat_id.encode(),
            headers=headers,
        ),
    ]
    for response in attempts:
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["message"]
    [after] = user_messages(await history(alice, chat_id))
    assert (after["text"], after["editedAt"], after["reactions"]) == ("hi", None, [])
