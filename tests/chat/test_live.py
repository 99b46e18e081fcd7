"""Real time end to end: HTTP API → store → commit → Socket.IO, against the whole app behind uvicorn.

Runs on both backends (embedded, and PostgreSQL + Redis + RabbitMQ). Where a test shows that
something did *not* arrive, it sends a control event afterwards: events reach a socket in the
order they were emitted, so what did not come before the control never came.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import jwt
import pytest
import socketio

from parley.chat.app import create_app as create_chat_app
from tests.chat.helpers import direct_chat, group_chat, history, send
from tests.chat.live_helpers import Live, full_history
from tests.chat.realtime_helpers import Peer
from tests.fixtures.stack import Person, Stack, make_settings


def seen_event(chat_id: str, reader: Person, *messages: dict[str, Any]) -> dict[str, Any]:
    return {"chatId": chat_id, "seenBy": reader.id, "messageIds": [m["_id"] for m in messages]}


async def refused(peer: Peer, auth: Any) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await peer.connect(None, auth=auth)
    assert peer.refusal is not None
    assert peer.refusal.get("message") == "unauthorized"


# ---------------------------------------------------------------------------- authentication


async def test_a_socket_without_a_good_token_is_refused(live: Live) -> None:
    alice = await live.login("alice")
    now = int(time.time())
    forged = jwt.encode(
        {"sub": alice.id, "user": alice.user, "iat": now, "exp": now + 3600, "jti": "forged"},
        "not-the-secret-of-this-deployment!",
        algorithm="HS256",
    )
    for auth in (None, {}, {"token": ""}, {"token": "not-a-token"}, {"token": alice.token[:-2]}):
        await refused(live.peer(), auth)
    await refused(live.peer(), {"token": forged})

    accepted = await live.socket(alice)
    assert accepted.named("getOnlineUser") == [[]]


async def test_logging_out_drops_the_live_socket_within_a_second(live: Live) -> None:
    alice, bob = await live.people("alice", "bob")
    chat = await direct_chat(alice, bob)
    alice_tab, bob_tab = await live.socket(alice), await live.socket(bob)

    response = await alice.client.post("/api/v1/logout")
    assert response.status_code == 200, response.text
    await asyncio.wait_for(alice_tab.disconnected.wait(), 1.0)
    await refused(live.peer(), {"token": alice.token})

    # Only that session ends: bob's socket still hears the chat.
    message = await send(bob, chat, "still here?")
    assert await bob_tab.payload("newMessage") == message
    assert not bob_tab.disconnected.is_set()


@pytest.mark.parametrize("transports", [("polling",), ("polling", "websocket")])
async def test_browsers_long_polling_and_upgrade_work_through_the_app(
    live: Live, transports: tuple[str, ...]
) -> None:
    alice, bob = await live.people("alice", "bob")
    chat = await direct_chat(alice, bob)
    bob_tab = await live.peer().connect(bob.token, transports=transports)
    assert bob_tab.client.transport() == transports[-1]
    alice_tab = await live.socket(alice)
    assert await bob_tab.payload("getOnlineUser", lambda ids: ids != []) == [alice.id]

    message = await send(alice, chat, "x" * 4000)
    assert await bob_tab.payload("newMessage") == message
    await bob_tab.emit("typing", {"chatId": chat})
    assert await alice_tab.payload("userTyping") == {"chatId": chat, "userId": bob.id}


async def test_in_production_only_the_public_origin_may_connect(live: Live, stack: Stack) -> None:
    settings = make_settings(
        stack.backend, env="production", public_url="https://chat.example.com", user_service=live.served.url
    )
    production = await live.add_server(create_chat_app(settings), lifespan=True)
    alice = await live.login("alice")
    for transports in (("polling",), ("websocket",)):
        stranger = live.peer(production)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await stranger.client.connect(
                production.url,
                auth={"token": alice.token},
                headers={"Origin": "https://elsewhere.example.com"},
                transports=list(transports),
                wait_timeout=5,
            )
        welcome = live.peer(production)
        await welcome.client.connect(
            production.url,
            auth={"token": alice.token},
            headers={"Origin": "https://chat.example.com"},
            transports=list(transports),
            wait_timeout=5,
        )
        assert await welcome.payload("getOnlineUser") == []


# ---------------------------------------------------------------------------- newMessage


async def test_a_message_reaches_every_socket_of_every_member_and_no_one_else(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    chat = await direct_chat(alice, bob)
    control_chat = await direct_chat(alice, carol)
    alice_tab, alice_phone = await live.socket(alice), await live.socket(alice)
    bob_tab, carol_tab = await live.socket(bob), await live.socket(carol)

    message = await send(alice, chat, "hello bob", clientId="tab-1-0001")
    assert message["clientId"] == "tab-1-0001"
    assert message["seen"] is False
    # The stored document, as the API answered it, to the sender's other tab too.
    for peer in (alice_tab, alice_phone, bob_tab):
        assert await peer.payload("newMessage") == message
    assert (await history(alice, chat))["messages"] == [message]

    control = await send(alice, control_chat, "hello carol")
    assert await carol_tab.collect("newMessage", 1) == [control]
    for peer in (alice_tab, alice_phone):
        assert await peer.collect("newMessage", 2) == [message, control]

    # The same clientId again stores nothing and announces nothing.
    response = await alice.client.post(
        "/api/v1/message", data={"chatId": chat, "text": "hello bob", "clientId": "tab-1-0001"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["message"] == message
    again = await send(alice, chat, "and again")
    assert await bob_tab.collect("newMessage", 2) == [message, again]


async def test_a_non_member_cannot_send_and_hears_nothing(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    chat = await direct_chat(alice, bob)
    control_chat = await direct_chat(carol, bob)
    alice_tab, bob_tab = await live.socket(alice), await live.socket(bob)

    response = await carol.client.post("/api/v1/message", data={"chatId": chat, "text": "let me in"})
    assert response.status_code == 403, response.text
    assert "message" in response.json()
    control = await send(carol, control_chat, "hi bob")
    assert await bob_tab.collect("newMessage", 1) == [control]
    assert (await history(alice, chat))["messages"] == []
    assert alice_tab.named("newMessage") == []


# ---------------------------------------------------------------------------- messagesSeen


async def test_fetching_history_tells_the_sender_what_was_seen(live: Live) -> None:
    alice, bob = await live.people("alice", "bob")
    chat = await direct_chat(alice, bob)
    alice_tab, bob_tab = await live.socket(alice), await live.socket(bob)
    first = await send(alice, chat, "one")
    second = await send(alice, chat, "two")
    reply = await send(bob, chat, "three")

    page = await history(bob, chat)
    assert [m["_id"] for m in page["messages"]] == [first["_id"], second["_id"], reply["_id"]]
    assert await alice_tab.payload("messagesSeen") == seen_event(chat, bob, first, second)

    # Bob hears of his own message being read, not of reading alice's.
    await history(alice, chat)
    assert await bob_tab.collect("messagesSeen", 1) == [seen_event(chat, alice, reply)]
    # Fetching again reads nothing new, so tells no one.
    await history(bob, chat)
    control = await send(bob, chat, "four")
    await history(alice, chat)
    assert await bob_tab.collect("messagesSeen", 2) == [
        seen_event(chat, alice, reply),
        seen_event(chat, alice, control),
    ]
    assert alice_tab.named("messagesSeen") == [seen_event(chat, bob, first, second)]


async def test_a_joined_chat_reads_new_messages_as_they_arrive(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    chat = await direct_chat(alice, bob)
    control_chat = await group_chat(alice, bob, carol)
    alice_tab, bob_tab = await live.socket(alice), await live.socket(bob)
    await bob_tab.call("joinChat", {"chatId": control_chat})

    async def nothing_seen_in_chat() -> None:
        """Bob has the control chat open: its receipt comes first, so none for ``chat`` came before."""
        mark = alice_tab.mark
        control = await send(alice, control_chat, "control")
        assert await alice_tab.collect("messagesSeen", 1, after=mark) == [
            seen_event(control_chat, bob, control)
        ]

    # Connected, but the chat is not open: nothing is read.
    unread = await send(alice, chat, "not read yet")
    assert unread["seen"] is False
    await nothing_seen_in_chat()

    # Opening the chat reads what is there.
    mark = alice_tab.mark
    await bob_tab.call("joinChat", {"chatId": chat})
    assert await alice_tab.collect("messagesSeen", 1, after=mark) == [seen_event(chat, bob, unread)]

    # While it is open, a new message is read at once: the sender hears so, the response says so.
    mark = alice_tab.mark
    read_at_once = await send(alice, chat, "read at once")
    assert read_at_once["seen"] is True
    assert await alice_tab.collect("messagesSeen", 1, after=mark) == [seen_event(chat, bob, read_at_once)]
    bob_copy = await bob_tab.payload("newMessage", lambda m: m["_id"] == read_at_once["_id"])
    assert bob_copy["text"] == "read at once"

    # Closed again: nothing is read.
    await bob_tab.call("leaveChat", {"chatId": chat})
    closed = await send(alice, chat, "after leaving")
    assert closed["seen"] is False
    await nothing_seen_in_chat()
    assert [m["seen"] for m in (await history(alice, chat))["messages"]] == [True, True, False]


# ---------------------------------------------------------------------------- newChat


async def test_new_chat_reaches_the_members_added_and_no_one_else(live: Live) -> None:
    alice, bob, carol, dave = await live.people("alice", "bob", "carol", "dave")
    tabs = {p.id: await live.socket(p) for p in (alice, bob, carol, dave)}

    group = await group_chat(alice, bob, carol)
    for person in (alice, bob, carol):
        assert await tabs[person.id].payload("newChat") == {"chatId": group}

    response = await alice.client.post(f"/api/v1/chat/{group}/members", json={"userIds": [dave.id]})
    assert response.status_code == 200, response.text
    # Dave's first newChat is this one: he heard nothing of the group's creation.
    assert await tabs[dave.id].collect("newChat", 1) == [{"chatId": group}]

    # A new 1:1 chat: both of its people hear of it; the earlier members did not hear of dave.
    direct = await direct_chat(bob, carol)
    for person in (bob, carol):
        assert await tabs[person.id].collect("newChat", 2) == [{"chatId": group}, {"chatId": direct}]

    # Asking for an existing 1:1 chat creates and announces nothing.
    response = await carol.client.post("/api/v1/chat/new", json={"otherUserId": bob.id})
    assert response.status_code == 200, response.text
    assert response.json()["chatId"] == direct
    control = await direct_chat(bob, dave)
    assert await tabs[bob.id].collect("newChat", 3) == [
        {"chatId": group},
        {"chatId": direct},
        {"chatId": control},
    ]
    assert await tabs[dave.id].collect("newChat", 2) == [{"chatId": group}, {"chatId": control}]
    last = await direct_chat(alice, dave)
    assert await tabs[alice.id].collect("newChat", 2) == [{"chatId": group}, {"chatId": last}]
    assert tabs[carol.id].named("newChat") == [{"chatId": group}, {"chatId": direct}]


# ---------------------------------------------------------------------------- typing


async def test_typing_goes_to_the_other_member_and_a_non_member_is_ignored(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    chat = await direct_chat(alice, bob)
    await direct_chat(bob, carol)
    alice_tab, bob_tab, carol_tab = await live.socket(alice), await live.socket(bob), await live.socket(carol)
    typing = {"chatId": chat, "userId": alice.id}

    await alice_tab.emit("typing", {"chatId": chat})
    assert await bob_tab.payload("userTyping") == typing
    await alice_tab.emit("stopTyping", {"chatId": chat})
    assert await bob_tab.payload("userStoppedTyping") == typing

    # Carol is no member: her typing in the chat is dropped (the acknowledgement says it was handled).
    await carol_tab.call("typing", {"chatId": chat})
    await carol_tab.call("stopTyping", {"chatId": chat})
    await alice_tab.call("typing", {"chatId": chat})
    assert await bob_tab.collect("userTyping", 2) == [typing, typing]
    assert bob_tab.named("userStoppedTyping") == [typing]

    # Nobody hears their own typing.
    await bob_tab.emit("typing", {"chatId": chat})
    assert await alice_tab.collect("userTyping", 1) == [{"chatId": chat, "userId": bob.id}]
    assert carol_tab.named("userTyping") == []


# ---------------------------------------------------------------------------- presence


async def test_the_online_list_on_connect_names_online_contacts_only(live: Live) -> None:
    alice, bob, carol, dave = await live.people("alice", "bob", "carol", "dave")
    await direct_chat(alice, bob)
    await direct_chat(alice, carol)
    await direct_chat(bob, dave)  # dave is online too, but shares no chat with alice
    bob_tab, dave_tab = await live.socket(bob), await live.socket(dave)

    alice_tab = await live.socket(alice)
    assert alice_tab.named("getOnlineUser")[0] == [bob.id]
    assert dave_tab.named("getOnlineUser")[0] == [bob.id]
    # Bob hears alice came online: always the full list.
    listed = await bob_tab.payload("getOnlineUser", lambda ids: alice.id in ids)
    assert sorted(listed) == sorted([alice.id, dave.id])


# ---------------------------------------------------------------------------- load


async def test_a_thousand_messages_arrive_once_each_and_in_stored_order(live: Live) -> None:
    people = await live.people(*(f"sender{n}" for n in range(10)))
    group = await group_chat(people[0], *people[1:], name="Everyone")
    ring = [await direct_chat(people[n], people[(n + 1) % 10]) for n in range(10)]
    members: dict[str, list[Person]] = {group: people}
    for n, chat in enumerate(ring):
        members[chat] = [people[n], people[(n + 1) % 10]]
    chats_of = {p.id: [c for c, ps in members.items() if p in ps] for p in people}
    tabs = {p.id: await live.socket(p) for p in people}

    async def sender(n: int) -> list[dict[str, Any]]:
        person = people[n]
        targets = itertools.cycle(chats_of[person.id])
        return [
            await send(person, next(targets), f"{n}:{i}", clientId=f"load-{n}-{i:03}") for i in range(100)
        ]

    sent = [m for batch in await asyncio.gather(*(sender(n) for n in range(10))) for m in batch]
    assert len(sent) == 1000
    expected = {p.id: sum(1 for m in sent if m["chatId"] in chats_of[p.id]) for p in people}

    for person in people:
        await tabs[person.id].collect("newMessage", expected[person.id], timeout=60)
    # A last message to everyone: what arrives before it is all that will ever arrive.
    last = await send(people[0], group, "that is all")
    for person in people:
        await tabs[person.id].wait_for("newMessage", lambda m: m["_id"] == last["_id"], timeout=30)

    # The people's messages (the group's creation is a system message of its own).
    stored = {
        chat: [m["_id"] for m in await full_history(ps[0], chat) if m["messageType"] != "system"]
        for chat, ps in members.items()
    }
    assert sum(len(ids) for ids in stored.values()) == 1001
    assert {m["_id"] for m in sent} | {last["_id"]} == {i for ids in stored.values() for i in ids}
    for person in people:
        received = tabs[person.id].named("newMessage")
        assert len(received) == expected[person.id] + 1
        for chat in chats_of[person.id]:
            assert [m["_id"] for m in received if m["chatId"] == chat] == stored[chat], (person.name, chat)


# ---------------------------------------------------------------------------- several instances


async def test_messages_typing_and_receipts_cross_chat_instances(live: Live, stack: Stack) -> None:
    if not stack.backend.real:
        pytest.skip("embedded, one process is the only instance; instances share Redis and RabbitMQ")
    # A second chat service on the same database, Redis and RabbitMQ, asking the first server's
    # user service for profiles over HTTP, as a separately deployed instance would.
    second = await live.add_server(
        create_chat_app(make_settings(stack.backend, user_service=live.served.url)), lifespan=True
    )
    alice, bob = await live.people("alice", "bob")
    chat = await direct_chat(alice, bob)
    alice_tab = await live.socket(alice)  # on the first instance
    bob_tab = await live.socket(bob, second)
    bob_on_second = live.on(bob, second)
    alice_on_second = live.on(alice, second)
    assert bob_tab.named("getOnlineUser")[0] == [alice.id]
    assert await alice_tab.payload("getOnlineUser", lambda ids: ids != []) == [bob.id]

    # Messages, stored through either instance, reach both.
    via_second = await send(alice_on_second, chat, "through the second")
    via_first = await send(bob, chat, "through the first")
    for peer in (alice_tab, bob_tab):
        assert await peer.collect("newMessage", 2) == [via_second, via_first]

    # Typing.
    await alice_tab.emit("typing", {"chatId": chat})
    assert await bob_tab.payload("userTyping") == {"chatId": chat, "userId": alice.id}
    await bob_tab.emit("typing", {"chatId": chat})
    assert await alice_tab.payload("userTyping") == {"chatId": chat, "userId": bob.id}
    await alice_tab.emit("stopTyping", {"chatId": chat})
    assert await bob_tab.payload("userStoppedTyping") == {"chatId": chat, "userId": alice.id}

    # Receipts: bob reads through the second instance, alice hears it on the first.
    await history(bob_on_second, chat)
    assert await alice_tab.payload("messagesSeen") == seen_event(chat, bob, via_second)
    # Bob has the chat open on the second; alice's message, stored by the first, is read at once.
    await bob_tab.call("joinChat", {"chatId": chat})
    mark = alice_tab.mark
    read_at_once = await send(alice, chat, "you have it open")
    assert read_at_once["seen"] is True
    assert await alice_tab.collect("messagesSeen", 1, after=mark) == [seen_event(chat, bob, read_at_once)]
    assert await bob_tab.payload("newMessage", lambda m: m["_id"] == read_at_once["_id"])
    # And alice reading through the second tells bob on the second of his message.
    await history(alice_on_second, chat)
    assert await bob_tab.payload("messagesSeen") == seen_event(chat, alice, via_first)
