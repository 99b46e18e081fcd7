"""Privacy in the chat service: blocks (1:1 chats, presence, typing) and read receipts turned off.

Runs on both backends, through the real API and real sockets. Where a test shows that something
did *not* arrive, a control event follows it: events reach a socket in the order emitted.
"""

from __future__ import annotations

from typing import Any

import pytest

from parley.chat.app import create_app as create_chat_app
from tests.chat.helpers import direct_chat, group_chat, history, listed, send
from tests.chat.live_helpers import Live
from tests.fixtures.stack import Person, Stack, make_settings
from tests.user.helpers import block, change_settings


async def unblock(person: Person, other_id: str) -> None:
    response = await person.client.delete(f"/api/v1/user/{other_id}/block")
    assert response.status_code == 200, response.text


async def refused_send(person: Person, chat_id: str) -> None:
    response = await person.client.post("/api/v1/message", json={"chatId": chat_id, "text": "hi"})
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "blocked"
    assert response.json()["message"]


def seen_event(chat_id: str, reader: Person, *messages: dict[str, Any]) -> dict[str, Any]:
    return {"chatId": chat_id, "seenBy": reader.id, "messageIds": [m["_id"] for m in messages]}


# ---------------------------------------------------------------------------- blocks


async def test_a_block_closes_the_one_to_one_chat_both_ways_until_unblocked(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    chat = await direct_chat(alice, bob)
    group = await group_chat(alice, bob, carol)
    await send(bob, chat, "before")  # the verdict "not blocked" is now cached
    bob_tab = await live.socket(bob)

    await block(alice, bob.id)
    await refused_send(bob, chat)
    await refused_send(alice, chat)
    ack = await bob_tab.call("sendMessage", {"chatId": chat, "text": "over the socket"})
    assert ack["error"]["code"] == "blocked"
    # Nothing was stored; the group is not affected.
    assert [m["text"] for m in (await history(alice, chat))["messages"]] == ["before"]
    await send(bob, group, "groups still work")

    await unblock(alice, bob.id)
    await send(bob, chat, "after")
    assert [m["text"] for m in (await history(alice, chat))["messages"]] == ["before", "after"]


async def test_a_block_takes_effect_at_once_on_every_instance(live: Live, stack: Stack) -> None:
    """Each instance keeps verdicts in process; a block or unblock anywhere reaches them all at once."""
    if not stack.backend.real:
        pytest.skip("embedded, one process is the only instance; instances share Redis")
    second = await live.add_server(
        create_chat_app(make_settings(stack.backend, user_service=live.served.url)), lifespan=True
    )
    alice, bob = await live.people("alice", "bob")
    chat = await direct_chat(alice, bob)
    bob_there = live.on(bob, second)
    # Both instances now hold the verdict "not blocked" in process.
    await send(bob, chat, "here")
    await send(bob_there, chat, "there")
    bob_tab = await live.socket(bob, second)

    await block(alice, bob.id)
    await refused_send(bob_there, chat)
    await refused_send(bob, chat)
    ack = await bob_tab.call("sendMessage", {"chatId": chat, "text": "over the socket"})
    assert ack["error"]["code"] == "blocked"

    await unblock(alice, bob.id)
    await send(bob_there, chat, "after")
    ack = await bob_tab.call("sendMessage", {"chatId": chat, "text": "socket after"})
    assert "message" in ack, ack
    texts = [m["text"] for m in (await history(alice, chat))["messages"]]
    assert texts == ["here", "there", "after", "socket after"]


async def test_a_blocked_user_cannot_start_a_one_to_one_chat(live: Live) -> None:
    alice, bob = await live.people("alice", "bob")
    await block(alice, bob.id)
    for who, other in ((bob, alice), (alice, bob)):
        response = await who.client.post("/api/v1/chat/new", json={"otherUserId": other.id})
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "blocked"
    response = await bob.client.get("/api/v1/chat/all")
    assert response.json()["chats"] == []
    await unblock(alice, bob.id)
    await direct_chat(bob, alice)


async def test_a_blocked_user_does_not_see_the_blocker_typing(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    group = await group_chat(alice, bob, carol)
    alice_tab, bob_tab, carol_tab = await live.socket(alice), await live.socket(bob), await live.socket(carol)
    await block(alice, bob.id)

    await alice_tab.emit("typing", {"chatId": group})
    assert await carol_tab.payload("userTyping") == {"chatId": group, "userId": alice.id}
    await alice_tab.emit("stopTyping", {"chatId": group})
    await carol_tab.wait_for("userStoppedTyping")
    # Bob's control: carol typing reaches him; alice's typing never came before it.
    await carol_tab.emit("typing", {"chatId": group})
    assert await bob_tab.payload("userTyping") == {"chatId": group, "userId": carol.id}
    assert bob_tab.named("userStoppedTyping") == []
    assert [p["userId"] for p in bob_tab.named("userTyping")] == [carol.id]
    # The blocker still sees the blocked person type.
    await bob_tab.emit("typing", {"chatId": group})
    assert await alice_tab.payload("userTyping", lambda p: p["userId"] == bob.id)


async def test_a_blocked_user_does_not_see_the_blocker_online(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    await group_chat(carol, alice, bob)
    await block(alice, bob.id)
    bob_tab = await live.socket(bob)
    carol_tab = await live.socket(carol)
    await bob_tab.wait_for("getOnlineUser", lambda ids: ids == [carol.id])

    alice_tab = await live.socket(alice)
    assert sorted(alice_tab.named("getOnlineUser")[0]) == sorted([bob.id, carol.id])
    await carol_tab.wait_for("getOnlineUser", lambda ids: alice.id in ids)
    # Bob hears of a change (dave) but alice is never in his list.
    dave = await live.login("dave")
    await group_chat(dave, bob, carol)
    dave_tab = await live.socket(dave)
    await bob_tab.wait_for("getOnlineUser", lambda ids: dave.id in ids)
    assert all(alice.id not in ids for ids in bob_tab.named("getOnlineUser"))
    await dave_tab.close()


# ---------------------------------------------------------------------------- read receipts


async def test_a_reader_with_receipts_off_sends_none_and_unread_counts_still_work(live: Live) -> None:
    alice, bob = await live.people("alice", "bob")
    chat = await direct_chat(alice, bob)
    await change_settings(bob, readReceipts=False)
    alice_tab = await live.socket(alice)

    first = await send(alice, chat, "one")
    assert (await listed(bob, chat))["chat"]["unseenCount"] == 1
    await history(bob, chat)  # bob reads it
    assert (await listed(bob, chat))["chat"]["unseenCount"] == 0
    # Alice is told nothing and sees her message as unseen.
    assert [m["seen"] for m in (await history(alice, chat))["messages"]] == [False]
    reply = await send(bob, chat, "reply")
    await history(alice, chat)
    control = await alice_tab.wait_for("newMessage", lambda m: m["_id"] == reply["_id"])
    assert control is not None
    assert alice_tab.named("messagesSeen") == []
    assert first["seen"] is False


async def test_a_sender_with_receipts_off_gets_none_and_sees_no_seen(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    chat = await direct_chat(alice, bob)
    control_chat = await direct_chat(carol, bob)
    await change_settings(alice, readReceipts=False)
    alice_tab, carol_tab = await live.socket(alice), await live.socket(carol)
    bob_tab = await live.socket(bob)

    mine = await send(alice, chat, "from alice")
    theirs = await send(carol, control_chat, "from carol")
    await history(bob, chat)
    await history(bob, control_chat)
    assert await carol_tab.payload("messagesSeen") == seen_event(control_chat, bob, theirs)
    assert [m["seen"] for m in (await history(alice, chat))["messages"]] == [False]
    # Read on arrival with the chat open: still nothing for alice, and her acknowledgement says unseen.
    await bob_tab.call("joinChat", {"chatId": chat})
    at_once = await send(alice, chat, "while open")
    assert at_once["seen"] is False
    again = await send(carol, control_chat, "control")
    await history(bob, control_chat)
    await carol_tab.collect("messagesSeen", 2)
    assert alice_tab.named("messagesSeen") == []
    assert mine["seen"] is False
    # Alice still reads: bob's messages to her count as read once she opens the chat.
    await send(bob, chat, "hello alice")
    assert (await listed(alice, chat))["chat"]["unseenCount"] == 1
    await history(alice, chat)
    assert (await listed(alice, chat))["chat"]["unseenCount"] == 0
    assert again["seen"] is False
