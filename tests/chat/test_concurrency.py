"""Races: two people starting the same chat, a message sent twice at once, concurrent senders."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from tests.chat.helpers import CapturingSink, direct_chat, group_chat, history, listed, send, user_messages
from tests.fixtures.stack import Person


def stored_count() -> float:
    return REGISTRY.get_sample_value("parley_messages_stored_total") or 0.0


async def test_racing_to_start_the_same_chat_gives_one_chat(
    alice: Person, bob: Person, events: CapturingSink
) -> None:
    calls = [
        alice.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
        if i % 2
        else bob.client.post("/api/v1/chat/new", json={"otherUserId": alice.id})
        for i in range(10)
    ]
    responses = await asyncio.gather(*calls)

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201], [r.text for r in responses]
    ids = {r.json()["chatId"] for r in responses}
    assert len(ids) == 1
    [chat_id] = ids
    [(payload, to)] = events.named("newChat")
    assert payload == {"chatId": chat_id}
    assert sorted(to) == sorted([alice.id, bob.id])
    chats_with_bob = [
        e for e in (await alice.client.get("/api/v1/chat/all")).json()["chats"] if e["user"]["_id"] == bob.id
    ]
    assert [e["chat"]["_id"] for e in chats_with_bob] == [chat_id]


async def test_the_same_message_sent_at_once_is_stored_once(
    alice: Person, bob: Person, events: CapturingSink
) -> None:
    chat_id = await direct_chat(alice, bob)
    events.events.clear()
    stored_before = stored_count()
    responses = await asyncio.gather(
        *(
            alice.client.post(
                "/api/v1/message", data={"chatId": chat_id, "text": "only once", "clientId": "dup-1"}
            )
            for _ in range(8)
        )
    )

    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["message"]["_id"] for r in responses}) == 1
    assert [m["text"] for m in (await history(bob, chat_id))["messages"]] == ["only once"]
    assert len(events.named("newMessage")) == 1
    assert stored_count() == stored_before + 1


async def test_concurrent_senders_keep_the_latest_message_right(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    people = [alice, bob, carol]
    responses = await asyncio.gather(
        *(
            people[i % 3].client.post("/api/v1/message", data={"chatId": chat_id, "text": f"m{i}"})
            for i in range(12)
        )
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    messages = user_messages(await history(alice, chat_id))
    assert sorted(m["text"] for m in messages) == sorted(f"m{i}" for i in range(12))
    latest = messages[-1]
    entry = await listed(carol, chat_id)
    assert entry["chat"]["latestMessage"] == {"text": latest["text"], "sender": latest["sender"]}


async def test_members_reading_at_once_still_mark_messages_seen(
    alice: Person, bob: Person, carol: Person
) -> None:
    chat_id = await group_chat(alice, bob, carol)
    for round_ in range(3):
        sent = [await send(alice, chat_id, f"r{round_} m{i}") for i in range(3)]
        pages = await asyncio.gather(
            *(person.client.get(f"/api/v1/message/{chat_id}") for person in (bob, carol, bob, carol))
        )
        assert all(page.status_code == 200 for page in pages)
        seen = {m["_id"]: m["seen"] for m in (await history(alice, chat_id))["messages"]}
        assert all(seen[m["_id"]] for m in sent), f"round {round_}: read by both, yet not seen"


async def test_sending_and_reading_at_once_in_a_group(alice: Person, bob: Person, carol: Person) -> None:
    chat_id = await group_chat(alice, bob, carol)
    people = [alice, bob, carol]
    calls = []
    for i in range(18):
        person = people[i % 3]
        if i % 2:
            calls.append(person.client.get(f"/api/v1/message/{chat_id}"))
        else:
            calls.append(person.client.post("/api/v1/message", data={"chatId": chat_id, "text": f"m{i}"}))
    responses = await asyncio.gather(*calls)
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    for person in people:
        await history(person, chat_id)
    assert all(m["seen"] for m in user_messages(await history(alice, chat_id)))
    for person in people:
        assert (await listed(person, chat_id))["chat"]["unseenCount"] == 0
