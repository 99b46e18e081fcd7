"""Changes seen live: messageUpdated, chatUpdated and removedFromChat through the whole app.

Where a test shows that something did *not* arrive, a control event follows it: events reach a
socket in the order they were emitted, so what did not come before the control never came.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from parley.chat.app import create_app as create_chat_app
from tests.chat.helpers import direct_chat, group_chat, send
from tests.chat.live_helpers import Live
from tests.chat.realtime_helpers import Peer
from tests.fixtures.stack import Stack, make_settings


def about(chat_id: str) -> Any:
    return lambda payload: isinstance(payload, dict) and payload.get("chatId") == chat_id


async def test_edits_reactions_deletions_and_replies_reach_every_member(live: Live) -> None:
    alice, bob, carol, dave = await live.people("alice", "bob", "carol", "dave")
    group = await group_chat(alice, bob, carol)
    alice_tab, alice_phone = await live.socket(alice), await live.socket(alice)
    bob_tab, carol_tab, dave_tab = await live.socket(bob), await live.socket(carol), await live.socket(dave)
    members = (alice_tab, alice_phone, bob_tab, carol_tab)

    original = await send(bob, group, "helo")
    edited = (await bob.client.patch(f"/api/v1/message/{original['_id']}", json={"text": "hello"})).json()
    reacted = (await alice.client.put(f"/api/v1/message/{original['_id']}/reactions/{quote('🎉')}")).json()
    # A reply over the socket, acknowledged with the stored document.
    ack = await carol_tab.call("sendMessage", {"chatId": group, "text": "hi!", "replyTo": original["_id"]})
    reply = ack["message"]
    assert reply["replyTo"] == {
        "_id": original["_id"],
        "sender": bob.id,
        "text": "hello",
        "messageType": "text",
        "deleted": False,
    }
    deleted = (await bob.client.delete(f"/api/v1/message/{original['_id']}")).json()

    for peer in members:
        assert await peer.collect("messageUpdated", 3) == [
            edited["message"],
            reacted["message"],
            deleted["message"],
        ]
        assert await peer.payload("newMessage", lambda m: m["_id"] == reply["_id"]) == reply
    control = await send(dave, await direct_chat(dave, alice), "control")
    assert await dave_tab.collect("newMessage", 1) == [control]
    assert dave_tab.named("messageUpdated") == []


async def test_a_removed_member_is_told_and_hears_nothing_more_of_the_chat(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    group = await group_chat(alice, bob, carol)
    control_chat = await direct_chat(alice, carol)
    bob_tab = await live.socket(bob)
    carol_tab, carol_phone = await live.socket(carol), await live.socket(carol)
    await carol_tab.call("joinChat", {"chatId": group})
    # Typing before the removal: the instance caches who is in the group.
    await bob_tab.emit("typing", {"chatId": group})
    assert await carol_tab.payload("userTyping") == {"chatId": group, "userId": bob.id}

    response = await alice.client.delete(f"/api/v1/chat/{group}/members/{carol.id}")
    assert response.status_code == 200, response.text
    for peer in (carol_tab, carol_phone):
        assert await peer.payload("removedFromChat") == {"chatId": group}
    update = await bob_tab.payload("chatUpdated")
    assert {**update, "users": sorted(update["users"])} == {
        "chatId": group,
        "name": "Team",
        "users": sorted([alice.id, bob.id]),
        "admins": [alice.id],
    }
    system = await bob_tab.payload("newMessage", lambda m: m["messageType"] == "system" and m["seq"] == 2)
    assert system["system"] == {"action": "removed", "actor": alice.id, "users": [carol.id], "name": "Team"}

    # From here on: no typing, message, update or receipt of the group reaches carol.
    mark = carol_tab.mark
    await bob_tab.call("typing", {"chatId": group})
    sent = await send(bob, group, "carol is gone")
    await bob.client.put(f"/api/v1/message/{sent['_id']}/reactions/{quote('👍')}")
    await carol_tab.call("typing", {"chatId": group})  # ignored: not a member any more
    await carol_tab.call("joinChat", {"chatId": group})  # refused
    refused = await carol.client.post("/api/v1/message", json={"chatId": group, "text": "let me back"})
    assert refused.status_code == 403
    control = await send(alice, control_chat, "control")
    assert await carol_tab.payload("newMessage", lambda m: m["_id"] == control["_id"], after=mark)
    assert [name for name, payload in carol_tab.events[mark:] if about(group)(payload)] == []
    assert bob_tab.named("userTyping") == []
    assert not (await bob_tab.payload("messageUpdated"))["seen"]


async def test_leaving_tells_the_one_who_left_and_the_others(live: Live) -> None:
    alice, bob, carol = await live.people("alice", "bob", "carol")
    group = await group_chat(alice, bob, carol)
    alice_tab, bob_tab = await live.socket(alice), await live.socket(bob)
    assert (await bob.client.post(f"/api/v1/chat/{group}/leave")).status_code == 200
    assert await bob_tab.payload("removedFromChat") == {"chatId": group}
    update = await alice_tab.payload("chatUpdated")
    assert {**update, "users": sorted(update["users"])} == {
        "chatId": group,
        "name": "Team",
        "users": sorted([alice.id, carol.id]),
        "admins": [alice.id],
    }
    renamed = await alice.client.post(f"/api/v1/chat/{group}/rename", json={"name": "Two of us"})
    assert renamed.status_code == 200
    update = await alice_tab.payload("chatUpdated", lambda p: p["name"] == "Two of us")
    assert sorted(update["users"]) == sorted([alice.id, carol.id])
    actions = [m["system"]["action"] for m in alice_tab.named("newMessage") if m["messageType"] == "system"]
    assert actions == ["left", "renamed"]
    control = await send(alice, await direct_chat(alice, bob), "control")
    assert await bob_tab.payload("newMessage", lambda m: m["_id"] == control["_id"])
    assert bob_tab.named("chatUpdated") == []


async def test_a_removal_reaches_other_instances(live: Live, stack: Stack) -> None:
    if not stack.backend.real:
        pytest.skip("embedded, one process is the only instance; instances share Redis and RabbitMQ")
    second = await live.add_server(
        create_chat_app(make_settings(stack.backend, user_service=live.served.url)), lifespan=True
    )
    alice, bob, carol = await live.people("alice", "bob", "carol")
    group = await group_chat(alice, bob, carol)
    control_chat = await direct_chat(alice, carol)
    bob_tab: Peer = await live.socket(bob, second)  # bob types through the second instance
    carol_tab = await live.socket(carol)  # carol listens on the first
    await bob_tab.emit("typing", {"chatId": group})
    assert await carol_tab.payload("userTyping") == {"chatId": group, "userId": bob.id}

    # Removed through the first instance; the second must forget that carol was a member.
    response = await alice.client.delete(f"/api/v1/chat/{group}/members/{carol.id}")
    assert response.status_code == 200, response.text
    assert await carol_tab.payload("removedFromChat") == {"chatId": group}
    assert sorted((await bob_tab.payload("chatUpdated"))["users"]) == sorted([alice.id, bob.id])
    mark = carol_tab.mark
    await bob_tab.call("stopTyping", {"chatId": group})
    await bob_tab.call("typing", {"chatId": group})
    edited = await send(live.on(bob, second), group, "only for alice and me")
    control = await send(alice, control_chat, "control")
    assert await carol_tab.payload("newMessage", lambda m: m["_id"] == control["_id"], after=mark)
    assert [name for name, payload in carol_tab.events[mark:] if about(group)(payload)] == []
    assert edited["chatId"] == group


async def test_a_removal_on_one_instance_refuses_a_send_on_another_at_once(live: Live, stack: Stack) -> None:
    if not stack.backend.real:
        pytest.skip("embedded, one process is the only instance; instances share Redis and RabbitMQ")
    second = await live.add_server(
        create_chat_app(make_settings(stack.backend, user_service=live.served.url)), lifespan=True
    )
    alice, bob, carol = await live.people("alice", "bob", "carol")
    group = await group_chat(alice, bob, carol)
    carol_there = live.on(carol, second)
    carol_tab = await live.socket(carol, second)
    # Carol has sent (and typed) through the second instance: whatever it caches about her, it has.
    await send(carol_there, group, "before")
    assert "message" in await carol_tab.call("sendMessage", {"chatId": group, "text": "socket before"})
    await carol_tab.emit("typing", {"chatId": group})

    response = await alice.client.delete(f"/api/v1/chat/{group}/members/{carol.id}")
    assert response.status_code == 200, response.text
    refused = await carol_there.client.post("/api/v1/message", json={"chatId": group, "text": "after"})
    assert refused.status_code == 403, refused.text
    ack = await carol_tab.call("sendMessage", {"chatId": group, "text": "socket after"})
    assert ack["error"]["code"] == refused.json()["code"]
    texts = [m["text"] for m in (await alice.client.get(f"/api/v1/message/{group}")).json()["messages"]]
    assert "after" not in texts and "socket after" not in texts
