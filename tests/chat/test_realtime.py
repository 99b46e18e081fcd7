"""The real-time layer with real Socket.IO clients against real uvicorn servers.

Single-instance tests run twice: ``embedded`` (in-process cache, in-process client manager) and
``real`` (Redis database 12 as cache and as client manager). The several-instance tests need Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
import socketio
from structlog.testing import capture_logs

from parley.chat.events import Event
from parley.chat.realtime import MAX_JOINED_CHATS, ChatRef, InOrder, TokenBucket
from tests.chat.realtime_helpers import (
    REDIS_HOST,
    REDIS_PORT,
    Bed,
    Peer,
    User,
    eventually,
    memory_cache,
    real_cache,
)
from tests.fixtures.backends import reachable, require


@asynccontextmanager
async def make_bed(kind: str) -> AsyncIterator[Bed]:
    if kind == "real":
        require(reachable(REDIS_HOST, REDIS_PORT), f"Redis at {REDIS_HOST}:{REDIS_PORT}")
        cache = real_cache()
    else:
        cache = memory_cache()
    bed = Bed(kind, cache)
    try:
        yield bed
    finally:
        await bed.close()
        if kind == "real":
            await cache.flushdb()
        await cache.aclose()


@pytest.fixture(params=["embedded", "real"])
async def bed(request: pytest.FixtureRequest) -> AsyncIterator[Bed]:
    async with make_bed(request.param) as made:
        yield made


@pytest.fixture
async def redis_bed() -> AsyncIterator[Bed]:
    """For several instances: they share a Redis client manager."""
    async with make_bed("real") as made:
        yield made


def token_with(bed: Bed, user: User, *, secret: str | None = None, **claims: object) -> str:
    now = int(time.time())
    body = {
        "sub": user.id,
        "user": {"_id": user.id, "name": "x", "email": "x@example.com"},
        "iat": now,
        "exp": now + 3600,
        "jti": f"jti-{user.id}",
        **claims,
    }
    return jwt.encode(body, secret or bed.secret, algorithm="HS256")


async def refused(peer: Peer, token: str | None, **options: Any) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError, match="failed to connect"):
        await peer.connect(token, **options)
    assert peer.refusal is not None
    assert peer.refusal.get("message") == "unauthorized"


# ---------------------------------------------------------------------------- authentication


async def test_a_socket_without_a_token_is_refused(bed: Bed) -> None:
    instance = await bed.instance()
    alice = bed.user("alice")
    await refused(bed.peer(instance), None)
    await refused(bed.peer(instance), None, auth={})
    await refused(bed.peer(instance), None, auth={"token": ""})
    await refused(bed.peer(instance), None, auth={"token": 42})
    # Only the handshake's auth carries the token, never the query string.
    await refused(bed.peer(instance), None, query=f"?token={alice.token}")
    assert not await instance.realtime.is_online(alice.id)


async def test_a_bad_token_is_refused(bed: Bed) -> None:
    instance = await bed.instance()
    alice = bed.user("alice")
    await refused(bed.peer(instance), "not-a-token")
    await refused(bed.peer(instance), token_with(bed, alice, secret="another-secret-of-32-characters!"))
    await refused(bed.peer(instance), token_with(bed, alice, exp=int(time.time()) - 10))
    await refused(bed.peer(instance), alice.token[:-2])
    assert not await instance.realtime.is_online(alice.id)


async def test_a_revoked_token_is_refused(bed: Bed) -> None:
    instance = await bed.instance()
    alice = bed.user("alice")
    await bed.tokens.revoke(await bed.tokens.verify(alice.token))
    peer = bed.peer(instance)
    await refused(peer, alice.token)
    assert "logged out" in peer.refusal["data"]["detail"]


async def test_a_good_token_connects_over_polling_and_websocket(bed: Bed) -> None:
    instance = await bed.instance()
    alice = bed.user("alice")
    polling = await bed.peer(instance).connect(alice.token, transports=("polling",))
    websocket = await bed.peer(instance).connect(None, auth={"token": f"Bearer {alice.token}"})
    assert await instance.realtime.is_online(alice.id)
    await instance.realtime.sink.emit("newMessage", {"_id": "m1"}, to_users=[alice.id])
    assert await polling.payload("newMessage") == {"_id": "m1"}
    assert await websocket.payload("newMessage") == {"_id": "m1"}


async def test_a_revoked_token_is_disconnected_within_a_second(bed: Bed) -> None:
    instance = await bed.instance()
    alice = bed.user("alice")
    other_device = bed.user("alice")  # another token (of another user here): it stays connected
    revoked = await bed.connect(instance, alice)
    kept = await bed.connect(instance, other_device)

    await bed.tokens.revoke(await bed.tokens.verify(alice.token))
    await asyncio.wait_for(revoked.disconnected.wait(), 1.0)

    await instance.realtime.sink.emit("newMessage", {"_id": "after"}, to_users=[other_device.id])
    assert await kept.payload("newMessage") == {"_id": "after"}
    assert not kept.disconnected.is_set()


async def test_a_socket_is_dropped_when_its_token_expires(bed: Bed) -> None:
    instance = await bed.instance(heartbeat=0.2, presence_ttl=2)
    alice = bed.user("alice")
    peer = await bed.peer(instance).connect(token_with(bed, alice, exp=int(time.time()) + 2))
    await asyncio.wait_for(peer.disconnected.wait(), 4)


# ---------------------------------------------------------------------------- server events


@pytest.mark.parametrize("event", ["newMessage", "messagesSeen", "newChat"])
async def test_an_event_reaches_every_socket_of_its_recipients_and_no_one_else(bed: Bed, event: str) -> None:
    instance = await bed.instance()
    alice, bob, carol = bed.user("alice"), bed.user("bob"), bed.user("carol")
    alice_tab, alice_phone = await bed.connect(instance, alice), await bed.connect(instance, alice)
    bob_tab, carol_tab = await bed.connect(instance, bob), await bed.connect(instance, carol)
    sink = instance.realtime.sink

    await sink.emit(event, {"chatId": "c1", "n": 1}, to_users=[alice.id, bob.id])
    # Controls: one more event to each, after the first, to show what did not arrive before it.
    await sink.emit(event, {"chatId": "c1", "n": 2}, to_users=[carol.id])
    await sink.emit(event, {"chatId": "c1", "n": 3}, to_users=[alice.id, bob.id])

    for peer in (alice_tab, alice_phone, bob_tab):
        assert await peer.collect(event, 2) == [{"chatId": "c1", "n": 1}, {"chatId": "c1", "n": 3}]
    assert await carol_tab.collect(event, 1) == [{"chatId": "c1", "n": 2}]


async def test_sink_with_no_recipients_sends_nothing(bed: Bed) -> None:
    instance = await bed.instance()
    alice = bed.user("alice")
    peer = await bed.connect(instance, alice)
    await instance.realtime.sink.emit("newMessage", {"n": 1}, to_users=[])
    await instance.realtime.sink.emit("newMessage", {"n": 2}, to_users=[alice.id, alice.id])
    assert await peer.collect("newMessage", 1) == [{"n": 2}]
    await instance.realtime.sink.emit("newMessage", {"n": 3}, to_users=[alice.id])
    assert await peer.collect("newMessage", 2) == [{"n": 2}, {"n": 3}]


# ---------------------------------------------------------------------------- typing


async def test_typing_reaches_the_other_members_only(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob, carol, dave = (bed.user(n) for n in ("alice", "bob", "carol", "dave"))
    chat = bed.directory.add_chat(alice.id, bob.id, carol.id)
    alice_tab, alice_other_tab = await bed.connect(instance, alice), await bed.connect(instance, alice)
    bob_tab, carol_tab = await bed.connect(instance, bob), await bed.connect(instance, carol)
    dave_tab = await bed.connect(instance, dave)

    await alice_tab.emit("typing", {"chatId": chat})
    expected = {"chatId": chat, "userId": alice.id}
    assert await bob_tab.payload("userTyping") == expected
    assert await carol_tab.payload("userTyping") == expected

    await alice_tab.emit("stopTyping", {"chatId": chat})
    assert await bob_tab.payload("userStoppedTyping") == expected
    assert await carol_tab.payload("userStoppedTyping") == expected

    # The typist's own tabs and outsiders heard nothing before these controls.
    for peer, user in ((alice_other_tab, alice), (dave_tab, dave)):
        await instance.realtime.sink.emit("newMessage", {"control": True}, to_users=[user.id])
        end = await peer.wait_for("newMessage")
        assert peer.named("userTyping", before=end) == []
        assert peer.named("userStoppedTyping", before=end) == []


async def test_typing_in_a_chat_you_are_not_in_is_ignored(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob, eve = bed.user("alice"), bed.user("bob"), bed.user("eve")
    secret_chat = bed.directory.add_chat(alice.id, bob.id)
    eve_and_bob = bed.directory.add_chat(eve.id, bob.id)
    bob_tab = await bed.connect(instance, bob)
    eve_tab = await bed.connect(instance, eve)

    await eve_tab.emit("typing", {"chatId": secret_chat})
    await eve_tab.emit("stopTyping", {"chatId": secret_chat})
    await eve_tab.emit("typing", {"chatId": eve_and_bob})  # the control, from the same socket

    end = await bob_tab.wait_for("userTyping", lambda p: p["chatId"] == eve_and_bob)
    assert bob_tab.named("userTyping", before=end) == []
    assert bob_tab.named("userStoppedTyping", before=end) == []


async def test_typing_stops_by_itself_after_the_timeout(bed: Bed) -> None:
    instance = await bed.instance(typing_timeout=0.5)
    alice, bob = bed.user("alice"), bed.user("bob")
    chat = bed.directory.add_chat(alice.id, bob.id)
    bob_tab = await bed.connect(instance, bob)
    alice_tab = await bed.connect(instance, alice)

    await alice_tab.emit("typing", {"chatId": chat})
    await bob_tab.wait_for("userTyping")
    started = time.monotonic()
    assert await bob_tab.payload("userStoppedTyping") == {"chatId": chat, "userId": alice.id}
    assert time.monotonic() - started >= 0.35


async def test_renewed_typing_keeps_going_and_is_throttled(bed: Bed) -> None:
    instance = await bed.instance(typing_timeout=0.6)
    alice, bob = bed.user("alice"), bed.user("bob")
    chat = bed.directory.add_chat(alice.id, bob.id)
    bob_tab = await bed.connect(instance, bob)
    alice_tab = await bed.connect(instance, alice)

    for _ in range(30):
        await alice_tab.emit("typing", {"chatId": chat})
    await alice_tab.emit("stopTyping", {"chatId": chat})

    end = await bob_tab.wait_for("userStoppedTyping")
    assert bob_tab.named("userTyping", before=end) == [{"chatId": chat, "userId": alice.id}]
    # One stop for one stopTyping: the renewals left no timer behind.
    await alice_tab.emit("typing", {"chatId": chat})
    after_stop = await bob_tab.wait_for("userTyping", after=end + 1)
    again = await bob_tab.wait_for("userStoppedTyping", after=after_stop)
    assert bob_tab.named("userStoppedTyping", after=end + 1, before=again) == []


# ---------------------------------------------------------------------------- open chats


async def test_joining_a_chat_marks_it_seen_and_makes_you_a_viewer(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob = bed.user("alice"), bed.user("bob")
    chat = bed.directory.add_chat(alice.id, bob.id)
    realtime = instance.realtime
    alice_tab = await bed.connect(instance, alice)
    bob_tab = await bed.connect(instance, bob)

    await alice_tab.call("joinChat", {"chatId": chat})
    assert bed.directory.seen == [(chat, alice.id)]
    assert (await realtime.viewers([chat]))[chat] == {alice.id}
    await bob_tab.call("joinChat", {"chatId": chat})
    assert (await realtime.viewers([chat]))[chat] == {alice.id, bob.id}

    other = bed.directory.add_chat(alice.id, bob.id)
    assert await realtime.viewers([chat, other]) == {chat: {alice.id, bob.id}, other: set()}

    await alice_tab.call("leaveChat", {"chatId": chat})
    assert (await realtime.viewers([chat]))[chat] == {bob.id}
    await bob_tab.close()

    async def nobody_views() -> bool:
        return (await realtime.viewers([chat]))[chat] == set()

    await eventually(nobody_views, what="a closed socket leaves its chats")


async def test_a_non_member_cannot_join_a_chat(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob, eve = bed.user("alice"), bed.user("bob"), bed.user("eve")
    chat = bed.directory.add_chat(alice.id, bob.id)
    eve_tab = await bed.connect(instance, eve)

    await eve_tab.call("joinChat", {"chatId": chat})
    assert bed.directory.seen == []
    assert (await instance.realtime.viewers([chat]))[chat] == set()


async def test_a_socket_keeps_a_bounded_number_of_chats_joined(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob = bed.user("alice"), bed.user("bob")
    chats = [bed.directory.add_chat(alice.id, bob.id) for _ in range(MAX_JOINED_CHATS + 4)]
    alice_tab = await bed.connect(instance, alice)
    for chat in chats:
        await alice_tab.call("joinChat", {"chatId": chat})
    viewers = await instance.realtime.viewers(chats)  # one lookup for them all
    open_chats = [c for c in chats if viewers[c]]
    assert open_chats == chats[-MAX_JOINED_CHATS:]


# ---------------------------------------------------------------------------- presence


async def test_online_contacts_on_connect_and_as_they_come_and_go(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob, carol, dave = (bed.user(n) for n in ("alice", "bob", "carol", "dave"))
    bed.directory.add_chat(alice.id, bob.id)
    bed.directory.add_chat(carol.id, dave.id)
    carol_tab = await bed.connect(instance, carol)  # online, but no contact of alice's or bob's
    assert await carol_tab.payload("getOnlineUser") == []

    alice_tab = await bed.connect(instance, alice)
    assert await alice_tab.payload("getOnlineUser") == []

    bob_tab = await bed.connect(instance, bob)
    assert await bob_tab.payload("getOnlineUser") == [alice.id]
    start = await alice_tab.wait_for("getOnlineUser", lambda p: p == [bob.id], after=1)

    # A second socket of bob's changes nothing; closing one of two changes nothing either.
    bob_phone = await bed.connect(instance, bob)
    assert await bob_phone.payload("getOnlineUser") == [alice.id]
    await bob_phone.close()
    await bob_tab.close()
    end = await alice_tab.wait_for("getOnlineUser", lambda p: p == [], after=start + 1)
    assert alice_tab.named("getOnlineUser", after=start + 1, before=end) == []
    assert not await instance.realtime.is_online(bob.id)

    # Carol heard nothing of alice and bob before her own contact's arrival.
    await bed.connect(instance, dave)
    arrival = await carol_tab.wait_for("getOnlineUser", lambda p: p == [dave.id])
    assert carol_tab.named("getOnlineUser", before=arrival) == [[]]


async def test_a_new_chat_refreshes_its_members_online_lists(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob = bed.user("alice"), bed.user("bob")
    alice_tab = await bed.connect(instance, alice)
    bob_tab = await bed.connect(instance, bob)
    assert await alice_tab.payload("getOnlineUser") == []
    assert await bob_tab.payload("getOnlineUser") == []

    chat = bed.directory.add_chat(alice.id, bob.id)
    await instance.realtime.sink.emit("newChat", {"chatId": chat}, to_users=[alice.id, bob.id])
    assert await alice_tab.payload("getOnlineUser", lambda p: p != []) == [bob.id]
    assert await bob_tab.payload("getOnlineUser", lambda p: p != []) == [alice.id]


async def test_a_stopping_instance_takes_its_many_sockets_offline_within_a_small_cache_pool(bed: Bed) -> None:
    """When an instance stops, all its sockets go at once. Their presence goes in a few round
    trips: one pipeline per socket at the same time exhausted the cache's pool ("Too many
    connections") and left the entries to expire."""
    a = await bed.instance(cache=bed.cache_client(max_connections=8))
    b = await bed.instance()
    bob, carol = bed.user("bob"), bed.user("carol")
    many = [bed.user(f"user{n}") for n in range(40)]
    for user in [carol, *many]:
        bed.directory.add_chat(bob.id, user.id)
    bob_on_b = await bed.connect(b, bob)
    await bed.connect(b, carol)  # carol has a socket on b too: she stays online
    for user in [carol, *many, many[0]]:  # many[0] has two sockets on a
        await bed.connect(a, user)
    everyone = sorted(u.id for u in [carol, *many])
    if bed.real:  # (an embedded instance's announcements reach only its own sockets)
        await bob_on_b.wait_for("getOnlineUser", lambda p: sorted(p) == everyone, timeout=10)
    seen = bob_on_b.mark

    with capture_logs() as logs:
        await a.stop()

    assert [e for e in logs if e["log_level"] in ("warning", "error")] == []
    keys = a.realtime.keys
    for user in many:
        assert not await bed.cache.exists(keys.presence(user.id)), user.name
        assert await bed.cache.zscore(keys.index, user.id) is None, user.name
    assert await b.realtime.online([carol.id, *(u.id for u in many)]) == [carol.id]
    if bed.real:
        await bob_on_b.wait_for("getOnlineUser", lambda p: p == [carol.id], after=seen)


# ---------------------------------------------------------------------------- robustness


async def test_malformed_payloads_and_unknown_events_are_ignored(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob = bed.user("alice"), bed.user("bob")
    chat = bed.directory.add_chat(alice.id, bob.id)
    bob_tab = await bed.connect(instance, bob)
    alice_tab = await bed.connect(instance, alice)

    for bad in (
        {},
        "a string",
        {"chatId": 5},
        {"chatId": "not-an-id"},
        [chat],
        None,
        {"chatId": chat.upper()},
    ):
        await alice_tab.emit("typing", bad)
        await alice_tab.emit("joinChat", bad)
    await alice_tab.client.emit("typing")  # no payload at all
    await alice_tab.emit("typing", {"chatId": chat}, {"chatId": chat})  # two payloads
    await alice_tab.emit("noSuchEvent", {"chatId": chat})
    await alice_tab.emit("typing", {"chatId": chat, "extra": "ignored"})  # the control

    end = await bob_tab.wait_for("userTyping")
    assert bob_tab.named("userTyping", before=end + 1) == [{"chatId": chat, "userId": alice.id}]
    assert bed.directory.seen == []
    assert not alice_tab.disconnected.is_set()


async def test_a_flood_from_one_socket_harms_no_one(bed: Bed) -> None:
    instance = await bed.instance()
    alice, bob, eve = bed.user("alice"), bed.user("bob"), bed.user("eve")
    with_eve = bed.directory.add_chat(eve.id, bob.id)
    with_alice = bed.directory.add_chat(alice.id, bob.id)
    bob_tab = await bed.connect(instance, bob)
    alice_tab = await bed.connect(instance, alice)
    eve_tab = await bed.connect(instance, eve)

    await asyncio.gather(*(eve_tab.emit("typing", {"chatId": with_eve}) for _ in range(500)))

    await alice_tab.emit("typing", {"chatId": with_alice})
    end = await bob_tab.wait_for("userTyping", lambda p: p["userId"] == alice.id)
    await instance.realtime.sink.emit("newMessage", {"n": 1}, to_users=[bob.id])
    assert await bob_tab.payload("newMessage") == {"n": 1}
    from_eve = [p for p in bob_tab.named("userTyping", before=end) if p["userId"] == eve.id]
    assert len(from_eve) <= 1


async def test_a_sustained_flood_gets_the_socket_disconnected(bed: Bed) -> None:
    instance = await bed.instance(event_rate=20, event_burst=10, flood_grace=0.3)
    alice, eve = bed.user("alice"), bed.user("eve")
    chat = bed.directory.add_chat(eve.id, alice.id)
    alice_tab = await bed.connect(instance, alice)
    eve_tab = await bed.connect(instance, eve)

    deadline = time.monotonic() + 5
    while not eve_tab.disconnected.is_set():
        assert time.monotonic() < deadline, "the flooding socket was never disconnected"
        await eve_tab.emit("typing", {"chatId": chat})
        await asyncio.sleep(0.002)  # pacing the flood, ~500 events a second
    await instance.realtime.sink.emit("newMessage", {"n": 1}, to_users=[alice.id])
    assert await alice_tab.payload("newMessage") == {"n": 1}
    assert not alice_tab.disconnected.is_set()


def test_the_token_bucket_allows_bursts_and_spots_sustained_floods() -> None:
    bucket = TokenBucket(rate=10, burst=5, grace=0.2)
    assert [bucket.take() for _ in range(5)] == ["ok"] * 5
    assert bucket.take() == "drop"
    bucket.flooding_since = time.monotonic() - 1  # flooding for a second already
    assert bucket.take() == "abuse"
    bucket.tokens, bucket.updated = 5, time.monotonic()
    assert bucket.take() == "ok"
    assert bucket.flooding_since is None


def test_chat_references_must_be_ids() -> None:
    assert ChatRef.model_validate({"chatId": "0" * 24}).chat_id == "0" * 24
    for bad in ({}, {"chatId": 5}, {"chatId": "x" * 24}, {"chatId": "0" * 25}, "0" * 24):
        with pytest.raises(ValueError):
            ChatRef.model_validate(bad)


# ---------------------------------------------------------------------------- ordering


async def test_in_order_hands_a_chats_messages_on_by_number() -> None:
    out: list[tuple[str, int]] = []
    in_order = InOrder(lambda item: out.append(item), gap_timeout=30, first_wait=30)
    for chat, seq in [("a", 1), ("a", 3), ("b", 1), ("a", 2), ("a", 5), ("a", 4), ("b", 2)]:
        in_order.offer(chat, seq, (chat, seq))
    assert out == [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 2)]
    in_order.offer("a", 2, ("a", 2))  # late (or again): handed on, never dropped
    assert out[-1] == ("a", 2)
    in_order.close()


async def test_a_change_to_a_message_waits_for_the_message_itself() -> None:
    released = asyncio.Event()
    out: list[str] = []

    def hand_on(item: str) -> None:
        out.append(item)
        released.set()

    in_order = InOrder(hand_on, gap_timeout=0.05, first_wait=30)
    in_order.offer_after("a", 9, "edit of an old message")  # a chat not heard of: at once
    in_order.offer("a", 1, "new 1")
    in_order.offer_after("a", 2, "edit of 2")  # 2 has not gone out yet
    in_order.offer_after("a", 1, "edit of 1")
    in_order.offer_after("a", 2, "reaction on 2")
    assert out == ["edit of an old message", "new 1", "edit of 1"]
    in_order.offer("a", 2, "new 2")
    assert out[3:] == ["new 2", "edit of 2", "reaction on 2"]

    # Its message never comes (its publisher died): the change goes out after the gap timeout.
    released.clear()
    in_order.offer_after("a", 3, "edit of 3")
    assert out[-1] == "reaction on 2"
    await asyncio.wait_for(released.wait(), 5)
    assert out[-1] == "edit of 3"
    in_order.close()


async def test_in_order_gives_up_on_a_gap_and_waits_briefly_for_an_unknown_chat() -> None:
    released = asyncio.Event()
    out: list[int] = []

    def hand_on(seq: int) -> None:
        out.append(seq)
        released.set()

    in_order = InOrder(hand_on, gap_timeout=0.05, first_wait=0.05)
    in_order.offer("a", 1, 1)
    in_order.offer("a", 3, 3)  # 2 never comes (its instance died between commit and publish)
    in_order.offer("a", 4, 4)
    assert out == [1]
    released.clear()
    await asyncio.wait_for(released.wait(), 5)
    assert out == [1, 3, 4]
    in_order.offer("a", 5, 5)
    assert out == [1, 3, 4, 5]

    # A chat first heard of at number 7: held in case 6 is still on its way, then in order.
    out.clear()
    released.clear()
    in_order.offer("b", 7, 7)
    in_order.offer("b", 6, 6)
    assert out == []
    await asyncio.wait_for(released.wait(), 5)
    assert out == [6, 7]
    in_order.close()


async def test_batches_published_out_of_order_arrive_in_number_order(redis_bed: Bed) -> None:
    a, b = await redis_bed.instance(), await redis_bed.instance()
    alice, bob = redis_bed.user("alice"), redis_bed.user("bob")
    chat = redis_bed.directory.add_chat(alice.id, bob.id)
    alice_on_a, bob_on_b = await redis_bed.connect(a, alice), await redis_bed.connect(b, bob)
    everyone = [alice.id, bob.id]
    # Two instances' group commits: numbers handed out in commit order, published as they please.
    batches = [list(range(n, n + 4)) for n in range(1, 41, 4)]
    order = [0, 2, 1, 3, 5, 4, 6, 9, 8, 7]
    for i in order:
        sink = (a, b)[i % 2].realtime.sink
        await sink.emit_batch([Event("newMessage", {"chatId": chat, "seq": n}, everyone) for n in batches[i]])
    for peer in (alice_on_a, bob_on_b):
        assert [p["seq"] for p in await peer.collect("newMessage", 40)] == list(range(1, 41))


async def test_past_the_socket_limit_the_users_oldest_socket_is_disconnected(bed: Bed) -> None:
    instance = await bed.instance(max_sockets_per_user=2)
    alice, bob = bed.user("alice"), bed.user("bob")
    first, second = await bed.connect(instance, alice), await bed.connect(instance, alice)
    bobs = await bed.connect(instance, bob)
    assert not first.disconnected.is_set()
    third = await bed.connect(instance, alice)
    await asyncio.wait_for(first.disconnected.wait(), 5)
    fourth = await bed.connect(instance, alice)
    await asyncio.wait_for(second.disconnected.wait(), 5)
    # The newest two stay, and other users are not affected.
    await instance.realtime.sink.emit("newMessage", {"n": 1}, to_users=[alice.id, bob.id])
    for peer in (third, fourth, bobs):
        assert await peer.payload("newMessage") == {"n": 1}
    assert not any(p.disconnected.is_set() for p in (third, fourth, bobs))


# ---------------------------------------------------------------------------- several instances


async def test_the_socket_limit_counts_every_instance(redis_bed: Bed) -> None:
    a = await redis_bed.instance(max_sockets_per_user=2)
    b = await redis_bed.instance(max_sockets_per_user=2)
    alice = redis_bed.user("alice")
    on_a = await redis_bed.connect(a, alice)
    on_b = await redis_bed.connect(b, alice)
    await redis_bed.connect(b, alice)
    await asyncio.wait_for(on_a.disconnected.wait(), 5)
    assert not on_b.disconnected.is_set()


async def test_an_event_emitted_on_one_instance_reaches_sockets_on_another(redis_bed: Bed) -> None:
    a, b = await redis_bed.instance(), await redis_bed.instance()
    alice, bob = redis_bed.user("alice"), redis_bed.user("bob")
    alice_on_a, alice_on_b = await redis_bed.connect(a, alice), await redis_bed.connect(b, alice)
    bob_on_b = await redis_bed.connect(b, bob)

    await a.realtime.sink.emit("newMessage", {"n": 1}, to_users=[alice.id])
    await b.realtime.sink.emit("newMessage", {"n": 2}, to_users=[alice.id, bob.id])
    assert await alice_on_a.collect("newMessage", 2) == [{"n": 1}, {"n": 2}]
    assert await alice_on_b.collect("newMessage", 2) == [{"n": 1}, {"n": 2}]
    assert await bob_on_b.collect("newMessage", 1) == [{"n": 2}]


async def test_presence_typing_and_viewers_span_instances(redis_bed: Bed) -> None:
    a, b = await redis_bed.instance(), await redis_bed.instance()
    alice, bob = redis_bed.user("alice"), redis_bed.user("bob")
    chat = redis_bed.directory.add_chat(alice.id, bob.id)
    bob_on_b = await redis_bed.connect(b, bob)
    alice_on_a = await redis_bed.connect(a, alice)

    assert await alice_on_a.payload("getOnlineUser") == [bob.id]
    assert await bob_on_b.payload("getOnlineUser", lambda p: p == [alice.id])
    await alice_on_a.emit("typing", {"chatId": chat})
    assert await bob_on_b.payload("userTyping") == {"chatId": chat, "userId": alice.id}
    await alice_on_a.call("joinChat", {"chatId": chat})
    assert (await b.realtime.viewers([chat]))[chat] == {alice.id}


async def test_a_revoked_token_is_dropped_on_every_instance(redis_bed: Bed) -> None:
    a, b = await redis_bed.instance(), await redis_bed.instance()
    alice = redis_bed.user("alice")
    on_a, on_b = await redis_bed.connect(a, alice), await redis_bed.connect(b, alice)
    await redis_bed.tokens.revoke(await redis_bed.tokens.verify(alice.token))
    await asyncio.wait_for(asyncio.gather(on_a.disconnected.wait(), on_b.disconnected.wait()), 1.0)


async def test_users_of_a_crashed_instance_go_offline(redis_bed: Bed) -> None:
    a = await redis_bed.instance(presence_ttl=2, heartbeat=0.5)
    b = await redis_bed.instance(presence_ttl=2, heartbeat=0.5)
    alice, bob = redis_bed.user("alice"), redis_bed.user("bob")
    chat = redis_bed.directory.add_chat(alice.id, bob.id)
    bob_on_b = await redis_bed.connect(b, bob)
    alice_on_a = await redis_bed.connect(a, alice)
    await alice_on_a.call("joinChat", {"chatId": chat})
    seen_online = await bob_on_b.wait_for("getOnlineUser", lambda p: p == [alice.id])

    await a.kill()

    await bob_on_b.wait_for("getOnlineUser", lambda p: p == [], after=seen_online + 1, timeout=8)
    assert not await b.realtime.is_online(alice.id)

    # Her open chat expires as well (its entry was refreshed on joining, a moment after her presence).
    async def no_viewers() -> bool:
        return (await b.realtime.viewers([chat]))[chat] == set()

    await eventually(no_viewers, timeout=5)


async def test_a_stopping_instance_drains_its_sockets(redis_bed: Bed) -> None:
    a, b = await redis_bed.instance(), await redis_bed.instance()
    alice, bob = redis_bed.user("alice"), redis_bed.user("bob")
    redis_bed.directory.add_chat(alice.id, bob.id)
    bob_on_b = await redis_bed.connect(b, bob)
    alice_on_a = await redis_bed.connect(a, alice)
    seen_online = await bob_on_b.wait_for("getOnlineUser", lambda p: p == [alice.id])

    await a.stop()

    await asyncio.wait_for(alice_on_a.disconnected.wait(), 3)
    await bob_on_b.wait_for("getOnlineUser", lambda p: p == [], after=seen_online + 1)
    assert not await b.realtime.is_online(alice.id)
    # The stopped instance refuses to deliver rather than reopening its connections.
    await a.realtime.sink.emit("newMessage", {"n": 1}, to_users=[bob.id])
    await b.realtime.sink.emit("newMessage", {"n": 2}, to_users=[bob.id])
    assert await bob_on_b.collect("newMessage", 1) == [{"n": 2}]
